//! Visitation: who may decide what (R-RV-8, R-RV-12), the terms an approval must state, and the
//! allowances it may carry (R-RV-6, R-RV-9, R-RV-13). Also the referral's state machine
//! (DOMAIN.md §6).

use chrono::{Datelike, NaiveDate};
use kontakt_platform::units::WeeklyMinutes;
use kontakt_proto::referral::v1::{
    Allowance, AllowanceKind, AllowancePeriod, ApprovalLevel, ReferralState,
};

use super::age::ADULT;
use super::policy::Policy;
use super::{LegalBasisFacts, RuleViolation, violation};

/// The referral states from which each step may be taken.
pub fn may_edit(state: ReferralState) -> bool {
    matches!(state, ReferralState::Draft | ReferralState::Returned)
}

pub fn may_submit(state: ReferralState) -> bool {
    may_edit(state)
}

/// R-RV-8: with a committee, a submitted referral goes on a meeting's agenda first.
pub fn may_schedule(state: ReferralState, policy: &Policy) -> Result<(), RuleViolation> {
    if !policy.committee_required {
        return Err(violation(
            "R-RV-8",
            "referral",
            "the municipality's policy has no visitation committee; the counsellor decides",
        ));
    }
    if state != ReferralState::Submitted {
        return Err(violation(
            "R-RV-8",
            "referral",
            "only a submitted referral can be put on a committee meeting's agenda",
        ));
    }
    Ok(())
}

/// Who is deciding, as far as the rules care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decider {
    /// A member of the visitation committee, at a meeting with the referral on its agenda.
    Committee,
    /// The counsellor (or someone deciding at a level the policy names, e.g. a team leader).
    Counsellor,
}

/// R-RV-8: the right decider for the referral's state under the policy.
pub fn may_decide(
    state: ReferralState,
    policy: &Policy,
    decider: Decider,
) -> Result<(), RuleViolation> {
    match (policy.committee_required, decider) {
        (true, Decider::Committee) if state == ReferralState::InCommittee => Ok(()),
        (true, Decider::Committee) => Err(violation(
            "R-RV-8",
            "referral",
            "the committee decides referrals on its meetings' agendas; schedule it first",
        )),
        (true, Decider::Counsellor) => Err(violation(
            "R-RV-8",
            "referral",
            "the municipality's policy sends referrals to the visitation committee",
        )),
        (false, Decider::Counsellor) if state == ReferralState::Submitted => Ok(()),
        (false, Decider::Counsellor) => Err(violation(
            "R-RV-8",
            "referral",
            "only a submitted referral can be decided",
        )),
        (false, Decider::Committee) => Err(violation(
            "R-RV-8",
            "referral",
            "the municipality's policy has no visitation committee; the counsellor decides",
        )),
    }
}

/// R-RV-8: a committee approving a referral with a plan records that it checked the plan's
/// goals are realistic.
pub fn committee_checked_goals(
    decider: Decider,
    approving: bool,
    has_plan: bool,
    goals_realistic: bool,
) -> Result<(), RuleViolation> {
    if decider == Decider::Committee && approving && has_plan && !goals_realistic {
        Err(violation(
            "R-RV-8",
            "goals_realistic",
            "the committee records that the plan's goals are realistic before it approves",
        ))
    } else {
        Ok(())
    }
}

/// R-RV-8: a committee's decision is dated by its meeting, and recorded from that day on.
pub fn decision_date(meeting: NaiveDate, today: NaiveDate) -> Result<NaiveDate, RuleViolation> {
    if meeting > today {
        Err(violation(
            "R-RV-8",
            "committee_meeting",
            format!("the committee meets on {meeting}; its decisions are recorded from that day"),
        ))
    } else {
        Ok(meeting)
    }
}

/// The terms of an approval, as the decider states them.
pub struct Approval<'a> {
    pub policy: &'a Policy,
    pub level: ApprovalLevel,
    pub minutes_per_week: i32,
    pub start: Option<NaiveDate>,
    pub expected_end: Option<NaiveDate>,
    pub review: Option<NaiveDate>,
    pub allowances: &'a [Allowance],
    /// Why the terms deviate from the standard (hours outside its band, a child outside its
    /// ages).
    pub justification: &'a str,
    /// Whether the child is outside the standard's ages (R-RV-5), a deviation.
    pub age_deviates: bool,
    /// The last day the grant's basis covers the person (R-RV-5), if it has an upper age.
    pub age_limit: Option<AgeLimit>,
}

/// The last day a basis covers a person: the day before they turn `turns` (R-RV-5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgeLimit {
    pub last_day: NaiveDate,
    pub turns: u32,
}

impl AgeLimit {
    /// The limit of `basis` for a person born on `birth`.
    pub fn of(basis: &LegalBasisFacts, birth: NaiveDate) -> Option<Self> {
        Some(Self {
            last_day: basis.last_day_for(birth)?,
            turns: basis.max_age_years? + 1,
        })
    }
}

/// R-RV-5: a grant on a child basis runs no later than the day before the 18th birthday, an
/// ungestøtte grant no later than the day before the 23rd.
fn age_limit(a: &Approval<'_>, found: &mut Vec<RuleViolation>) {
    let Some(limit) = a.age_limit else { return };
    let continue_on = if limit.turns == ADULT {
        "; after it only ungestøtte"
    } else {
        ""
    };
    if a.start.is_some_and(|start| start > limit.last_day) {
        found.push(violation(
            "R-RV-5",
            "start_date",
            format!(
                "the basis covers the person until {} (the day before they turn {}), before the start",
                limit.last_day, limit.turns
            ),
        ));
    } else if a.expected_end.is_some_and(|end| end > limit.last_day) {
        found.push(violation(
            "R-RV-5",
            "expected_end_date",
            format!(
                "the basis covers the person until {} (the day before they turn {}){continue_on}",
                limit.last_day, limit.turns
            ),
        ));
    }
}

pub fn check_approval(a: &Approval<'_>) -> Vec<RuleViolation> {
    let mut found = Vec::new();
    if WeeklyMinutes::positive(a.minutes_per_week).is_none() {
        found.push(violation(
            "R-RV-8",
            "minutes_per_week",
            "the granted minutes per week are required (1 to 10080)",
        ));
    }
    match (a.start, a.expected_end) {
        (None, _) => found.push(violation(
            "R-RV-8",
            "start_date",
            "the start date is required",
        )),
        (Some(_), None) => found.push(violation(
            "R-RV-8",
            "expected_end_date",
            "the expected end date is required (BL §32 stk.3)",
        )),
        (Some(start), Some(end)) if end <= start => found.push(violation(
            "R-RV-8",
            "expected_end_date",
            "the expected end must be after the start",
        )),
        _ => {}
    }
    if let (Some(review), Some(start)) = (a.review, a.start)
        && (review <= start || a.expected_end.is_some_and(|end| review > end))
    {
        found.push(violation(
            "R-RV-8",
            "review_date",
            "the review date must fall after the start and no later than the expected end",
        ));
    }
    let hours_deviate = a
        .policy
        .hours_deviation(i64::from(a.minutes_per_week))
        .inspect(|why| {
            if a.justification.trim().is_empty() {
                found.push(violation(
                    "R-RV-6",
                    "justification",
                    format!("hours {why} need an individual justification"),
                ));
            }
        })
        .is_some();
    let may_deviate = a
        .policy
        .rule_for(a.level)
        .is_some_and(|r| r.may_deviate_from_standard);
    match a.policy.rule_for(a.level) {
        None => found.push(violation(
            "R-RV-12",
            "approval_level",
            "the municipality's policy does not let this level decide",
        )),
        Some(rule) => {
            if let Some(limit) = rule.max_minutes_per_week
                && i64::from(a.minutes_per_week) > i64::from(limit)
            {
                found.push(violation(
                    "R-RV-12",
                    "approval_level",
                    format!("this level may grant at most {limit} minutes a week"),
                ));
            }
            if (hours_deviate || a.age_deviates) && !rule.may_deviate_from_standard {
                found.push(violation(
                    "R-RV-12",
                    "approval_level",
                    "this level may not deviate from the service standard",
                ));
            }
        }
    }
    age_limit(a, &mut found);
    allowances(a, may_deviate, &mut found);
    found
}

/// R-RV-9, R-RV-13: allowances state kind, amount and period, end with the measure, activity
/// money needs a justification, and each keeps to the policy's caps of its kind: an absolute
/// cap always, a cap "as a rule" unless the allowance is justified and the level may deviate.
fn allowances(a: &Approval<'_>, may_deviate: bool, found: &mut Vec<RuleViolation>) {
    for (i, allowance) in a.allowances.iter().enumerate() {
        let field = |name: &str| format!("allowances[{i}].{name}");
        let kind = AllowanceKind::try_from(allowance.kind).unwrap_or(AllowanceKind::Unspecified);
        let period =
            AllowancePeriod::try_from(allowance.period).unwrap_or(AllowancePeriod::Unspecified);
        let amount = allowance.amount.as_ref().map_or(0, |m| m.ore);
        if kind == AllowanceKind::Unspecified {
            found.push(violation("R-RV-13", field("kind"), "the kind is required"));
        }
        if period == AllowancePeriod::Unspecified {
            found.push(violation(
                "R-RV-13",
                field("period"),
                "the period is required",
            ));
        }
        if amount <= 0 {
            found.push(violation(
                "R-RV-13",
                field("amount"),
                "a positive amount in øre is required",
            ));
        }
        if let (Some(end), Some(grant_end)) = (
            allowance.end_date.as_ref().and_then(|d| d.to_naive()),
            a.expected_end,
        ) && end > grant_end
        {
            found.push(violation(
                "R-RV-13",
                field("end_date"),
                "an allowance ends no later than the measure",
            ));
        }
        if kind == AllowanceKind::Activity && allowance.justification.trim().is_empty() {
            found.push(violation(
                "R-RV-9",
                field("justification"),
                "activity money is granted only with a justification",
            ));
        }
        for cap in a.policy.caps().filter(|c| c.kind == kind && amount > 0) {
            let per = per_period(amount, period, cap.period, a.start, a.expected_end);
            if per <= cap.amount_ore {
                continue;
            }
            let each = period_word(cap.period);
            if cap.absolute {
                found.push(violation(
                    "R-RV-9",
                    field("amount"),
                    format!(
                        "{per} øre {each} is above the policy's cap of {} øre {each}, which is never exceeded",
                        cap.amount_ore
                    ),
                ));
            } else if allowance.justification.trim().is_empty() || !may_deviate {
                found.push(violation(
                    "R-RV-9",
                    field("amount"),
                    format!(
                        "{per} øre {each} is above the policy's cap of {} øre {each} as a rule: \
                         only a justified deviation at a level that may deviate (R-RV-12) exceeds it",
                        cap.amount_ore
                    ),
                ));
            }
        }
    }
}

fn period_word(period: AllowancePeriod) -> &'static str {
    match period {
        AllowancePeriod::Month => "a month",
        AllowancePeriod::Year => "a year",
        AllowancePeriod::Grant => "for the grant",
        AllowancePeriod::Quarter | AllowancePeriod::Unspecified => "a quarter",
    }
}

/// Months in `period` (a grant's from its start to its expected end, at least 1).
fn months_of(period: AllowancePeriod, start: Option<NaiveDate>, end: Option<NaiveDate>) -> i64 {
    match period {
        AllowancePeriod::Month => 1,
        AllowancePeriod::Year => 12,
        AllowancePeriod::Grant => match (start, end) {
            (Some(s), Some(e)) => {
                i64::from((e.year() - s.year()) * 12 + e.month() as i32 - s.month() as i32 + 1)
                    .max(1)
            }
            _ => 3,
        },
        AllowancePeriod::Quarter | AllowancePeriod::Unspecified => 3,
    }
}

/// An amount per `from` as an amount per `to` (rounded up, so a cap is never passed by
/// rounding).
fn per_period(
    amount: i64,
    from: AllowancePeriod,
    to: AllowancePeriod,
    start: Option<NaiveDate>,
    end: Option<NaiveDate>,
) -> i64 {
    ceil_div(
        amount.saturating_mul(months_of(to, start, end)),
        months_of(from, start, end),
    )
}

/// `a / b` rounded up, for positive `b` (`i64::div_ceil` is not stable for signed integers).
fn ceil_div(a: i64, b: i64) -> i64 {
    let q = a / b;
    if a % b > 0 { q + 1 } else { q }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::policy::examples;
    use kontakt_proto::common::v1::Money;

    fn day(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(y, m, d)
    }

    fn approval(policy: &Policy, level: ApprovalLevel, minutes: i32) -> Approval<'_> {
        Approval {
            policy,
            level,
            minutes_per_week: minutes,
            start: day(2026, 12, 1),
            expected_end: day(2027, 11, 30),
            review: day(2027, 3, 1),
            allowances: &[],
            justification: "",
            age_deviates: false,
            age_limit: None,
        }
    }

    fn basis(max_age_years: u32) -> LegalBasisFacts {
        LegalBasisFacts {
            code: "b".into(),
            valid_from: NaiveDate::MIN,
            valid_until: None,
            min_age_years: None,
            max_age_years: Some(max_age_years),
            without_consent: false,
            compulsory: false,
        }
    }

    #[test]
    fn r_rv_8_the_committee_checks_the_plans_goals_are_realistic_before_approving() {
        assert!(committee_checked_goals(Decider::Committee, true, true, true).is_ok());
        let unchecked = committee_checked_goals(Decider::Committee, true, true, false)
            .expect_err("not checked");
        assert_eq!(unchecked.subject, "goals_realistic");
        // Only an approval of a referral with a plan, and only by the committee.
        assert!(committee_checked_goals(Decider::Committee, false, true, false).is_ok());
        assert!(committee_checked_goals(Decider::Committee, true, false, false).is_ok());
        assert!(committee_checked_goals(Decider::Counsellor, true, true, false).is_ok());
    }

    #[test]
    fn r_rv_8_a_committee_decision_is_dated_by_its_meeting() {
        let meeting = day(2026, 11, 26).expect("date");
        assert_eq!(
            decision_date(meeting, day(2026, 12, 1).expect("date")),
            Ok(meeting)
        );
        assert_eq!(decision_date(meeting, meeting), Ok(meeting));
        let early = decision_date(meeting, day(2026, 11, 25).expect("date")).expect_err("early");
        assert_eq!(
            (early.rule.as_str(), early.subject.as_str()),
            ("R-RV-8", "committee_meeting")
        );
    }

    #[test]
    fn r_rv_5_a_child_basis_grant_ends_the_day_before_the_18th_birthday() {
        let policy = examples::counsellor_decides();
        let birth = day(2009, 3, 15).expect("date");
        let limit = AgeLimit::of(&basis(17), birth);
        assert_eq!(
            limit,
            Some(AgeLimit {
                last_day: day(2027, 3, 14).expect("date"),
                turns: 18
            })
        );
        let mut a = approval(&policy, ApprovalLevel::OwnAuthority, 180);
        a.age_limit = limit;
        // 2026-12-01 .. 2027-11-30 runs past the 18th birthday.
        let got = check_approval(&a);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(
            (got[0].rule.as_str(), got[0].subject.as_str()),
            ("R-RV-5", "expected_end_date")
        );
        assert!(
            got[0].description.contains("2027-03-14"),
            "{}",
            got[0].description
        );
        assert!(
            got[0].description.contains("ungestøtte"),
            "{}",
            got[0].description
        );
        // Ending on the last day is allowed.
        a.expected_end = day(2027, 3, 14);
        a.review = day(2027, 3, 1);
        assert_eq!(check_approval(&a), []);
        // Starting after it is not.
        a.start = day(2027, 3, 15);
        a.expected_end = day(2027, 6, 1);
        a.review = None;
        let got = check_approval(&a);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].subject, "start_date");
    }

    #[test]
    fn r_rv_5_an_ungestotte_grant_ends_the_day_before_the_23rd_birthday() {
        let policy = examples::counsellor_decides();
        // Born on 29 February: the 23rd birthday in 2027 is 1 March.
        let birth = day(2004, 2, 29).expect("date");
        let limit = AgeLimit::of(&basis(22), birth).expect("limit");
        assert_eq!(limit.last_day, day(2027, 2, 28).expect("date"));
        assert_eq!(limit.turns, 23);
        let mut a = approval(&policy, ApprovalLevel::OwnAuthority, 180);
        a.age_limit = Some(limit);
        let got = check_approval(&a);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].subject, "expected_end_date");
        assert!(
            !got[0].description.contains("ungestøtte"),
            "no further basis after 23"
        );
        a.expected_end = day(2027, 2, 28);
        a.review = None;
        assert_eq!(check_approval(&a), []);
    }

    fn rules(found: Vec<RuleViolation>) -> Vec<(String, String)> {
        found.into_iter().map(|v| (v.rule, v.subject)).collect()
    }

    #[test]
    fn r_rv_8_with_a_committee_only_the_committee_decides_and_only_what_is_on_its_agenda() {
        let ishoj = examples::committee_with_plan();
        assert!(may_decide(ReferralState::InCommittee, &ishoj, Decider::Committee).is_ok());
        assert!(may_decide(ReferralState::Submitted, &ishoj, Decider::Committee).is_err());
        assert!(may_decide(ReferralState::InCommittee, &ishoj, Decider::Counsellor).is_err());
        assert!(may_schedule(ReferralState::Submitted, &ishoj).is_ok());
        assert!(may_schedule(ReferralState::Draft, &ishoj).is_err());
    }

    #[test]
    fn r_rv_8_without_a_committee_the_counsellor_decides_a_submitted_referral() {
        for policy in [examples::counsellor_decides(), examples::third()] {
            assert!(may_decide(ReferralState::Submitted, &policy, Decider::Counsellor).is_ok());
            assert!(may_decide(ReferralState::Draft, &policy, Decider::Counsellor).is_err());
            assert!(may_decide(ReferralState::Submitted, &policy, Decider::Committee).is_err());
            assert!(may_schedule(ReferralState::Submitted, &policy).is_err());
        }
    }

    #[test]
    fn r_rv_8_an_approval_states_hours_start_expected_end_and_a_sensible_review() {
        let policy = examples::committee_with_plan();
        let mut a = approval(&policy, ApprovalLevel::Committee, 0);
        a.start = None;
        assert_eq!(
            rules(check_approval(&a)),
            [
                ("R-RV-8".into(), "minutes_per_week".into()),
                ("R-RV-8".into(), "start_date".into())
            ]
        );
        let mut a = approval(&policy, ApprovalLevel::Committee, 180);
        a.expected_end = day(2026, 11, 1);
        a.review = day(2028, 1, 1);
        assert_eq!(
            rules(check_approval(&a)),
            [
                ("R-RV-8".into(), "expected_end_date".into()),
                ("R-RV-8".into(), "review_date".into())
            ]
        );
        assert_eq!(
            rules(check_approval(&approval(
                &policy,
                ApprovalLevel::Committee,
                600
            ))),
            []
        );
    }

    #[test]
    fn r_rv_12_a_level_decides_only_within_its_limits() {
        let ringsted = examples::counsellor_decides();
        // 3 hours on the counsellor's own authority: within the standard.
        assert_eq!(
            rules(check_approval(&approval(
                &ringsted,
                ApprovalLevel::OwnAuthority,
                180
            ))),
            []
        );
        // 4 hours: a deviation, needing a justification and a level that may deviate.
        let mut four = approval(&ringsted, ApprovalLevel::OwnAuthority, 240);
        assert_eq!(
            rules(check_approval(&four)),
            [
                ("R-RV-6".into(), "justification".into()),
                ("R-RV-12".into(), "approval_level".into()),
                ("R-RV-12".into(), "approval_level".into())
            ]
        );
        four.level = ApprovalLevel::TeamLeader;
        four.justification = "school and home";
        assert_eq!(rules(check_approval(&four)), []);
        // A level the policy does not name may not decide at all.
        assert_eq!(
            rules(check_approval(&approval(
                &ringsted,
                ApprovalLevel::Committee,
                180
            ))),
            [("R-RV-12".into(), "approval_level".into())]
        );
        // An under-age child is a deviation too.
        let mut young = approval(&ringsted, ApprovalLevel::OwnAuthority, 180);
        young.age_deviates = true;
        assert_eq!(
            rules(check_approval(&young)),
            [("R-RV-12".into(), "approval_level".into())]
        );
        // The third standard: a team meeting up to 8 hours.
        let third = examples::third();
        let mut eight = approval(&third, ApprovalLevel::TeamMeeting, 480);
        eight.justification = "two settings";
        assert_eq!(rules(check_approval(&eight)), []);
        eight.minutes_per_week = 540;
        assert_eq!(
            rules(check_approval(&eight)),
            [("R-RV-12".into(), "approval_level".into())]
        );
    }

    #[test]
    fn r_rv_9_activity_money_only_with_a_justification_and_within_the_cap() {
        let ringsted = examples::counsellor_decides();
        let money = |ore, period: AllowancePeriod, justification: &str| Allowance {
            kind: AllowanceKind::Activity as i32,
            amount: Some(Money { ore }),
            period: period as i32,
            justification: justification.into(),
            end_date: None,
        };
        let cases = [
            (money(60_000, AllowancePeriod::Quarter, "cinema"), vec![]),
            (
                money(60_000, AllowancePeriod::Quarter, ""),
                vec![(
                    "R-RV-9".to_owned(),
                    "allowances[0].justification".to_owned(),
                )],
            ),
            (
                money(25_000, AllowancePeriod::Month, "cinema"),
                vec![("R-RV-9".to_owned(), "allowances[0].amount".to_owned())],
            ),
            (money(240_000, AllowancePeriod::Year, "cinema"), vec![]),
        ];
        for (allowance, expected) in cases {
            let allowances = [allowance];
            let mut a = approval(&ringsted, ApprovalLevel::OwnAuthority, 180);
            a.allowances = &allowances;
            assert_eq!(rules(check_approval(&a)), expected, "{allowances:?}");
        }
        // Ishøj states no cap.
        let ishoj = examples::committee_with_plan();
        let allowances = [money(500_000, AllowancePeriod::Quarter, "summer camp")];
        let mut a = approval(&ishoj, ApprovalLevel::Committee, 180);
        a.allowances = &allowances;
        assert_eq!(rules(check_approval(&a)), []);
    }

    #[test]
    fn r_rv_9_a_cap_as_a_rule_yields_to_a_justified_deviation_an_absolute_one_never() {
        use crate::domain::policy::AllowanceCap;
        // "As a rule at most DKK 600 a quarter" and "never above DKK 3,000 a year" for
        // activity money; mileage at most DKK 400 a month, absolutely.
        let mut policy = examples::counsellor_decides();
        policy.activity_money_cap_per_quarter = None;
        policy.allowance_caps = vec![
            AllowanceCap {
                kind: AllowanceKind::Activity,
                period: AllowancePeriod::Quarter,
                amount_ore: 60_000,
                absolute: false,
            },
            AllowanceCap {
                kind: AllowanceKind::Activity,
                period: AllowancePeriod::Year,
                amount_ore: 300_000,
                absolute: true,
            },
            AllowanceCap {
                kind: AllowanceKind::Mileage,
                period: AllowancePeriod::Month,
                amount_ore: 40_000,
                absolute: true,
            },
        ];
        let allowance = |kind: AllowanceKind, ore, period: AllowancePeriod| Allowance {
            kind: kind as i32,
            amount: Some(Money { ore }),
            period: period as i32,
            justification: "a summer camp with the class".into(),
            end_date: None,
        };
        let check = |allowance: Allowance, level: ApprovalLevel| {
            let allowances = [allowance];
            let mut a = approval(&policy, level, 180);
            a.allowances = &allowances;
            rules(check_approval(&a))
        };
        let amount = || vec![("R-RV-9".to_owned(), "allowances[0].amount".to_owned())];
        // DKK 250 a month = DKK 750 a quarter: above the rule's 600 (and DKK 3,000 a year, at
        // the absolute cap). Justified, the team leader (who may deviate) grants it; the
        // counsellor on own authority may not.
        let above_rule = || allowance(AllowanceKind::Activity, 25_000, AllowancePeriod::Month);
        assert_eq!(check(above_rule(), ApprovalLevel::TeamLeader), []);
        assert_eq!(check(above_rule(), ApprovalLevel::OwnAuthority), amount());
        let mut unjustified = above_rule();
        unjustified.justification.clear();
        assert_eq!(
            check(unjustified, ApprovalLevel::TeamLeader),
            [
                (
                    "R-RV-9".to_owned(),
                    "allowances[0].justification".to_owned()
                ),
                ("R-RV-9".to_owned(), "allowances[0].amount".to_owned())
            ]
        );
        // DKK 3,600 a year is above the absolute yearly cap: no level grants it.
        let above_absolute = allowance(AllowanceKind::Activity, 360_000, AllowancePeriod::Year);
        assert_eq!(check(above_absolute, ApprovalLevel::TeamLeader), amount());
        // Mileage per quarter against a monthly cap: DKK 1,500 a quarter = DKK 500 a month.
        let mileage = allowance(AllowanceKind::Mileage, 150_000, AllowancePeriod::Quarter);
        assert_eq!(check(mileage, ApprovalLevel::TeamLeader), amount());
        let mileage = allowance(AllowanceKind::Mileage, 120_000, AllowancePeriod::Quarter);
        assert_eq!(check(mileage, ApprovalLevel::OwnAuthority), []);
    }

    #[test]
    fn r_rv_6_hours_below_the_expected_band_deviate_like_hours_above_it() {
        // "2–3 hours a week": 120 to 180 minutes.
        let mut policy = examples::counsellor_decides();
        policy.min_minutes_per_week = Some(120);
        assert_eq!(policy.hours_deviation(150), None);
        assert!(
            policy
                .hours_deviation(60)
                .is_some_and(|w| w.contains("120"))
        );
        assert!(
            policy
                .hours_deviation(240)
                .is_some_and(|w| w.contains("180"))
        );
        let one_hour = approval(&policy, ApprovalLevel::OwnAuthority, 60);
        assert_eq!(
            rules(check_approval(&one_hour)),
            [
                ("R-RV-6".into(), "justification".into()),
                ("R-RV-12".into(), "approval_level".into())
            ]
        );
        let mut justified = approval(&policy, ApprovalLevel::TeamLeader, 60);
        justified.justification = "a short start, building trust";
        assert_eq!(rules(check_approval(&justified)), []);
    }

    #[test]
    fn r_rv_13_allowances_end_no_later_than_the_measure() {
        let policy = examples::third();
        let allowances = [Allowance {
            kind: AllowanceKind::Mileage as i32,
            amount: Some(Money { ore: 100_000 }),
            period: AllowancePeriod::Month as i32,
            justification: String::new(),
            end_date: day(2028, 1, 1).map(Into::into),
        }];
        let mut a = approval(&policy, ApprovalLevel::OwnAuthority, 180);
        a.allowances = &allowances;
        assert_eq!(
            rules(check_approval(&a)),
            [("R-RV-13".into(), "allowances[0].end_date".into())]
        );
    }
}
