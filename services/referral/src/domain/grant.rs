//! A grant after the decision: changing its terms (R-RV-11, with the approval rules of
//! `decision`) and ending it (R-RV-4, R-RV-3).

use chrono::NaiveDate;
use kontakt_proto::referral::v1::{ApprovalLevel, GrantEndReason};

use super::decision::{Approval, check_approval};
use super::{RuleViolation, violation};

/// A requested change of a grant's terms, with what the grant is now.
pub struct Change<'a> {
    pub active: bool,
    /// First day of the latest version; a new one must start after it.
    pub latest_from: NaiveDate,
    pub effective_from: NaiveDate,
    /// Whether the new terms differ from the latest version's.
    pub changes_something: bool,
    /// The new terms against the policy in force on `effective_from` (its `start` is
    /// `effective_from`).
    pub terms: Approval<'a>,
}

/// R-RV-11: a change is a new version from a date after the latest version's start; the new
/// terms meet the same rules an approval does (R-RV-6, R-RV-9, R-RV-12, R-RV-13).
pub fn check_change(c: &Change<'_>) -> Vec<RuleViolation> {
    if !c.active {
        return vec![violation(
            "R-RV-11",
            "name",
            "the grant has ended; a new arrangement needs a new referral",
        )];
    }
    let mut found = Vec::new();
    if c.effective_from <= c.latest_from {
        found.push(violation(
            "R-RV-11",
            "effective_from",
            format!(
                "a change takes effect after the latest version's first day ({}); versions are never edited",
                c.latest_from
            ),
        ));
    }
    if !c.changes_something {
        found.push(violation(
            "R-RV-11",
            "update_mask",
            "the new terms are the same as the current ones",
        ));
    }
    found.extend(check_approval(&c.terms));
    found
}

/// A requested end of a grant, with what the grant is now.
pub struct Ending<'a> {
    pub start_date: NaiveDate,
    pub expected_end_date: NaiveDate,
    pub end_date: NaiveDate,
    pub reason: GrantEndReason,
    pub note: &'a str,
    pub level: ApprovalLevel,
    pub authority_reference: &'a str,
    /// Last day of the compulsory condition the grant serves, if it does (R-RV-4).
    pub compulsory_until: Option<NaiveDate>,
    /// Whether the legal basis allows the measure without consent (BL §39, SEL §56).
    pub basis_without_consent: bool,
}

pub fn check_end(e: &Ending<'_>) -> Vec<RuleViolation> {
    let mut found = Vec::new();
    if e.end_date < e.start_date || e.end_date > e.expected_end_date {
        found.push(violation(
            "R-RV-11",
            "end_date",
            format!(
                "the last day must fall from the start ({}) to the expected end ({}); extend the grant with ChangeGrant first",
                e.start_date, e.expected_end_date
            ),
        ));
    }
    if e.reason == GrantEndReason::Other && e.note.trim().is_empty() {
        found.push(violation(
            "R-RV-11",
            "note",
            "say why the grant ends when the reason is OTHER",
        ));
    }
    if e.reason == GrantEndReason::ConsentWithdrawn && e.basis_without_consent {
        found.push(violation(
            "R-RV-3",
            "reason",
            "the grant's legal basis does not rest on consent (BL §39 / SEL §56); withdrawing it does not end the measure",
        ));
    }
    match e.compulsory_until {
        Some(until) if e.end_date < until => {
            // R-RV-4: before the condition ends, never on the counsellor's own authority, and
            // only with the court's or prosecution's agreement on record.
            if matches!(
                e.level,
                ApprovalLevel::OwnAuthority | ApprovalLevel::Unspecified
            ) {
                found.push(violation(
                    "R-RV-4",
                    "approval_level",
                    format!(
                        "the arrangement is a compulsory condition until {until}; the counsellor cannot end it alone before then"
                    ),
                ));
            }
            if e.authority_reference.trim().is_empty() {
                found.push(violation(
                    "R-RV-4",
                    "authority_reference",
                    "ending a compulsory arrangement early needs the court's or prosecution's reference",
                ));
            }
            if e.reason == GrantEndReason::CompulsoryConditionEnded {
                found.push(violation(
                    "R-RV-4",
                    "reason",
                    format!("the compulsory condition runs until {until}"),
                ));
            }
        }
        None if e.reason == GrantEndReason::CompulsoryConditionEnded => found.push(violation(
            "R-RV-4",
            "reason",
            "the grant is not a compulsory condition",
        )),
        _ => {}
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::policy::examples;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    fn rules(found: &[RuleViolation]) -> Vec<(&str, &str)> {
        found
            .iter()
            .map(|v| (v.rule.as_str(), v.subject.as_str()))
            .collect()
    }

    fn ending() -> Ending<'static> {
        Ending {
            start_date: date(2026, 1, 1),
            expected_end_date: date(2026, 12, 31),
            end_date: date(2026, 6, 30),
            reason: GrantEndReason::PurposeMet,
            note: "",
            level: ApprovalLevel::OwnAuthority,
            authority_reference: "",
            compulsory_until: None,
            basis_without_consent: false,
        }
    }

    #[test]
    fn an_ordinary_end_on_own_authority_is_allowed() {
        assert!(check_end(&ending()).is_empty());
    }

    #[test]
    fn the_end_falls_inside_the_grant() {
        for end_date in [date(2025, 12, 31), date(2027, 1, 1)] {
            let found = check_end(&Ending {
                end_date,
                ..ending()
            });
            assert_eq!(rules(&found), [("R-RV-11", "end_date")]);
        }
    }

    #[test]
    fn other_needs_a_note() {
        let e = Ending {
            reason: GrantEndReason::Other,
            ..ending()
        };
        assert_eq!(rules(&check_end(&e)), [("R-RV-11", "note")]);
        let e = Ending {
            note: "the family declined further contact",
            ..e
        };
        assert!(check_end(&e).is_empty());
    }

    #[test]
    fn consent_withdrawn_does_not_end_a_measure_taken_without_consent() {
        let e = Ending {
            reason: GrantEndReason::ConsentWithdrawn,
            basis_without_consent: true,
            ..ending()
        };
        assert_eq!(rules(&check_end(&e)), [("R-RV-3", "reason")]);
    }

    #[test]
    fn r_rv_4_the_counsellor_cannot_end_a_compulsory_arrangement_early_alone() {
        let e = Ending {
            compulsory_until: Some(date(2026, 9, 30)),
            ..ending()
        };
        assert_eq!(
            rules(&check_end(&e)),
            [
                ("R-RV-4", "approval_level"),
                ("R-RV-4", "authority_reference")
            ]
        );
        let with_leader = Ending {
            level: ApprovalLevel::TeamLeader,
            authority_reference: "Anklagemyndigheden 4100-123",
            ..e
        };
        assert!(check_end(&with_leader).is_empty());
        // From the condition's last day on, the counsellor may end it.
        let after = Ending {
            end_date: date(2026, 9, 30),
            reason: GrantEndReason::CompulsoryConditionEnded,
            ..ending()
        };
        let after = Ending {
            compulsory_until: Some(date(2026, 9, 30)),
            ..after
        };
        assert!(check_end(&after).is_empty());
    }

    #[test]
    fn compulsory_condition_ended_needs_a_condition_that_ended() {
        let e = Ending {
            reason: GrantEndReason::CompulsoryConditionEnded,
            ..ending()
        };
        assert_eq!(rules(&check_end(&e)), [("R-RV-4", "reason")]);
    }

    fn change(policy: &crate::domain::policy::Policy, minutes: i32) -> Change<'_> {
        Change {
            active: true,
            latest_from: date(2026, 1, 1),
            effective_from: date(2026, 4, 1),
            changes_something: true,
            terms: Approval {
                policy,
                level: ApprovalLevel::OwnAuthority,
                minutes_per_week: minutes,
                start: Some(date(2026, 4, 1)),
                expected_end: Some(date(2026, 12, 31)),
                review: None,
                allowances: &[],
                justification: "",
                age_deviates: false,
                age_limit: None,
            },
        }
    }

    #[test]
    fn r_rv_11_a_change_starts_after_the_latest_version() {
        let policy = examples::counsellor_decides();
        assert!(check_change(&change(&policy, 120)).is_empty());
        let same_day = Change {
            effective_from: date(2026, 1, 1),
            ..change(&policy, 120)
        };
        assert_eq!(
            rules(&check_change(&same_day)),
            [("R-RV-11", "effective_from")]
        );
        let nothing = Change {
            changes_something: false,
            ..change(&policy, 120)
        };
        assert_eq!(rules(&check_change(&nothing)), [("R-RV-11", "update_mask")]);
        let ended = Change {
            active: false,
            ..change(&policy, 120)
        };
        assert_eq!(rules(&check_change(&ended)), [("R-RV-11", "name")]);
    }

    #[test]
    fn a_change_meets_the_policy_like_an_approval() {
        // Ringsted: more than 3 hours needs a justification and the team leader (R-RV-6, 12).
        let policy = examples::counsellor_decides();
        assert_eq!(
            rules(&check_change(&change(&policy, 240))),
            [
                ("R-RV-6", "justification"),
                ("R-RV-12", "approval_level"),
                ("R-RV-12", "approval_level")
            ]
        );
        let mut leader = change(&policy, 240);
        leader.terms.level = ApprovalLevel::TeamLeader;
        leader.terms.justification = "school refusal after the summer";
        assert!(check_change(&leader).is_empty());
        // Ishøj: only the committee sets hours.
        let ishoj = examples::committee_with_plan();
        assert_eq!(
            rules(&check_change(&change(&ishoj, 120))),
            [("R-RV-12", "approval_level")]
        );
        // The third standard: a team meeting may go to 8 hours.
        let third = examples::third();
        let mut team = change(&third, 420);
        team.terms.level = ApprovalLevel::TeamMeeting;
        team.terms.justification = "two siblings";
        assert!(check_change(&team).is_empty());
    }
}
