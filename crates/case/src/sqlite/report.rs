//! SQLite: the rows of one day for the daily report ([`crate::report`]).
//!
//! Only what differs per backend is here (connection type, how transactions start, row
//! locks); the statements and logic, the same text for both (`$n` placeholders work on
//! both), are in `twin/report.rs`, included below.

include!("../twin/report.rs");
