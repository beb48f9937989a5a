//! PostgreSQL: softphone registrations (see [`crate::registration`]). The statements, the same
//! text for both backends, are in `twin/registrations.rs`, included below.

include!("../twin/registrations.rs");
