//! The matching rules (DOMAIN.md R-MP-1..6) as pure functions over plain data: no I/O, so each
//! rule is tested on its own. The API gathers the facts in SQL, calls these, and answers.
//! `request` is a matching request's life as a state machine (and R-MP-2), `ranking` who can
//! take a child and in which order, `people` what makes a person's record valid.

pub mod people;
pub mod ranking;
pub mod request;
