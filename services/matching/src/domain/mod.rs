//! The matching rules (DOMAIN.md R-MP-1..6) as pure functions over plain data: no I/O, so each
//! rule is tested on its own. The API gathers the facts in SQL, calls these, and answers.

pub mod ranking;

pub mod people;
