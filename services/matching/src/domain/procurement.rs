//! A procurement's life (R-MP-2): requested from a provider, offered (perhaps more than once),
//! then ordered at the agreed price or cancelled. Only a procurement in progress moves; an
//! ordered or cancelled one is final.
//!
//! ```text
//! REQUESTED ──offer──▶ OFFERED ──offer──▶ OFFERED
//!     │                   │
//!     ├──order────────────┼──▶ ORDERED
//!     └──cancel───────────┴──▶ CANCELLED   (also when the grant ends)
//! ```

use kontakt_platform::Refusal;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProcurementState {
    /// Sent to the provider; waiting for an offer.
    Requested,
    /// The provider has offered a price.
    Offered,
    /// Ordered at the agreed price; the provider's person can be assigned.
    Ordered,
    /// Given up (by the coordinator, or because the grant ended).
    Cancelled,
}

impl ProcurementState {
    pub const ALL: [ProcurementState; 4] = [
        ProcurementState::Requested,
        ProcurementState::Offered,
        ProcurementState::Ordered,
        ProcurementState::Cancelled,
    ];

    /// The states a procurement can still move from.
    pub const IN_PROGRESS: [ProcurementState; 2] =
        [ProcurementState::Requested, ProcurementState::Offered];

    /// The stored spelling (also the proto enum's name without its prefix).
    pub fn as_str(self) -> &'static str {
        match self {
            ProcurementState::Requested => "REQUESTED",
            ProcurementState::Offered => "OFFERED",
            ProcurementState::Ordered => "ORDERED",
            ProcurementState::Cancelled => "CANCELLED",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == stored)
    }

    /// Ordered and cancelled procurements are final.
    fn in_progress(self, next: ProcurementState) -> Result<ProcurementState, Refusal> {
        if Self::IN_PROGRESS.contains(&self) {
            Ok(next)
        } else {
            Err(Refusal::new(
                "PROCUREMENT_STATE",
                format!("the procurement is {self}; this needs REQUESTED or OFFERED"),
            ))
        }
    }

    /// The provider offers a price (again, if it revises it).
    pub fn offer(self) -> Result<Self, Refusal> {
        self.in_progress(ProcurementState::Offered)
    }

    /// Ordered at the agreed price.
    pub fn order(self) -> Result<Self, Refusal> {
        self.in_progress(ProcurementState::Ordered)
    }

    pub fn cancel(self) -> Result<Self, Refusal> {
        self.in_progress(ProcurementState::Cancelled)
    }
}

stored_as_text!(ProcurementState, "procurement state");

#[cfg(test)]
mod tests {
    use super::*;
    use ProcurementState::*;

    #[test]
    fn every_state_is_stored_as_the_spelling_the_schema_allows() {
        let stored: Vec<&str> = ProcurementState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(stored, ["REQUESTED", "OFFERED", "ORDERED", "CANCELLED"]);
        for state in ProcurementState::ALL {
            assert_eq!(ProcurementState::parse(state.as_str()), Some(state));
        }
    }

    #[test]
    fn a_procurement_in_progress_is_offered_ordered_or_cancelled_r_mp_2() {
        for state in [Requested, Offered] {
            assert_eq!(state.offer(), Ok(Offered));
            assert_eq!(state.order(), Ok(Ordered));
            assert_eq!(state.cancel(), Ok(Cancelled));
        }
    }

    #[test]
    fn an_ordered_or_cancelled_procurement_is_final() {
        for state in [Ordered, Cancelled] {
            for refusal in [state.offer(), state.order(), state.cancel()] {
                let refusal = refusal.expect_err("final");
                assert_eq!(refusal.reason, "PROCUREMENT_STATE");
                assert_eq!(
                    refusal.message,
                    format!("the procurement is {state}; this needs REQUESTED or OFFERED")
                );
                assert!(refusal.violations.is_empty());
            }
        }
    }
}
