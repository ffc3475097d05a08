//! The time & cost rules (DOMAIN.md R-TC-1..5, R-BF-1..4) as pure functions over plain data: no
//! I/O, so each rule is tested on its own against hand-computed figures.

pub mod budget;
pub mod expense;
pub mod frame;
pub mod pricing;
pub mod reversal;
pub mod week;
