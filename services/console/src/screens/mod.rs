//! One file per person's work: what each screen shows and which calls it makes.

pub mod auditor;
pub mod committee;
pub mod contact_person;
pub mod coordinator;
pub mod counsellor;
pub mod evaluation;
pub mod finance;
pub mod referral_draft;
pub mod statistics;
pub mod timesheets;
