//! hotline-sip
pub mod message;
pub mod normalize;
