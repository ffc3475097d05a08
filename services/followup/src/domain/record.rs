//! What a held follow-up must record (R-FU-2, R-FU-3): who took part (the counsellor always,
//! the coordinator where the policy wants one), how far each plan goal came, an outcome, and
//! for CONTINUE and ADJUST the next follow-up within the policy's interval (R-FU-1). Pure: the
//! caller supplies today and the grant's schedule.

use chrono::NaiveDate;
use kontakt_platform::error::RuleViolation;
use kontakt_platform::units::WeeklyMinutes;
use kontakt_proto::followup::v1::{
    FollowUp, FollowUpOutcome, GoalAchievement, GoalAssessment, Participant, ParticipantRole,
};
use kontakt_proto::referral::v1::ApprovalLevel;
use tonic_types::FieldViolation;

use super::due::{self, DueError, Rules};

const MAX_PARTICIPANTS: usize = 50;
const MAX_ASSESSMENTS: usize = 200;
const MAX_TEXT: usize = 4000;
const MAX_SHORT: usize = 200;

/// The grant's schedule, as far as the record is checked against it.
pub struct Context<'a> {
    pub today: NaiveDate,
    pub municipality: &'a str,
    pub start_date: NaiveDate,
    pub rules: Rules,
    pub coordinator_required: bool,
}

/// A record that passed: the outcome, its dates and what is stored.
#[derive(Debug, PartialEq)]
pub struct Held {
    pub outcome: FollowUpOutcome,
    pub completed_date: NaiveDate,
    /// CONTINUE / ADJUST: the next follow-up's due date.
    pub next_due: Option<NaiveDate>,
    /// The input fields only, normalised (trimmed text, defaults filled in).
    pub record: FollowUp,
}

#[derive(Debug)]
pub enum RecordError {
    /// The request is malformed: each field named.
    Fields(Vec<FieldViolation>),
    /// Well formed, but a rule says no: each rule named.
    Rules(Vec<RuleViolation>),
}

/// At most `max` characters and no control characters but newlines.
pub fn text_ok(text: &str, max: usize) -> bool {
    text.chars().count() <= max && !text.chars().any(|c| c.is_control() && c != '\n')
}

fn field(wrong: &mut Vec<FieldViolation>, name: impl Into<String>, why: impl Into<String>) {
    wrong.push(FieldViolation::new(name, why));
}

fn participants(input: &[Participant], wrong: &mut Vec<FieldViolation>) -> Vec<Participant> {
    if input.is_empty() || input.len() > MAX_PARTICIPANTS {
        field(
            wrong,
            "follow_up.participants",
            format!("1 to {MAX_PARTICIPANTS} participants; the counsellor always (R-FU-3)"),
        );
    }
    input
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let at = format!("follow_up.participants[{i}]");
            if matches!(
                ParticipantRole::try_from(p.role),
                Ok(ParticipantRole::Unspecified) | Err(_)
            ) {
                field(
                    wrong,
                    format!("{at}.role"),
                    "COUNSELLOR, COORDINATOR, CONTACT_PERSON, CHILD, CUSTODY_HOLDER or OTHER",
                );
            }
            let name = p.display_name.trim();
            if name.is_empty() || !text_ok(&p.display_name, MAX_SHORT) {
                field(wrong, format!("{at}.display_name"), "1 to 200 characters");
            }
            if !text_ok(&p.principal, MAX_SHORT) {
                field(wrong, format!("{at}.principal"), "at most 200 characters");
            }
            Participant {
                role: p.role,
                principal: p.principal.trim().to_owned(),
                display_name: name.to_owned(),
            }
        })
        .collect()
}

fn assessments(
    input: &[GoalAssessment],
    municipality: &str,
    wrong: &mut Vec<FieldViolation>,
) -> Vec<GoalAssessment> {
    if input.len() > MAX_ASSESSMENTS {
        field(
            wrong,
            "follow_up.goal_assessments",
            format!("at most {MAX_ASSESSMENTS}"),
        );
    }
    let plan_prefix = format!("municipalities/{municipality}/cases/");
    input
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let at = format!("follow_up.goal_assessments[{i}]");
            let plan_ok = a.plan.strip_prefix(&plan_prefix).is_some_and(|rest| {
                matches!(rest.split('/').collect::<Vec<_>>().as_slice(),
                    [case, "plans", plan] if kontakt_platform::resource::valid_id(case)
                        && kontakt_platform::resource::valid_id(plan))
            });
            if !plan_ok {
                field(
                    wrong,
                    format!("{at}.plan"),
                    "must be `municipalities/{code}/cases/{case}/plans/{plan}` in the grant's municipality",
                );
            }
            if a.goal_id.is_empty() || !text_ok(&a.goal_id, 100) {
                field(wrong, format!("{at}.goal_id"), "1 to 100 characters");
            }
            if matches!(
                GoalAchievement::try_from(a.achievement),
                Ok(GoalAchievement::Unspecified) | Err(_)
            ) {
                field(
                    wrong,
                    format!("{at}.achievement"),
                    "ACHIEVED, PARTLY or NOT_ACHIEVED",
                );
            }
            if !text_ok(&a.note, MAX_TEXT) {
                field(wrong, format!("{at}.note"), "at most 4000 characters");
            }
            GoalAssessment {
                plan: a.plan.clone(),
                goal_id: a.goal_id.clone(),
                achievement: a.achievement,
                note: a.note.trim().to_owned(),
            }
        })
        .collect()
}

/// Checks a follow-up record against the rules; the normalised record if it passes.
pub fn check(input: &FollowUp, ctx: &Context<'_>) -> Result<Held, RecordError> {
    let mut wrong = Vec::new();
    let people = participants(&input.participants, &mut wrong);
    let goals = assessments(&input.goal_assessments, ctx.municipality, &mut wrong);
    let outcome = FollowUpOutcome::try_from(input.outcome)
        .ok()
        .filter(|o| *o != FollowUpOutcome::Unspecified);
    if outcome.is_none() {
        field(
            &mut wrong,
            "follow_up.outcome",
            "CONTINUE, ADJUST, END or END_REVISE (R-FU-2)",
        );
    }
    let adjusting = outcome == Some(FollowUpOutcome::Adjust);
    let ending = matches!(
        outcome,
        Some(FollowUpOutcome::End | FollowUpOutcome::EndRevise)
    );
    if adjusting && WeeklyMinutes::positive(input.adjusted_minutes_per_week).is_none() {
        field(
            &mut wrong,
            "follow_up.adjusted_minutes_per_week",
            "ADJUST needs the new minutes per week, 1 to 10080",
        );
    }
    if !adjusting && input.adjusted_minutes_per_week != 0 {
        field(
            &mut wrong,
            "follow_up.adjusted_minutes_per_week",
            "only ADJUST sets new hours",
        );
    }
    let date = |d: Option<&kontakt_proto::common::v1::Date>, name: &str, wrong: &mut Vec<_>| {
        d.and_then(|d| match d.to_naive() {
            Some(day) => Some(day),
            None => {
                field(wrong, name, "not a calendar date");
                None
            }
        })
    };
    let completed = date(
        input.completed_date.as_ref(),
        "follow_up.completed_date",
        &mut wrong,
    );
    match completed {
        None if input.completed_date.is_none() => field(
            &mut wrong,
            "follow_up.completed_date",
            "the day it was held is required",
        ),
        Some(d) if d > ctx.today => field(
            &mut wrong,
            "follow_up.completed_date",
            format!("not in the future (today is {})", ctx.today),
        ),
        Some(d) if d < ctx.start_date => field(
            &mut wrong,
            "follow_up.completed_date",
            format!("not before the measure started ({})", ctx.start_date),
        ),
        _ => {}
    }
    let proposed_next = date(
        input.next_due_date.as_ref(),
        "follow_up.next_due_date",
        &mut wrong,
    );
    if ending && input.next_due_date.is_some() {
        field(
            &mut wrong,
            "follow_up.next_due_date",
            "an ended grant has no next follow-up",
        );
    }
    let effective = date(
        input.outcome_effective_date.as_ref(),
        "follow_up.outcome_effective_date",
        &mut wrong,
    );
    if outcome == Some(FollowUpOutcome::Continue) && input.outcome_effective_date.is_some() {
        field(
            &mut wrong,
            "follow_up.outcome_effective_date",
            "CONTINUE changes nothing",
        );
    }
    if let (Some(e), Some(held)) = (effective, completed)
        && e < held
    {
        field(
            &mut wrong,
            "follow_up.outcome_effective_date",
            "not before the day the follow-up was held",
        );
    }
    if ApprovalLevel::try_from(input.approval_level).is_err() {
        field(&mut wrong, "follow_up.approval_level", "not a known level");
    }
    if !text_ok(&input.summary, MAX_TEXT) {
        field(&mut wrong, "follow_up.summary", "at most 4000 characters");
    }
    if !text_ok(&input.justification, MAX_TEXT) {
        field(
            &mut wrong,
            "follow_up.justification",
            "at most 4000 characters",
        );
    }
    let (Some(outcome), Some(completed), true) = (outcome, completed, wrong.is_empty()) else {
        return Err(RecordError::Fields(wrong));
    };

    let mut broken = Vec::new();
    let has = |role: ParticipantRole| people.iter().any(|p| p.role == role as i32);
    if !has(ParticipantRole::Counsellor) {
        broken.push(RuleViolation {
            rule: "R-FU-3".into(),
            subject: "follow_up.participants".into(),
            description: "the counsellor owns follow-up and takes part in it".into(),
        });
    }
    if ctx.coordinator_required && !has(ParticipantRole::Coordinator) {
        broken.push(RuleViolation {
            rule: "R-FU-3".into(),
            subject: "follow_up.participants".into(),
            description: "the municipality's policy wants the coordinator at every follow-up"
                .into(),
        });
    }
    let next_due = if ending {
        None
    } else {
        match due::next_due(completed, ctx.rules, proposed_next) {
            Ok(next) => Some(next),
            Err(err) => {
                let description = match err {
                    DueError::NotAfterHeld => {
                        "the next follow-up comes after the day this one was held".to_owned()
                    }
                    DueError::AfterPolicy(latest) => {
                        format!("the policy wants the next follow-up by {latest} at the latest")
                    }
                    DueError::NextDateRequired => {
                        "the policy states no interval: set the next follow-up's date".to_owned()
                    }
                    DueError::OutOfRange => "beyond the calendar".to_owned(),
                };
                broken.push(RuleViolation {
                    rule: "R-FU-1".into(),
                    subject: "follow_up.next_due_date".into(),
                    description,
                });
                None
            }
        }
    };
    if !broken.is_empty() {
        return Err(RecordError::Rules(broken));
    }
    let record = FollowUp {
        participants: people,
        goal_assessments: goals,
        outcome: outcome as i32,
        adjusted_minutes_per_week: input.adjusted_minutes_per_week,
        completed_date: Some(completed.into()),
        next_due_date: next_due.map(Into::into),
        summary: input.summary.trim().to_owned(),
        approval_level: input.approval_level,
        justification: input.justification.trim().to_owned(),
        outcome_effective_date: effective.map(Into::into),
        ..FollowUp::default()
    };
    Ok(Held {
        outcome,
        completed_date: completed,
        next_due,
        record,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("date")
    }

    fn ctx(interval: Option<u32>, coordinator: bool) -> Context<'static> {
        Context {
            today: d(2026, 11, 24),
            municipality: "183",
            start_date: d(2026, 8, 1),
            rules: Rules {
                statutory_first_months: 3,
                policy_interval_months: interval,
            },
            coordinator_required: coordinator,
        }
    }

    fn person(role: ParticipantRole) -> Participant {
        Participant {
            role: role as i32,
            principal: String::new(),
            display_name: "Someone".into(),
        }
    }

    fn held(outcome: FollowUpOutcome) -> FollowUp {
        FollowUp {
            participants: vec![
                person(ParticipantRole::Counsellor),
                person(ParticipantRole::Coordinator),
            ],
            goal_assessments: vec![GoalAssessment {
                plan: "municipalities/183/cases/c1/plans/p1".into(),
                goal_id: "g1".into(),
                achievement: GoalAchievement::Partly as i32,
                note: " better at school ".into(),
            }],
            outcome: outcome as i32,
            completed_date: Some(d(2026, 11, 2).into()),
            ..FollowUp::default()
        }
    }

    fn rules_of(err: RecordError) -> Vec<(String, String)> {
        match err {
            RecordError::Rules(v) => v.into_iter().map(|v| (v.rule, v.subject)).collect(),
            RecordError::Fields(f) => panic!("expected rules, got fields {f:?}"),
        }
    }

    fn fields_of(err: RecordError) -> Vec<String> {
        match err {
            RecordError::Fields(f) => f.into_iter().map(|f| f.field).collect(),
            RecordError::Rules(r) => panic!("expected fields, got rules {r:?}"),
        }
    }

    #[test]
    fn ringsted_continue_defaults_the_next_follow_up_to_six_months() {
        let done = check(&held(FollowUpOutcome::Continue), &ctx(Some(6), false)).expect("ok");
        assert_eq!(done.next_due, Some(d(2027, 5, 2)));
        assert_eq!(done.record.goal_assessments[0].note, "better at school");
        // Later than the policy allows is refused, naming the latest day.
        let mut late = held(FollowUpOutcome::Continue);
        late.next_due_date = Some(d(2027, 5, 3).into());
        assert_eq!(
            rules_of(check(&late, &ctx(Some(6), false)).expect_err("refused")),
            [("R-FU-1".into(), "follow_up.next_due_date".into())]
        );
    }

    #[test]
    fn ishoj_needs_the_coordinator_and_a_next_date() {
        let mut alone = held(FollowUpOutcome::Continue);
        alone.participants.truncate(1);
        assert_eq!(
            rules_of(check(&alone, &ctx(None, true)).expect_err("refused")),
            [
                ("R-FU-3".into(), "follow_up.participants".into()),
                ("R-FU-1".into(), "follow_up.next_due_date".into())
            ]
        );
        let mut ok = held(FollowUpOutcome::Continue);
        ok.next_due_date = Some(d(2027, 2, 1).into());
        assert_eq!(
            check(&ok, &ctx(None, true)).expect("ok").next_due,
            Some(d(2027, 2, 1))
        );
        // Without the coordinator rule (Ringsted) the counsellor alone will do.
        let mut solo = held(FollowUpOutcome::End);
        solo.participants.truncate(1);
        assert!(check(&solo, &ctx(Some(6), false)).is_ok());
    }

    #[test]
    fn outcomes_carry_only_what_belongs_to_them() {
        let mut adjust = held(FollowUpOutcome::Adjust);
        assert_eq!(
            fields_of(check(&adjust, &ctx(Some(6), false)).expect_err("refused")),
            ["follow_up.adjusted_minutes_per_week"]
        );
        adjust.adjusted_minutes_per_week = 120;
        let done = check(&adjust, &ctx(Some(6), false)).expect("ok");
        assert_eq!(done.outcome, FollowUpOutcome::Adjust);
        let mut end = held(FollowUpOutcome::End);
        end.next_due_date = Some(d(2027, 1, 1).into());
        end.adjusted_minutes_per_week = 60;
        assert_eq!(
            fields_of(check(&end, &ctx(Some(6), false)).expect_err("refused")),
            [
                "follow_up.adjusted_minutes_per_week",
                "follow_up.next_due_date"
            ]
        );
        let end = check(&held(FollowUpOutcome::EndRevise), &ctx(Some(6), false)).expect("ok");
        assert_eq!(end.next_due, None);
    }

    #[test]
    fn bad_input_names_each_field() {
        let input = FollowUp {
            participants: vec![Participant::default()],
            goal_assessments: vec![GoalAssessment {
                plan: "municipalities/329/cases/c1/plans/p1".into(),
                ..GoalAssessment::default()
            }],
            outcome: 99,
            completed_date: Some(d(2026, 12, 1).into()),
            ..FollowUp::default()
        };
        assert_eq!(
            fields_of(check(&input, &ctx(Some(6), false)).expect_err("refused")),
            [
                "follow_up.participants[0].role",
                "follow_up.participants[0].display_name",
                "follow_up.goal_assessments[0].plan",
                "follow_up.goal_assessments[0].goal_id",
                "follow_up.goal_assessments[0].achievement",
                "follow_up.outcome",
                "follow_up.completed_date",
            ]
        );
        let mut before_start = held(FollowUpOutcome::Continue);
        before_start.completed_date = Some(d(2026, 7, 31).into());
        assert_eq!(
            fields_of(check(&before_start, &ctx(Some(6), false)).expect_err("refused")),
            ["follow_up.completed_date"]
        );
    }
}
