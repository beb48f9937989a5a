//! hotline-sip
pub mod message;
pub mod normalize;
pub mod transaction;
