//! The follow-up rules (DOMAIN.md R-FU-1..5, BL §95) as pure functions over dates: no I/O, so
//! each is tested on its own under the reference policies and others.

pub mod due;
pub mod evaluation;
pub mod record;
