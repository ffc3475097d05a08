//! A dozen demo arrangements at different stages, so that a newcomer sees real data at once:
//! referrals in draft and awaiting a decision, grants waiting for a contact person (one nobody
//! can take: unmet demand), arrangements with own staff, hourly hires and a provider's person
//! with hours registered, a purchase in progress and an ended grant. Each is made the way the
//! people would make it — counsellor, committee, coordinator, contact person, over gRPC with
//! their own tokens — dated back from today so that follow-ups fall due around now.
//!
//! The children, their CPR numbers and their cases are fictional.

use anyhow::Context as _;
use chrono::{Datelike as _, Months, NaiveDate};
use kontakt_platform::auth::{Claims, Role};
use kontakt_proto::common::v1::Money;
use kontakt_proto::matching::v1 as matching;
use kontakt_proto::matching::v1::matching_service_client::MatchingServiceClient;
use kontakt_proto::referral::v1 as referral;
use kontakt_proto::referral::v1::referral_service_client::ReferralServiceClient;
use kontakt_proto::timecost::v1 as timecost;
use kontakt_proto::timecost::v1::time_cost_service_client::TimeCostServiceClient;
use tonic::Code;

use crate::client::{Authed, Bearer, channel, retrying};
use crate::progress::Progress;

type Referrals = ReferralServiceClient<Authed>;
type Matching = MatchingServiceClient<Authed>;
type TimeCost = TimeCostServiceClient<Authed>;

/// How far an arrangement has come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// A referral the counsellor is still writing.
    Draft,
    /// Submitted; awaiting the decision (on the committee's agenda where there is one).
    Submitted,
    /// Granted; the matching request is open.
    Granted,
    /// Granted and a contact person assigned, with hours registered for recent weeks.
    Assigned(&'static str),
    /// Granted; bought from the provider: requested only, or ordered and the provider's
    /// person assigned with hours.
    Bought(Option<&'static str>),
    /// Assigned for a while, then ended with the purpose met.
    Ended(&'static str),
}

struct Story {
    municipality: &'static str,
    case_id: &'static str,
    /// Fictional.
    cpr: &'static str,
    display_name: &'static str,
    target: referral::TargetGroup,
    competences: &'static [&'static str],
    minutes: i32,
    /// The measure started this many months ago (first of the month).
    months_ago: u32,
    stage: Stage,
}

const ANNA: &str = "serviceUnits/ishoejgaard/contactPersons/anna-holm";
const JONAS: &str = "serviceUnits/ishoejgaard/contactPersons/jonas-berg";
const LEYLA: &str = "serviceUnits/ishoejgaard/contactPersons/leyla-hassan";
const KARIM: &str = "serviceUnits/ishoejgaard/contactPersons/karim-nasser";
const SOFIE: &str = "serviceUnits/ringsted/contactPersons/sofie-lund";
const PROVIDER: &str = "providers/misbrugshjaelp-aps";
const CONTRACT: &str = "providers/misbrugshjaelp-aps/contracts/rammeaftale-2026";

use referral::TargetGroup as T;

const STORIES: [Story; 12] = [
    Story {
        municipality: "183",
        case_id: "ISH-101",
        cpr: "140312-4108",
        display_name: "Emil (demo)",
        target: T::PsychologicalDifficulties,
        competences: &["family-work"],
        minutes: 180,
        months_ago: 0,
        stage: Stage::Draft,
    },
    Story {
        municipality: "183",
        case_id: "ISH-102",
        cpr: "220710-4217",
        display_name: "Sara (demo)",
        target: T::CrimeRisk,
        competences: &["crime-prevention"],
        minutes: 240,
        months_ago: 0,
        stage: Stage::Submitted,
    },
    Story {
        municipality: "183",
        case_id: "ISH-103",
        cpr: "050913-4326",
        display_name: "Noah (demo)",
        target: T::CrimeRisk,
        competences: &["crime-prevention", "school-support"],
        minutes: 300,
        months_ago: 3,
        stage: Stage::Assigned(JONAS),
    },
    Story {
        municipality: "183",
        case_id: "ISH-104",
        cpr: "171111-4435",
        display_name: "Yasmin (demo)",
        target: T::Other,
        competences: &["language-arabic"],
        minutes: 240,
        months_ago: 1,
        stage: Stage::Assigned(LEYLA),
    },
    Story {
        municipality: "183",
        case_id: "ISH-105",
        cpr: "290614-4544",
        display_name: "Liva (demo)",
        target: T::Disability,
        competences: &["language-somali"],
        minutes: 180,
        months_ago: 1,
        stage: Stage::Granted,
    },
    Story {
        municipality: "187",
        case_id: "VAL-201",
        cpr: "030210-4653",
        display_name: "Mikkel (demo)",
        target: T::SubstanceUse,
        competences: &["substance-abuse"],
        minutes: 240,
        months_ago: 2,
        stage: Stage::Bought(Some(KARIM)),
    },
    Story {
        municipality: "187",
        case_id: "VAL-202",
        cpr: "111209-4762",
        display_name: "Oliver (demo)",
        target: T::SubstanceUse,
        competences: &["substance-abuse"],
        minutes: 180,
        months_ago: 0,
        stage: Stage::Bought(None),
    },
    Story {
        municipality: "187",
        case_id: "VAL-203",
        cpr: "260513-4871",
        display_name: "Ida (demo)",
        target: T::PsychologicalDifficulties,
        competences: &["family-work"],
        minutes: 180,
        months_ago: 2,
        stage: Stage::Assigned(ANNA),
    },
    Story {
        municipality: "329",
        case_id: "RIN-301",
        cpr: "080112-4980",
        display_name: "Freja (demo)",
        target: T::PsychologicalDifficulties,
        competences: &["family-work"],
        minutes: 180,
        months_ago: 4,
        stage: Stage::Assigned(SOFIE),
    },
    Story {
        municipality: "329",
        case_id: "RIN-302",
        cpr: "190611-5089",
        display_name: "Lucas (demo)",
        target: T::CrimeRisk,
        competences: &["crime-prevention"],
        minutes: 180,
        months_ago: 2,
        stage: Stage::Assigned(SOFIE),
    },
    Story {
        municipality: "329",
        case_id: "RIN-303",
        cpr: "120713-4190",
        display_name: "Alma (demo)",
        target: T::Other,
        competences: &["family-work"],
        minutes: 180,
        months_ago: 0,
        stage: Stage::Submitted,
    },
    Story {
        municipality: "329",
        case_id: "RIN-304",
        cpr: "300910-4209",
        display_name: "William (demo)",
        target: T::CrimeRisk,
        competences: &["family-work"],
        minutes: 180,
        months_ago: 6,
        stage: Stage::Ended(SOFIE),
    },
];

/// How many demo arrangements there are.
pub const COUNT: usize = STORIES.len();

/// Whose tokens the stories are told with; `mint` signs claims with the dev key.
pub struct Tokens<'a> {
    pub mint: &'a dyn Fn(Claims) -> anyhow::Result<String>,
}

impl Tokens<'_> {
    fn as_role(&self, role: Role, municipalities: &[&str]) -> anyhow::Result<Bearer> {
        Bearer::new(&(self.mint)(Claims {
            sub: format!("demo-{}", role.as_str()),
            name: format!("Demo {}", role.as_str()),
            kontakt_roles: vec![role.as_str().into()],
            kontakt_municipalities: municipalities.iter().map(|m| m.to_string()).collect(),
            ..Claims::default()
        })?)
    }

    fn as_contact_person(&self, person: &str, municipalities: &[&str]) -> anyhow::Result<Bearer> {
        Bearer::new(&(self.mint)(Claims {
            sub: person.rsplit('/').next().unwrap_or(person).into(),
            kontakt_roles: vec![Role::ContactPerson.as_str().into()],
            kontakt_municipalities: municipalities.iter().map(|m| m.to_string()).collect(),
            kontakt_contact_person: Some(person.into()),
            ..Claims::default()
        })?)
    }
}

/// Where the services are.
pub struct Urls<'a> {
    pub referral: &'a str,
    pub matching: &'a str,
    pub timecost: &'a str,
}

/// The municipalities a unit's coordinator serves: Ishøjgård both of its, Ringsted its own.
fn served_with(municipality: &str) -> &'static [&'static str] {
    match municipality {
        "329" => &["329"],
        _ => &["183", "187"],
    }
}

/// Loads the stories as of `today`. Returns how many were made; 0 when they were there
/// already (the demo cases are looked up first, so that loading twice changes nothing).
pub async fn load(urls: &Urls<'_>, tokens: &Tokens<'_>, today: NaiveDate) -> anyhow::Result<usize> {
    // The stories, then the timesheets.
    let mut progress = Progress::new("Demo arrangements", COUNT + 1);
    let mut made = 0;
    for story in &STORIES {
        let counsellor: Referrals = ReferralServiceClient::with_interceptor(
            channel(urls.referral)?,
            tokens.as_role(Role::Counsellor, &[story.municipality])?,
        );
        if already_there(&counsellor, story).await? {
            progress.step(&format!("{} already there", story.case_id));
            continue;
        }
        tell(story, urls, tokens, counsellor, today)
            .await
            .with_context(|| format!("demo arrangement {}", story.case_id))?;
        made += 1;
        progress.step(story.case_id);
    }
    if made > 0 {
        approve_last_month(urls, tokens, today)
            .await
            .context("demo timesheets")?;
        progress.step("last month's timesheets approved");
    }
    progress.finish();
    Ok(made)
}

/// Last month's timesheet of each demo contact person on the payroll, submitted and approved,
/// so that the payroll export has something to show.
async fn approve_last_month(
    urls: &Urls<'_>,
    tokens: &Tokens<'_>,
    today: NaiveDate,
) -> anyhow::Result<()> {
    let start = first_of_month(today, 1);
    let end = first_of_month(today, 0) - chrono::Days::new(1);
    for person in [JONAS, LEYLA, ANNA, SOFIE] {
        let served = if person == SOFIE {
            &["329"][..]
        } else {
            &["183", "187"][..]
        };
        let mut own: TimeCost = TimeCostServiceClient::with_interceptor(
            channel(urls.timecost)?,
            tokens.as_contact_person(person, served)?,
        );
        let sheet = own
            .create_timesheet(timecost::CreateTimesheetRequest {
                parent: person.into(),
                period: Some(kontakt_proto::common::v1::DateRange {
                    start: date(start),
                    end: date(end),
                }),
            })
            .await?
            .into_inner();
        own.submit_timesheet(timecost::SubmitTimesheetRequest {
            name: sheet.name.clone(),
            etag: sheet.etag,
        })
        .await?;
        let mut coordinator: TimeCost = TimeCostServiceClient::with_interceptor(
            channel(urls.timecost)?,
            tokens.as_role(Role::Coordinator, served)?,
        );
        coordinator
            .approve_timesheet(timecost::ApproveTimesheetRequest {
                name: sheet.name,
                etag: String::new(),
            })
            .await?;
    }
    Ok(())
}

async fn already_there(counsellor: &Referrals, story: &Story) -> anyhow::Result<bool> {
    let found = counsellor
        .clone()
        .lookup_person(referral::LookupPersonRequest {
            parent: format!("municipalities/{}", story.municipality),
            cpr: story.cpr.into(),
        })
        .await;
    match found {
        Ok(_) => Ok(true),
        Err(status) if status.code() == tonic::Code::NotFound => Ok(false),
        Err(status) => Err(anyhow::anyhow!(
            "looking up the demo person of {}: {status}",
            story.case_id
        )),
    }
}

fn first_of_month(today: NaiveDate, months_ago: u32) -> NaiveDate {
    let first = today.with_day(1).unwrap_or(today);
    first
        .checked_sub_months(Months::new(months_ago))
        .unwrap_or(first)
}

/// A year from `start`, as the counsellor decides it — but no later than the day before the
/// child's 18th birthday, where a child basis ends (R-RV-5).
fn expected_end(story: &Story, start: NaiveDate) -> NaiveDate {
    let a_year = start.checked_add_months(Months::new(12)).unwrap_or(start) - chrono::Days::new(1);
    let last_day = kontakt_platform::cpr::Cpr::parse(story.cpr)
        .ok()
        .and_then(|cpr| cpr.birth_date().checked_add_months(Months::new(18 * 12)))
        .and_then(|eighteen| eighteen.pred_opt());
    last_day.map_or(a_year, |last| a_year.min(last))
}

fn date(day: NaiveDate) -> Option<kontakt_proto::common::v1::Date> {
    Some(day.into())
}

async fn tell(
    story: &Story,
    urls: &Urls<'_>,
    tokens: &Tokens<'_>,
    mut counsellor: Referrals,
    today: NaiveDate,
) -> anyhow::Result<()> {
    let m = story.municipality;
    let parent = format!("municipalities/{m}");
    // A measure starting today or in the future is decided now; an older one was decided
    // in the past, but the service dates every decision today: the terms carry the history.
    let start = if story.months_ago == 0 {
        first_of_month(today, 0)
            .checked_add_months(Months::new(1))
            .unwrap_or(today)
    } else {
        first_of_month(today, story.months_ago)
    };
    let prepared = today - chrono::Days::new(40);
    let person = counsellor
        .create_person(referral::CreatePersonRequest {
            parent: parent.clone(),
            cpr: story.cpr.into(),
            display_name: story.display_name.into(),
        })
        .await?
        .into_inner();
    let case = counsellor
        .create_case(referral::CreateCaseRequest {
            parent: parent.clone(),
            case: Some(referral::Case {
                case_system: "demo".into(),
                external_id: story.case_id.into(),
                kle_number: "27.27.24".into(),
                person: person.name.clone(),
                ..referral::Case::default()
            }),
        })
        .await?
        .into_inner();
    // Ishøj and Vallensbæk make an action plan before visitation; Ringsted does not need one.
    let plan = if m == "329" {
        String::new()
    } else {
        counsellor
            .create_plan(referral::CreatePlanRequest {
                parent: case.name.clone(),
                plan: Some(referral::Plan {
                    kind: referral::PlanKind::BarnetsPlan as i32,
                    plan_date: date(prepared),
                    goals: vec![referral::Goal {
                        description: "går i skole fire dage om ugen".into(),
                        ..referral::Goal::default()
                    }],
                    ..referral::Plan::default()
                }),
            })
            .await?
            .into_inner()
            .name
    };
    let made = counsellor
        .create_referral(referral::CreateReferralRequest {
            parent: parent.clone(),
            referral: Some(referral::Referral {
                case: case.name.clone(),
                recipient: referral::Recipient::Child as i32,
                target_groups: vec![story.target as i32],
                target_group_other: if story.target == T::Other {
                    "ensomhed efter flytning".into()
                } else {
                    String::new()
                },
                needs: Some(referral::Needs {
                    competences: story
                        .competences
                        .iter()
                        .map(|c| format!("competences/{c}"))
                        .collect(),
                    description: "en fast voksen uden for familien".into(),
                    ..referral::Needs::default()
                }),
                requested_minutes_per_week: story.minutes,
                purpose: "trivsel og skolegang".into(),
                expected_duration_months: 12,
                legal_basis: "legalBases/bl-32-1-3".into(),
                consent: Some(referral::Consent {
                    custody_holder_consented: true,
                    consent_date: date(prepared),
                    child_view: "vil gerne have en at tale med".into(),
                    ..referral::Consent::default()
                }),
                plan,
                network_statement: "familiens netværk kan ikke løfte opgaven".into(),
                ..referral::Referral::default()
            }),
            request_id: format!("demo-{}", story.case_id),
        })
        .await?
        .into_inner();
    counsellor
        .create_assessment(referral::CreateAssessmentRequest {
            parent: made.name.clone(),
            assessment: Some(referral::Assessment {
                // Both seeds decide on a børnefaglig undersøgelse (SEL § 50, now BL § 20).
                kind: referral::AssessmentKind::ChildAssessment as i32,
                need_known_date: date(prepared - chrono::Days::new(30)),
                completion_date: date(prepared),
                conclusion: "har brug for en fast voksen".into(),
                ..referral::Assessment::default()
            }),
        })
        .await?;
    if story.stage == Stage::Draft {
        return Ok(());
    }
    counsellor
        .submit_referral(referral::SubmitReferralRequest {
            name: made.name.clone(),
            etag: String::new(),
            validate_only: false,
        })
        .await?;
    // Where there is a committee, the referral goes on its next meeting's agenda.
    let mut decider = counsellor.clone();
    let mut level = referral::ApprovalLevel::OwnAuthority;
    if m != "329" {
        decider = ReferralServiceClient::with_interceptor(
            channel(urls.referral)?,
            tokens.as_role(Role::Committee, &[m])?,
        );
        level = referral::ApprovalLevel::Committee;
        let meeting = decider
            .create_committee_meeting(referral::CreateCommitteeMeetingRequest {
                parent: parent.clone(),
                committee_meeting: Some(referral::CommitteeMeeting {
                    committee: "Visitationsudvalget til Ishøjgård".into(),
                    meeting_date: date(today),
                    ..referral::CommitteeMeeting::default()
                }),
            })
            .await?
            .into_inner();
        decider
            .schedule_referral(referral::ScheduleReferralRequest {
                committee_meeting: meeting.name,
                referral: made.name.clone(),
            })
            .await?;
    }
    if story.stage == Stage::Submitted {
        return Ok(());
    }
    let decision = decider
        .decide_referral(referral::DecideReferralRequest {
            name: made.name.clone(),
            outcome: referral::DecisionOutcome::Approve as i32,
            approval_level: level as i32,
            minutes_per_week: story.minutes,
            start_date: date(start),
            expected_end_date: date(expected_end(story, start)),
            // The committee checked the plan's goals are realistic (R-RV-8).
            goals_realistic: level == referral::ApprovalLevel::Committee,
            ..referral::DecideReferralRequest::default()
        })
        .await?
        .into_inner();
    let person = match story.stage {
        Stage::Assigned(p) | Stage::Ended(p) | Stage::Bought(Some(p)) => Some(p),
        _ => None,
    };
    let coordinator: Matching = MatchingServiceClient::with_interceptor(
        channel(urls.matching)?,
        tokens.as_role(Role::Coordinator, served_with(m))?,
    );
    let grant_id = decision.grant.rsplit('/').next().unwrap_or_default();
    let request = format!("{parent}/matchingRequests/{grant_id}");
    // Matching opens the request from the GrantApproved event, a moment later.
    wait_for_request(&coordinator, &request).await?;
    if story.stage == Stage::Granted {
        return Ok(());
    }
    let mut coordinator = coordinator;
    if let Stage::Bought(_) = story.stage {
        let procurement = coordinator
            .create_procurement(matching::CreateProcurementRequest {
                parent: parent.clone(),
                procurement: Some(matching::Procurement {
                    matching_request: request.clone(),
                    provider: PROVIDER.into(),
                    contract: CONTRACT.into(),
                    reason: matching::ProcurementReason::SpecialProblemArea as i32,
                    reason_note: "misbrug: specialiseret indsats".into(),
                    ..matching::Procurement::default()
                }),
                request_id: format!("demo-{}", story.case_id),
            })
            .await?
            .into_inner();
        if person.is_none() {
            return Ok(());
        }
        let offered = coordinator
            .record_offer(matching::RecordOfferRequest {
                name: procurement.name.clone(),
                offered_hourly_price: Some(Money { ore: 52_500 }),
                note: "efter rammeaftalen (eksempel)".into(),
                etag: procurement.etag,
            })
            .await?
            .into_inner();
        coordinator
            .order_procurement(matching::OrderProcurementRequest {
                name: procurement.name,
                agreed_hourly_price: Some(Money { ore: 52_500 }),
                etag: offered.etag,
            })
            .await?;
    }
    let Some(person) = person else {
        return Ok(());
    };
    let assignment = coordinator
        .assign_contact_person(matching::AssignContactPersonRequest {
            matching_request: request,
            contact_person: person.into(),
            start_date: date(start),
            minutes_per_week: 0,
            request_id: format!("demo-{}", story.case_id),
        })
        .await?
        .into_inner();
    if start <= today {
        let registrar: TimeCost = TimeCostServiceClient::with_interceptor(
            channel(urls.timecost)?,
            tokens.as_contact_person(person, served_with(m))?,
        );
        register_recent_weeks(registrar, &assignment.name, start, today, story.minutes).await?;
    }
    if let Stage::Ended(_) = story.stage {
        counsellor
            .end_grant(referral::EndGrantRequest {
                name: decision.grant,
                end_date: date(today),
                reason: referral::GrantEndReason::PurposeMet as i32,
                note: "formålet er nået".into(),
                approval_level: level as i32,
                ..referral::EndGrantRequest::default()
            })
            .await?;
    }
    Ok(())
}

async fn wait_for_request(coordinator: &Matching, name: &str) -> anyhow::Result<()> {
    retrying(&[Code::NotFound, Code::Unavailable], || {
        let mut c = coordinator.clone();
        let name = name.to_owned();
        async move {
            c.get_matching_request(matching::GetMatchingRequestRequest { name })
                .await
        }
    })
    .await
    .map_err(|status| anyhow::anyhow!("the matching request {name} did not open: {status}"))?;
    Ok(())
}

/// Two meetings a week for the last four weeks (or since the start), within the grant's
/// minutes; time & cost learns of the assignment from matching's event a moment later.
async fn register_recent_weeks(
    registrar: TimeCost,
    assignment: &str,
    start: NaiveDate,
    today: NaiveDate,
    minutes_per_week: i32,
) -> anyhow::Result<()> {
    let from = start.max(today - chrono::Days::new(27));
    let mut day = from;
    let mut n = 0;
    let per_meeting = (minutes_per_week / 2 / 15 * 15).max(15);
    while day < today {
        // Tuesdays and Thursdays.
        let weekday = day.weekday().number_from_monday();
        if weekday == 2 || weekday == 4 {
            n += 1;
            let request = timecost::RegisterTimeRequest {
                parent: assignment.into(),
                time_entry: Some(timecost::TimeEntry {
                    work_date: date(day),
                    minutes: per_meeting,
                    activity_kind: "activityKinds/face-to-face".into(),
                    note: "samtale og aktivitet".into(),
                    ..timecost::TimeEntry::default()
                }),
                request_id: format!("demo-{assignment}-{n}"),
            };
            // Not known yet (NOT_FOUND): the AssignmentStarted event is on its way.
            retrying(&[Code::NotFound, Code::Unavailable], || {
                let mut c = registrar.clone();
                let request = request.clone();
                async move { c.register_time(request).await }
            })
            .await
            .map_err(|status| {
                anyhow::anyhow!("registering time on {assignment} for {day}: {status}")
            })?;
        }
        day = day.succ_opt().unwrap_or(today);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stories_cover_every_stage_in_all_three_municipalities_with_distinct_people() {
        let mut cprs: Vec<_> = STORIES.iter().map(|s| s.cpr).collect();
        cprs.sort_unstable();
        cprs.dedup();
        assert_eq!(cprs.len(), COUNT);
        for cpr in &cprs {
            kontakt_platform::cpr::Cpr::parse(cpr).expect("a valid (fictional) CPR number");
        }
        for m in ["183", "187", "329"] {
            assert!(STORIES.iter().any(|s| s.municipality == m));
        }
        let stages: Vec<_> = STORIES
            .iter()
            .map(|s| std::mem::discriminant(&s.stage))
            .collect();
        for stage in [
            Stage::Draft,
            Stage::Submitted,
            Stage::Granted,
            Stage::Assigned(""),
            Stage::Bought(None),
            Stage::Ended(""),
        ] {
            assert!(stages.contains(&std::mem::discriminant(&stage)));
        }
        // Ringsted's standard is 3 hours a week, and it decides without a committee.
        assert!(
            STORIES
                .iter()
                .filter(|s| s.municipality == "329")
                .all(|s| s.minutes <= 180)
        );
    }

    #[test]
    fn measures_start_on_the_first_of_a_past_or_the_next_month() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 24).expect("date");
        assert_eq!(
            first_of_month(today, 3),
            NaiveDate::from_ymd_opt(2026, 8, 1).expect("date")
        );
        assert_eq!(
            first_of_month(today, 0),
            NaiveDate::from_ymd_opt(2026, 11, 1).expect("date")
        );
    }
}
