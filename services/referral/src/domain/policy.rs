//! A municipality's service standard as the rules read it (DOMAIN.md §7, §10). Policies are
//! data with an effective-from date: the one in force on a day is the latest that started on or
//! before it. Nothing here knows any municipality's values.

use chrono::NaiveDate;
use kontakt_platform::units::WeeklyMinutes;
use kontakt_proto::referral::v1::{
    AllowanceKind, AllowancePeriod, ApprovalLevel, MunicipalityPolicy, TargetGroup,
};

const MAX_AGE: i32 = 30;
const MAX_INTERVAL_MONTHS: i32 = 60;

/// Ages a standard covers for a target group (R-RV-5), inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgeRange {
    /// `None` = every target group.
    pub target_group: Option<TargetGroup>,
    pub from: u32,
    pub to: u32,
}

/// A cap on one kind of allowance per month, quarter or year (R-RV-9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllowanceCap {
    pub kind: AllowanceKind,
    pub period: AllowancePeriod,
    pub amount_ore: i64,
    /// Never exceeded; otherwise "as a rule", exceeded only by a justified deviation.
    pub absolute: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalRule {
    pub level: ApprovalLevel,
    /// Highest minutes per week this level may grant; `None` = no limit.
    pub max_minutes_per_week: Option<u32>,
    pub may_deviate_from_standard: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub effective_from: NaiveDate,
    /// R-RV-5; `None` = no minimum.
    pub min_age_years: Option<u32>,
    /// R-RV-6; `None` = no policy maximum.
    pub max_minutes_per_week: Option<u32>,
    /// Size of a unit of weekly hours; `None` = not granted in units.
    pub unit_minutes: Option<u32>,
    /// R-RV-8.
    pub committee_required: bool,
    /// R-RV-1.
    pub plan_required: bool,
    /// R-RV-1: a børnefaglig undersøgelse (BL § 20), not only an afdækning (§ 19).
    pub child_assessment_required: bool,
    /// R-RV-7.
    pub network_statement_required: bool,
    /// R-FU-1; `None` = no later interval stated.
    pub follow_up_interval_months: Option<u32>,
    /// Whether the coordinator takes part in every follow-up (R-FU-3; Ishøj).
    pub follow_up_coordinator_required: bool,
    /// R-RV-9, in øre per quarter; `None` = no cap.
    pub activity_money_cap_per_quarter: Option<i64>,
    /// R-RV-3; `None` = the young person's own consent is not required.
    pub own_consent_age_years: Option<u32>,
    /// R-RV-12.
    pub approval_rules: Vec<ApprovalRule>,
    /// R-MP-6: a child-protection certificate for children of every age, not only the law's
    /// under 15.
    pub certificate_for_all_ages: bool,
    /// R-MP-6: how often a certificate is renewed, in months; `None` = its own expiry only.
    pub certificate_renewal_months: Option<u32>,
    /// R-RV-5: the ages covered per target group; empty = `min_age_years` alone.
    pub age_ranges: Vec<AgeRange>,
    /// R-RV-6: the lower end of the expected band of hours; `None` = none.
    pub min_minutes_per_week: Option<u32>,
    /// R-RV-9: caps per allowance kind and period (besides `activity_money_cap_per_quarter`).
    pub allowance_caps: Vec<AllowanceCap>,
}

/// The law asks a child-protection certificate of whoever will have direct contact with
/// children under this age (lov om indhentelse af børneattest, LBK nr. 362 af 2. april 2014,
/// § 2 stk. 1, and its executive orders); a policy may ask more.
pub const CERTIFICATE_LAW_UNDER_AGE: u32 = 15;

fn positive(value: i32) -> Option<u32> {
    u32::try_from(value).ok().filter(|v| *v > 0)
}

impl Policy {
    /// Parses a policy as given by an administrator; every field that is wrong is named.
    pub fn parse(p: &MunicipalityPolicy) -> Result<Policy, Vec<(String, String)>> {
        let mut wrong: Vec<(String, String)> = Vec::new();
        let mut check = |ok: bool, field: &str, what: &str| {
            if !ok {
                wrong.push((format!("policy.{field}"), what.to_owned()));
            }
        };
        let effective_from = p.effective_from.as_ref().and_then(|d| d.to_naive());
        check(
            effective_from.is_some(),
            "effective_from",
            "a valid date is required",
        );
        check(
            (0..=MAX_AGE).contains(&p.min_age_years),
            "min_age_years",
            "must be 0 (no minimum) to 30",
        );
        check(
            WeeklyMinutes::new(p.max_minutes_per_week).is_some(),
            "max_minutes_per_week",
            "must be 0 (no maximum) to 10080",
        );
        check(
            WeeklyMinutes::new(p.unit_minutes).is_some(),
            "unit_minutes",
            "must be 0 (no units) to 10080",
        );
        check(
            (0..=MAX_INTERVAL_MONTHS).contains(&p.follow_up_interval_months),
            "follow_up_interval_months",
            "must be 0 (none stated) to 60",
        );
        check(
            (0..=MAX_AGE).contains(&p.own_consent_age_years),
            "own_consent_age_years",
            "must be 0 (not required) to 30",
        );
        check(
            (0..=MAX_INTERVAL_MONTHS).contains(&p.certificate_renewal_months),
            "certificate_renewal_months",
            "must be 0 (the certificate's own expiry only) to 60",
        );
        check(
            WeeklyMinutes::new(p.min_minutes_per_week).is_some()
                && (p.max_minutes_per_week == 0
                    || p.min_minutes_per_week <= p.max_minutes_per_week),
            "min_minutes_per_week",
            "must be 0 (no lower end) to 10080, and not above max_minutes_per_week",
        );
        let mut age_ranges = Vec::new();
        for (i, r) in p.age_ranges.iter().enumerate() {
            let group = TargetGroup::try_from(r.target_group).ok();
            check(
                group.is_some(),
                &format!("age_ranges[{i}].target_group"),
                "a known target group, or unspecified for all",
            );
            check(
                (0..=MAX_AGE).contains(&r.from_years)
                    && (r.from_years..=MAX_AGE).contains(&r.to_years),
                &format!("age_ranges[{i}]"),
                "from_years 0 to 30 and to_years from from_years to 30",
            );
            age_ranges.push(AgeRange {
                target_group: group.filter(|g| *g != TargetGroup::Unspecified),
                from: u32::try_from(r.from_years).unwrap_or(0),
                to: u32::try_from(r.to_years).unwrap_or(0),
            });
        }
        let mut allowance_caps = Vec::new();
        for (i, c) in p.allowance_caps.iter().enumerate() {
            let kind = AllowanceKind::try_from(c.kind).unwrap_or(AllowanceKind::Unspecified);
            let period =
                AllowancePeriod::try_from(c.period).unwrap_or(AllowancePeriod::Unspecified);
            let amount = c.amount.as_ref().map_or(0, |m| m.ore);
            check(
                kind != AllowanceKind::Unspecified,
                &format!("allowance_caps[{i}].kind"),
                "ACTIVITY, MILEAGE or INTERPRETER",
            );
            check(
                matches!(
                    period,
                    AllowancePeriod::Month | AllowancePeriod::Quarter | AllowancePeriod::Year
                ),
                &format!("allowance_caps[{i}].period"),
                "MONTH, QUARTER or YEAR",
            );
            check(
                amount > 0,
                &format!("allowance_caps[{i}].amount"),
                "a positive amount in øre",
            );
            allowance_caps.push(AllowanceCap {
                kind,
                period,
                amount_ore: amount,
                absolute: c.absolute,
            });
        }
        let cap = p.activity_money_cap_per_quarter.as_ref().map(|m| m.ore);
        check(
            cap.is_none_or(|ore| ore >= 0),
            "activity_money_cap_per_quarter.ore",
            "must not be negative",
        );
        check(
            p.display_name.trim().chars().count() <= 200,
            "display_name",
            "at most 200 characters",
        );
        let mut rules = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, rule) in p.approval_rules.iter().enumerate() {
            let level = ApprovalLevel::try_from(rule.level).unwrap_or(ApprovalLevel::Unspecified);
            check(
                level != ApprovalLevel::Unspecified,
                &format!("approval_rules[{i}].level"),
                "a level is required",
            );
            check(
                seen.insert(rule.level),
                &format!("approval_rules[{i}].level"),
                "each level at most once",
            );
            check(
                WeeklyMinutes::new(rule.max_minutes_per_week).is_some(),
                &format!("approval_rules[{i}].max_minutes_per_week"),
                "must be 0 (no limit) to 10080",
            );
            rules.push(ApprovalRule {
                level,
                max_minutes_per_week: positive(rule.max_minutes_per_week),
                may_deviate_from_standard: rule.may_deviate_from_standard,
            });
        }
        check(
            !p.committee_required
                || p.approval_rules
                    .iter()
                    .any(|r| r.level == ApprovalLevel::Committee as i32),
            "approval_rules",
            "a policy with a committee needs an approval rule for the COMMITTEE level",
        );
        check(
            !p.approval_rules.is_empty(),
            "approval_rules",
            "at least one level must be allowed to decide (R-RV-12)",
        );
        match (wrong.is_empty(), effective_from) {
            (true, Some(effective_from)) => Ok(Policy {
                effective_from,
                min_age_years: positive(p.min_age_years),
                max_minutes_per_week: positive(p.max_minutes_per_week),
                unit_minutes: positive(p.unit_minutes),
                committee_required: p.committee_required,
                plan_required: p.plan_required,
                child_assessment_required: p.child_assessment_required,
                network_statement_required: p.network_statement_required,
                follow_up_interval_months: positive(p.follow_up_interval_months),
                follow_up_coordinator_required: p.follow_up_coordinator_required,
                activity_money_cap_per_quarter: cap,
                own_consent_age_years: positive(p.own_consent_age_years),
                approval_rules: rules,
                certificate_for_all_ages: p.certificate_for_all_ages,
                certificate_renewal_months: positive(p.certificate_renewal_months),
                age_ranges,
                min_minutes_per_week: positive(p.min_minutes_per_week),
                allowance_caps,
            }),
            _ => Err(wrong),
        }
    }

    pub fn rule_for(&self, level: ApprovalLevel) -> Option<&ApprovalRule> {
        self.approval_rules.iter().find(|r| r.level == level)
    }

    /// R-RV-5: why a child of `age` (on the start date) in `groups` is outside the standard's
    /// ages, or `None` when inside: under `min_age_years`, or in no range for its groups (a
    /// range without a target group is for all).
    pub fn age_deviation(&self, age: u32, groups: &[TargetGroup]) -> Option<String> {
        if let Some(min) = self.min_age_years
            && age < min
        {
            return Some(format!("under the policy's minimum age of {min}"));
        }
        if self.age_ranges.is_empty() {
            return None;
        }
        let applies = |r: &&AgeRange| r.target_group.is_none_or(|g| groups.contains(&g));
        let ranges: Vec<&AgeRange> = self.age_ranges.iter().filter(applies).collect();
        if ranges.iter().any(|r| (r.from..=r.to).contains(&age)) {
            return None;
        }
        let said: Vec<String> = ranges
            .iter()
            .map(|r| format!("{}–{}", r.from, r.to))
            .collect();
        Some(if said.is_empty() {
            "no age range of the standard is for its target groups".to_owned()
        } else {
            format!(
                "outside the standard's ages for its target groups, {}",
                said.join(", ")
            )
        })
    }

    /// R-RV-6: why `minutes` a week deviate from the standard's band, or `None` within it.
    pub fn hours_deviation(&self, minutes: i64) -> Option<String> {
        if let Some(max) = self.max_minutes_per_week
            && minutes > i64::from(max)
        {
            return Some(format!(
                "above the policy's maximum of {max} minutes a week"
            ));
        }
        if let Some(min) = self.min_minutes_per_week
            && minutes > 0
            && minutes < i64::from(min)
        {
            return Some(format!(
                "below the standard's expected band, from {min} minutes a week"
            ));
        }
        None
    }

    /// Every cap of the policy (R-RV-9), the older quarterly activity-money cap among them as
    /// an absolute one.
    pub fn caps(&self) -> impl Iterator<Item = AllowanceCap> + '_ {
        self.activity_money_cap_per_quarter
            .map(|ore| AllowanceCap {
                kind: AllowanceKind::Activity,
                period: AllowancePeriod::Quarter,
                amount_ore: ore,
                absolute: true,
            })
            .into_iter()
            .chain(self.allowance_caps.iter().copied())
    }

    /// R-MP-6: whether the contact person of a grant must have a child-protection certificate:
    /// by law for a child under 15 at the start or a family (its children's ages are not known
    /// here), and for any child where the policy says so.
    pub fn certificate_required(&self, family: bool, age_at_start: u32) -> bool {
        family || age_at_start < CERTIFICATE_LAW_UNDER_AGE || self.certificate_for_all_ages
    }
}

/// Policies shaped like DOMAIN.md §10's two references and a third, different one, for the
/// rule tests. (The real ones are data, loaded by `kontakt dev`.)
#[cfg(test)]
pub mod examples {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    /// Ishøj: plan and børnefaglig undersøgelse required, the committee decides the hours, no
    /// minimum age, no maximum.
    pub fn committee_with_plan() -> Policy {
        Policy {
            effective_from: date(2018, 2, 1),
            min_age_years: None,
            max_minutes_per_week: None,
            unit_minutes: None,
            committee_required: true,
            plan_required: true,
            child_assessment_required: true,
            network_statement_required: false,
            follow_up_interval_months: None,
            follow_up_coordinator_required: true,
            activity_money_cap_per_quarter: None,
            own_consent_age_years: None,
            approval_rules: vec![ApprovalRule {
                level: ApprovalLevel::Committee,
                max_minutes_per_week: None,
                may_deviate_from_standard: true,
            }],
            certificate_for_all_ages: false,
            certificate_renewal_months: None,
            age_ranges: Vec::new(),
            min_minutes_per_week: None,
            allowance_caps: Vec::new(),
        }
    }

    /// Ringsted: the counsellor decides on a børnefaglig undersøgelse, minimum age 12, at most
    /// 3 hours (1 unit), network statement, follow-up every 6 months; the team leader may
    /// deviate.
    pub fn counsellor_decides() -> Policy {
        Policy {
            effective_from: date(2019, 2, 4),
            min_age_years: Some(12),
            max_minutes_per_week: Some(180),
            unit_minutes: Some(180),
            committee_required: false,
            plan_required: false,
            child_assessment_required: true,
            network_statement_required: true,
            follow_up_interval_months: Some(6),
            follow_up_coordinator_required: false,
            activity_money_cap_per_quarter: Some(60_000),
            own_consent_age_years: None,
            approval_rules: vec![
                ApprovalRule {
                    level: ApprovalLevel::OwnAuthority,
                    max_minutes_per_week: Some(180),
                    may_deviate_from_standard: false,
                },
                ApprovalRule {
                    level: ApprovalLevel::TeamLeader,
                    max_minutes_per_week: None,
                    may_deviate_from_standard: true,
                },
            ],
            certificate_for_all_ages: false,
            certificate_renewal_months: None,
            age_ranges: Vec::new(),
            min_minutes_per_week: None,
            allowance_caps: Vec::new(),
        }
    }

    /// A third standard: minimum age 10, at most 5 hours, the young person's own consent from
    /// 15, a team meeting up to 8 hours.
    pub fn third() -> Policy {
        Policy {
            effective_from: date(2024, 1, 1),
            min_age_years: Some(10),
            max_minutes_per_week: Some(300),
            unit_minutes: None,
            committee_required: false,
            plan_required: true,
            child_assessment_required: false,
            network_statement_required: false,
            follow_up_interval_months: Some(4),
            follow_up_coordinator_required: false,
            activity_money_cap_per_quarter: None,
            own_consent_age_years: Some(15),
            approval_rules: vec![
                ApprovalRule {
                    level: ApprovalLevel::OwnAuthority,
                    max_minutes_per_week: Some(300),
                    may_deviate_from_standard: false,
                },
                ApprovalRule {
                    level: ApprovalLevel::TeamMeeting,
                    max_minutes_per_week: Some(480),
                    may_deviate_from_standard: true,
                },
            ],
            certificate_for_all_ages: false,
            certificate_renewal_months: None,
            age_ranges: Vec::new(),
            min_minutes_per_week: None,
            allowance_caps: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kontakt_proto::common::v1::{Date, Money};
    use kontakt_proto::referral::v1::ApprovalRule as ApprovalRuleProto;

    fn proto() -> MunicipalityPolicy {
        MunicipalityPolicy {
            effective_from: Some(Date {
                year: 2019,
                month: 2,
                day: 4,
            }),
            min_age_years: 12,
            max_minutes_per_week: 180,
            unit_minutes: 180,
            network_statement_required: true,
            follow_up_interval_months: 6,
            activity_money_cap_per_quarter: Some(Money { ore: 60_000 }),
            approval_rules: vec![ApprovalRuleProto {
                level: ApprovalLevel::OwnAuthority as i32,
                max_minutes_per_week: 180,
                may_deviate_from_standard: false,
            }],
            ..MunicipalityPolicy::default()
        }
    }

    #[test]
    fn a_policy_given_as_data_becomes_the_rules_values() {
        let policy = Policy::parse(&proto()).expect("valid");
        assert_eq!(policy.min_age_years, Some(12));
        assert_eq!(policy.max_minutes_per_week, Some(180));
        assert_eq!(policy.activity_money_cap_per_quarter, Some(60_000));
        assert_eq!(policy.own_consent_age_years, None, "0 means not required");
        assert!(policy.rule_for(ApprovalLevel::OwnAuthority).is_some());
    }

    #[test]
    fn every_wrong_field_of_a_policy_is_named() {
        let mut p = proto();
        p.effective_from = None;
        p.min_age_years = -1;
        p.max_minutes_per_week = 20_000;
        p.committee_required = true;
        p.approval_rules.push(ApprovalRuleProto::default());
        let wrong: Vec<String> = Policy::parse(&p)
            .expect_err("invalid")
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        for field in [
            "policy.effective_from",
            "policy.min_age_years",
            "policy.max_minutes_per_week",
            "policy.approval_rules[1].level",
            "policy.approval_rules",
        ] {
            assert!(wrong.iter().any(|w| w == field), "{field} in {wrong:?}");
        }
    }

    #[test]
    fn r_mp_6_a_certificate_is_required_under_15_by_law_and_beyond_by_policy() {
        let law_only = Policy::parse(&proto()).expect("valid");
        assert!(law_only.certificate_required(false, 14));
        assert!(!law_only.certificate_required(false, 15));
        assert!(
            law_only.certificate_required(true, 17),
            "a family's children may be younger"
        );
        let all_ages = Policy::parse(&MunicipalityPolicy {
            certificate_for_all_ages: true,
            certificate_renewal_months: 24,
            ..proto()
        })
        .expect("valid");
        assert!(all_ages.certificate_required(false, 17));
        assert_eq!(all_ages.certificate_renewal_months, Some(24));
        let wrong = Policy::parse(&MunicipalityPolicy {
            certificate_renewal_months: 61,
            ..proto()
        })
        .expect_err("too long");
        assert_eq!(wrong[0].0, "policy.certificate_renewal_months");
    }

    #[test]
    fn r_rv_5_the_standard_s_ages_are_stated_per_target_group() {
        use kontakt_proto::referral::v1::AgeRange as AgeRangeProto;
        // "12–23" for every group, "0–18" for disability.
        let policy = Policy::parse(&MunicipalityPolicy {
            min_age_years: 0,
            age_ranges: vec![
                AgeRangeProto {
                    target_group: TargetGroup::Unspecified as i32,
                    from_years: 12,
                    to_years: 23,
                },
                AgeRangeProto {
                    target_group: TargetGroup::Disability as i32,
                    from_years: 0,
                    to_years: 18,
                },
            ],
            ..proto()
        })
        .expect("valid");
        let crime = [TargetGroup::CrimeRisk];
        let disability = [TargetGroup::Disability];
        assert_eq!(policy.age_deviation(14, &crime), None);
        assert!(
            policy
                .age_deviation(9, &crime)
                .is_some_and(|why| why.contains("12–23")),
            "{:?}",
            policy.age_deviation(9, &crime)
        );
        assert_eq!(
            policy.age_deviation(9, &disability),
            None,
            "0–18 for disability"
        );
        assert!(policy.age_deviation(24, &disability).is_some());
        // The Ringsted form, a minimum age alone.
        let ringsted = Policy::parse(&proto()).expect("valid");
        assert!(ringsted.age_deviation(11, &crime).is_some());
        assert_eq!(ringsted.age_deviation(12, &crime), None);
        // A range the wrong way round, or past 30, is named.
        let wrong = Policy::parse(&MunicipalityPolicy {
            age_ranges: vec![AgeRangeProto {
                target_group: 0,
                from_years: 18,
                to_years: 12,
            }],
            ..proto()
        })
        .expect_err("backwards");
        assert_eq!(wrong[0].0, "policy.age_ranges[0]");
    }
}
