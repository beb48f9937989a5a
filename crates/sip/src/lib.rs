//! hotline-sip
pub mod message;
pub mod normalize;
pub mod transaction;
pub mod sdp;
pub mod framing;
pub mod transport;
