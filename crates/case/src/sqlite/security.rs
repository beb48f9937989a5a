//! SQLite: the security audit (see [`crate::security`]). The statements, the same text for
//! both backends, are in `twin/security.rs`, included below.

include!("../twin/security.rs");
