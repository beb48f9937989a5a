//! End-to-end tests: the real `hotline` binary, driven by SIPp, baresip and raw SIP over loopback.
//!
//! Every test starts its own server (own ports, RTP block and data directory), so tests
//! run in parallel (`cargo nextest run -p hotline-e2e`). Build the server first:
//! `cargo build -p hotline`. SIPp must be installed, and the tests that replay audio with
//! `play_pcap_audio` need root (raw sockets). A failing test prints the server's log.

mod agents;
mod attended;
mod callbacks;
mod calls;
mod confidential;
mod crash;
mod deploy;
mod desk;
mod hostile_auth;
mod hostile_media;
mod hostile_network;
mod overload;
mod pages;
mod prompts;
mod report;
mod reports_page;
mod robustness;
mod status;
mod transactions;
mod transfer;
mod voicemail;
