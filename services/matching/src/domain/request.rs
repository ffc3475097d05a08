//! A matching request's life, as a state machine (R-MP-1, R-MP-2, R-MP-5).
//!
//! ```text
//!            GrantApproved
//!                 │
//!                 ▼        propose: the best candidate / nobody
//!   ┌────────▶ OPEN ◀────────────────▶ PROPOSED
//!   │            │  start_procurement      │
//!   │            ├─────────────────────────┤
//!   │ cancel     ▼                         │ assign (own people)
//!   ├──────  PROCUREMENT ──order──▶ ORDERED ──assign (the provider's person, R-MP-2)──┐
//!   │                                                                                ▼
//!   └─────────────────── the assignment ends, the grant continues ─────────────── ASSIGNED
//!
//!   any state ── the grant ends (or the assignment ends with it) ──▶ CLOSED
//! ```
//!
//! The states are stored as the text of their names (`matching_requests.state`, whose CHECK
//! lists exactly these spellings), so the enum is a [`sqlx::Type`] over TEXT.

use kontakt_platform::Refusal;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestState {
    /// Looking for a contact person; with no suitable candidate it is unmet demand (R-MP-5).
    Open,
    /// The best-ranked candidate is proposed (R-MP-3).
    Proposed,
    /// Being bought from an external provider (R-MP-2).
    Procurement,
    /// Ordered from a provider; waiting for the provider's person.
    Ordered,
    /// A contact person is assigned.
    Assigned,
    /// The grant has ended.
    Closed,
}

/// How a request may be assigned from its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assignable {
    /// Open or proposed: any suitable person of the municipality's own (R-MP-1).
    Directly,
    /// Ordered: the ordered provider's person (R-MP-2).
    ThroughOrder,
}

impl RequestState {
    pub const ALL: [RequestState; 6] = [
        RequestState::Open,
        RequestState::Proposed,
        RequestState::Procurement,
        RequestState::Ordered,
        RequestState::Assigned,
        RequestState::Closed,
    ];

    /// The stored spelling (also the proto enum's name without its prefix).
    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Open => "OPEN",
            RequestState::Proposed => "PROPOSED",
            RequestState::Procurement => "PROCUREMENT",
            RequestState::Ordered => "ORDERED",
            RequestState::Assigned => "ASSIGNED",
            RequestState::Closed => "CLOSED",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == stored)
    }

    /// Looking for someone: open or proposed.
    pub fn is_open(self) -> bool {
        matches!(self, RequestState::Open | RequestState::Proposed)
    }

    /// R-MP-3: candidates are proposed for open requests only.
    pub fn proposals_allowed(self) -> Result<(), Refusal> {
        if self.is_open() {
            Ok(())
        } else {
            Err(Refusal::new(
                "REQUEST_NOT_OPEN",
                format!("the request is {self}: proposals are for open requests"),
            ))
        }
    }

    /// A proposal ran: the best candidate makes the request PROPOSED; nobody leaves it OPEN.
    pub fn propose(self, found_someone: bool) -> Result<Self, Refusal> {
        self.proposals_allowed()?;
        Ok(if found_someone {
            RequestState::Proposed
        } else {
            RequestState::Open
        })
    }

    /// R-MP-2: only an open request is bought for; it waits in PROCUREMENT for the order.
    pub fn start_procurement(self) -> Result<Self, Refusal> {
        if self.is_open() {
            Ok(RequestState::Procurement)
        } else {
            Err(Refusal::new(
                "REQUEST_NOT_OPEN",
                format!("the request is {self}: only an open request is bought for"),
            ))
        }
    }

    /// The procurement is ordered: the request waits for the provider's person. A procurement
    /// in progress always has its request in PROCUREMENT (both change in one transaction).
    pub fn order(self) -> Result<Self, Refusal> {
        if self == RequestState::Procurement {
            Ok(RequestState::Ordered)
        } else {
            Err(Refusal::new(
                "REQUEST_NOT_IN_PROCUREMENT",
                format!("the request is {self}: only a request being bought for is ordered"),
            ))
        }
    }

    /// The procurement was cancelled: a request waiting for it is open again; any other stays.
    pub fn cancel_procurement(self) -> Self {
        if self == RequestState::Procurement {
            RequestState::Open
        } else {
            self
        }
    }

    /// Whether, and how, someone may be assigned now.
    pub fn assignable(self) -> Result<Assignable, Refusal> {
        let why = match self {
            RequestState::Open | RequestState::Proposed => return Ok(Assignable::Directly),
            RequestState::Ordered => return Ok(Assignable::ThroughOrder),
            RequestState::Assigned => "end the current assignment first",
            RequestState::Procurement => "order or cancel the procurement first",
            RequestState::Closed => "the grant has ended",
        };
        Err(Refusal::new(
            "REQUEST_NOT_ASSIGNABLE",
            format!("the request is {self}: {why}"),
        ))
    }

    /// Someone is assigned.
    pub fn assign(self) -> Result<Self, Refusal> {
        self.assignable().map(|_| RequestState::Assigned)
    }

    /// The assignment ended: the request looks for someone new while the grant continues, and
    /// closes with it otherwise.
    pub fn end_assignment(self, grant_continues: bool) -> Self {
        if grant_continues {
            RequestState::Open
        } else {
            RequestState::Closed
        }
    }

    /// The grant ended (GrantEnded): from any state.
    pub fn close(self) -> Self {
        RequestState::Closed
    }
}

/// R-MP-2: an external provider's employee is assigned only through an order, and only the
/// ordered provider's. `ordered_from` is the provider of the order the request is assigned
/// through (`None`: no order); `employer` the person's provider (`None`: the municipality's own).
pub fn provider_only_through_order(
    ordered_from: Option<&str>,
    employer: Option<&str>,
) -> Result<(), Refusal> {
    match (ordered_from, employer) {
        (None, Some(_)) => Err(Refusal::rule(
            "R-MP-2",
            "contact_person",
            "order from the provider first",
        )
        .with_reason("PROCUREMENT_REQUIRED")
        .with_message("a provider's employee is assigned through an ordered procurement (R-MP-2)")),
        (Some(ordered), employer) if employer != Some(ordered) => Err(Refusal::rule(
            "R-MP-2",
            "contact_person",
            "the ordered provider's person",
        )
        .with_reason("NOT_THE_ORDERED_PROVIDER")
        .with_message(format!(
            "the request is ordered from providers/{ordered}: assign one of their people"
        ))),
        _ => Ok(()),
    }
}

stored_as_text!(RequestState, "matching request state");

#[cfg(test)]
mod tests {
    use super::*;
    use RequestState::*;

    #[test]
    fn every_state_is_stored_as_the_spelling_the_schema_allows() {
        let stored: Vec<&str> = RequestState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            stored,
            [
                "OPEN",
                "PROPOSED",
                "PROCUREMENT",
                "ORDERED",
                "ASSIGNED",
                "CLOSED"
            ]
        );
        for state in RequestState::ALL {
            assert_eq!(RequestState::parse(state.as_str()), Some(state));
        }
        assert_eq!(RequestState::parse("open"), None);
    }

    #[test]
    fn a_proposal_makes_an_open_request_proposed_and_finding_nobody_leaves_it_open_r_mp_3() {
        assert_eq!(Open.propose(true), Ok(Proposed));
        assert_eq!(Proposed.propose(false), Ok(Open));
        assert_eq!(Proposed.propose(true), Ok(Proposed));
    }

    #[test]
    fn only_open_requests_get_proposals() {
        for state in [Procurement, Ordered, Assigned, Closed] {
            let refusal = state.propose(true).expect_err("not open");
            assert_eq!(refusal.reason, "REQUEST_NOT_OPEN");
            assert_eq!(
                refusal.message,
                format!("the request is {state}: proposals are for open requests")
            );
        }
    }

    #[test]
    fn only_an_open_request_is_bought_for_and_ordered_once_in_procurement_r_mp_2() {
        assert_eq!(Open.start_procurement(), Ok(Procurement));
        assert_eq!(Proposed.start_procurement(), Ok(Procurement));
        for state in [Procurement, Ordered, Assigned, Closed] {
            let refusal = state.start_procurement().expect_err("not open");
            assert_eq!(refusal.reason, "REQUEST_NOT_OPEN");
            assert_eq!(
                refusal.message,
                format!("the request is {state}: only an open request is bought for")
            );
        }
        assert_eq!(Procurement.order(), Ok(Ordered));
        for state in [Open, Proposed, Ordered, Assigned, Closed] {
            assert!(state.order().is_err(), "{state}");
        }
    }

    #[test]
    fn a_cancelled_procurement_opens_its_request_again() {
        assert_eq!(Procurement.cancel_procurement(), Open);
        assert_eq!(Assigned.cancel_procurement(), Assigned);
    }

    #[test]
    fn an_open_request_is_assigned_directly_and_an_ordered_one_through_its_order() {
        assert_eq!(Open.assignable(), Ok(Assignable::Directly));
        assert_eq!(Proposed.assignable(), Ok(Assignable::Directly));
        assert_eq!(Ordered.assignable(), Ok(Assignable::ThroughOrder));
        for state in [Open, Proposed, Ordered] {
            assert_eq!(state.assign(), Ok(Assigned));
        }
    }

    #[test]
    fn an_assigned_a_procured_or_a_closed_request_cannot_be_assigned_and_says_what_first() {
        let refused = |state: RequestState| state.assign().expect_err("not assignable");
        for (state, message) in [
            (
                Assigned,
                "the request is ASSIGNED: end the current assignment first",
            ),
            (
                Procurement,
                "the request is PROCUREMENT: order or cancel the procurement first",
            ),
            (Closed, "the request is CLOSED: the grant has ended"),
        ] {
            let refusal = refused(state);
            assert_eq!(refusal.reason, "REQUEST_NOT_ASSIGNABLE");
            assert_eq!(refusal.message, message);
            assert!(refusal.violations.is_empty());
        }
    }

    #[test]
    fn an_ended_assignment_opens_the_request_while_the_grant_continues_and_closes_it_otherwise() {
        assert_eq!(Assigned.end_assignment(true), Open);
        assert_eq!(Assigned.end_assignment(false), Closed);
        for state in RequestState::ALL {
            assert_eq!(state.close(), Closed);
        }
    }

    #[test]
    fn a_providers_employee_is_assigned_only_through_an_order_r_mp_2() {
        let refusal = provider_only_through_order(None, Some("care-ltd")).expect_err("no order");
        assert_eq!(refusal.reason, "PROCUREMENT_REQUIRED");
        assert_eq!(
            refusal.message,
            "a provider's employee is assigned through an ordered procurement (R-MP-2)"
        );
        assert_eq!(refusal.violations[0].rule, "R-MP-2");
        assert_eq!(
            refusal.violations[0].description,
            "order from the provider first"
        );
        assert_eq!(provider_only_through_order(None, None), Ok(()));
    }

    #[test]
    fn an_ordered_request_takes_only_the_ordered_providers_person_r_mp_2() {
        assert_eq!(
            provider_only_through_order(Some("care-ltd"), Some("care-ltd")),
            Ok(())
        );
        for employer in [Some("other-ltd"), None] {
            let refusal =
                provider_only_through_order(Some("care-ltd"), employer).expect_err("not theirs");
            assert_eq!(refusal.reason, "NOT_THE_ORDERED_PROVIDER");
            assert_eq!(
                refusal.message,
                "the request is ordered from providers/care-ltd: assign one of their people"
            );
            assert_eq!(refusal.violations[0].rule, "R-MP-2");
            assert_eq!(
                refusal.violations[0].description,
                "the ordered provider's person"
            );
        }
    }
}
