//! Harness for the end-to-end tests of the `hotline` binary.
//!
//! Each test starts its own server ([`server::Server`]) on free loopback ports with a
//! private data directory and RTP port block, drives it with real SIP peers (SIPp through
//! [`sipp::Sipp`], or raw datagrams through [`sip::RawSip`]), listens to what the caller
//! hears ([`rtp::RtpSink`]), feeds the caller's audio as a pcap ([`pcap`]), and checks the
//! work order the call left behind ([`server::Server::case_show`]) and its WAV ([`audio`]).

pub mod agents;
pub mod audio;
pub mod baresip;
pub mod browser;
pub mod crash;
pub mod flows;
pub mod http;
pub mod pcap;
pub mod ports;
pub mod procfs;
pub mod rtp;
pub mod server;
pub mod sip;
pub mod sipp;
pub mod uac;

pub use server::{AgentSpec, Hours, Server, ServerOptions};
pub use sipp::{Sipp, Transport};
