//! The follow-up rules (DOMAIN.md R-FU-1..5, BL §95) as pure functions over dates: no I/O, so
//! each is tested on its own under the reference policies and others.

pub mod deadline;
pub mod due;
pub mod evaluation;
pub mod follow_up;
pub mod record;

/// What completing something (a follow-up, a frame's evaluation) does with what is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Not completed yet: record it.
    Record,
    /// Completed already with the same content: a retry, answered with it as it is.
    Retry,
}
