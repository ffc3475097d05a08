//! Imports: an arrangement granted in the municipality's old system, brought over whole in one
//! transaction (person, case, referral as decided, decision, grant and versions, the event that
//! gives it a follow-up schedule and a matching request) or not at all. The checks of what the
//! old system holds are `domain::import`'s; here the fields are read and the rows written.

use chrono::NaiveDate;
use kontakt_platform::audit::{Action, AuditLog, Caller};
use kontakt_platform::outbox::{self, NewEvent};
use kontakt_platform::resource::scoped_parent;
use kontakt_platform::{ApiError, Refusal};
use kontakt_proto::common::v1::Date;
use kontakt_proto::names;
use kontakt_proto::referral::v1::{
    ApprovalLevel, Decision, DecisionOutcome, GrantApproved, GrantVersion,
    ImportArrangementRequest, ImportArrangementResponse, ImportedArrangement, Recipient, Referral,
    ReferralState,
};
use prost::Message as _;
use sha2::{Digest as _, Sha256};
use tonic::Request;
use tonic_types::FieldViolation;

use super::ReferralApi;
use super::common::{MAX_SHORT, MAX_TEXT, SCHEMA, new_id, state_column, text_ok};
use super::persons::{MAX_DISPLAY_NAME, parse_cpr};
use super::referral_fields::{draft_body, draft_field_errors};
use crate::domain::age::age_years;
use crate::domain::decision::AgeLimit;
use crate::domain::import::{self, Imported, Terms};
use crate::grants::approved_by_policy;
use crate::store::{
    CaseRow, Created, ImportRow, LegalBasisRow, NewGrant, NewPerson, NewVersion, ReferralRow,
};

/// More rows than the legal-basis catalogue has (a few dozen), so one page is all of it.
const CATALOGUE_PAGE: i64 = 1000;

/// The arrangement's dates, read (each required one present and a calendar date).
struct Dates {
    decision: NaiveDate,
    start: NaiveDate,
    expected_end: NaiveDate,
    terms: Vec<Terms>,
    held: Vec<NaiveDate>,
    next_follow_up: Option<NaiveDate>,
}

fn read_dates(a: &ImportedArrangement, wrong: &mut Vec<FieldViolation>) -> Option<Dates> {
    let mut read = |d: Option<&Date>, field: &str, required: bool| match d {
        None if required => {
            wrong.push(FieldViolation::new(
                format!("arrangement.{field}"),
                "required",
            ));
            None
        }
        None => None,
        Some(d) => d.to_naive().or_else(|| {
            wrong.push(FieldViolation::new(
                format!("arrangement.{field}"),
                "not a valid calendar date",
            ));
            None
        }),
    };
    let decision = read(a.decision_date.as_ref(), "decision_date", true);
    let start = read(a.start_date.as_ref(), "start_date", true);
    let expected_end = read(a.expected_end_date.as_ref(), "expected_end_date", true);
    let next_follow_up = read(a.next_follow_up_date.as_ref(), "next_follow_up_date", false);
    let terms: Vec<Option<Terms>> = a
        .terms
        .iter()
        .enumerate()
        .map(|(i, t)| {
            read(
                t.effective_from.as_ref(),
                &format!("terms[{i}].effective_from"),
                true,
            )
            .map(|effective_from| Terms {
                effective_from,
                minutes_per_week: t.minutes_per_week,
            })
        })
        .collect();
    let held: Vec<Option<NaiveDate>> = a
        .follow_ups_held
        .iter()
        .enumerate()
        .map(|(i, d)| read(Some(d), &format!("follow_ups_held[{i}]"), true))
        .collect();
    Some(Dates {
        decision: decision?,
        start: start?,
        expected_end: expected_end?,
        terms: terms.into_iter().collect::<Option<_>>()?,
        held: held.into_iter().collect::<Option<_>>()?,
        next_follow_up,
    })
}

/// The text fields' shapes, every one named at once.
fn text_errors(a: &ImportedArrangement) -> Vec<FieldViolation> {
    let mut wrong = Vec::new();
    for (field, value, max) in [
        ("source_system", &a.source_system, 100),
        ("source_id", &a.source_id, 100),
        ("case_external_id", &a.case_external_id, 100),
        ("decider", &a.decider, MAX_SHORT),
        ("counsellor", &a.counsellor, MAX_SHORT),
        ("display_name", &a.display_name, MAX_DISPLAY_NAME),
    ] {
        if value.trim().is_empty() || !text_ok(value, max) {
            wrong.push(FieldViolation::new(
                format!("arrangement.{field}"),
                format!("1 to {max} characters"),
            ));
        }
    }
    for (i, t) in a.terms.iter().enumerate() {
        if !text_ok(&t.justification, MAX_TEXT) {
            wrong.push(FieldViolation::new(
                format!("arrangement.terms[{i}].justification"),
                "at most 4000 characters",
            ));
        }
    }
    if Recipient::try_from(a.recipient).is_err() || a.recipient == Recipient::Unspecified as i32 {
        wrong.push(FieldViolation::new(
            "arrangement.recipient",
            "CHILD or FAMILY",
        ));
    }
    if ApprovalLevel::try_from(a.approval_level)
        .ok()
        .is_none_or(|l| l == ApprovalLevel::Unspecified)
    {
        wrong.push(FieldViolation::new(
            "arrangement.approval_level",
            "the level that decided it (R-RV-12)",
        ));
    }
    wrong
}

/// The referral the arrangement was granted on, as its body is stored.
fn referral_of(a: &ImportedArrangement) -> Referral {
    Referral {
        recipient: a.recipient,
        needs: a.needs.clone(),
        purpose: a.purpose.trim().to_owned(),
        legal_basis: a.legal_basis.clone(),
        requested_minutes_per_week: a.terms.first().map_or(0, |t| t.minutes_per_week),
        hours_justification: a
            .terms
            .first()
            .map(|t| t.justification.clone())
            .unwrap_or_default(),
        counsellor: a.counsellor.trim().to_owned(),
        ..Referral::default()
    }
}

impl ReferralApi {
    pub(super) async fn bring_over(
        &self,
        request: Request<ImportArrangementRequest>,
    ) -> Result<ImportArrangementResponse, ApiError> {
        let caller = Caller::of(&request, "bringing over an arrangement from the old system")?;
        let principal = &caller.principal;
        let body = request.into_inner();
        let municipality = scoped_parent(principal, &body.parent)?;
        let m = municipality.to_string();
        let a = body
            .arrangement
            .ok_or_else(|| ApiError::invalid("arrangement", "the arrangement is required"))?;
        let today = self.clock.today();
        let mut wrong = text_errors(&a);
        let referral = referral_of(&a);
        wrong.extend(draft_field_errors(&referral, "arrangement."));
        let cpr = parse_cpr(&a.cpr).map_err(|_| ());
        if cpr.is_err() {
            wrong.push(FieldViolation::new(
                "arrangement.cpr",
                "a valid CPR number (10 digits, with or without the hyphen)",
            ));
        }
        let kle = self.store.kle_numbers_in_force(today).await?;
        if !kle.contains(&a.kle_number) {
            wrong.push(FieldViolation::new(
                "arrangement.kle_number",
                format!("a KLE number in force: {}", kle.join(", ")),
            ));
        }
        // The whole catalogue once: the basis as decided and, for a repealed one, what replaced
        // it (the transition: SEL § 52 stk. 3 nr. 6 is the grant's as decided, and the grant
        // rests on the Barnets Lov basis).
        let catalogue: std::collections::HashMap<String, LegalBasisRow> = self
            .store
            .list_legal_bases(None, CATALOGUE_PAGE, true, today)
            .await?
            .into_iter()
            .map(|row| (row.code.clone(), row))
            .collect();
        let decided_row =
            names::legal_basis_code(&a.legal_basis).and_then(|code| catalogue.get(code));
        if decided_row.is_none() {
            wrong.push(FieldViolation::new(
                "arrangement.legal_basis",
                "a basis of the catalogue, `legalBases/{code}` (ListLegalBases)",
            ));
        }
        let dates = read_dates(&a, &mut wrong);
        let (Some(dates), Ok(cpr), Some(decided_row), true) =
            (dates, cpr, decided_row, wrong.is_empty())
        else {
            return Err(ApiError::InvalidArgument(wrong));
        };
        let in_force = import::basis_in_force(&decided_row.code, |c| {
            catalogue.get(c).and_then(|row| row.replaced_by.as_deref())
        })
        .to_owned();
        let Some(basis) = catalogue.get(&in_force).map(LegalBasisRow::facts) else {
            return Err(ApiError::invalid(
                "arrangement.legal_basis",
                "the basis that replaced it is not in the catalogue",
            ));
        };
        let mut tx = self.store.begin().await?;
        if basis.compulsory {
            return Err(ApiError::invalid(
                "arrangement.legal_basis",
                "a compulsory measure carries its condition's end and the authority's reference \
                 (R-RV-4): register it as a referral, not an import",
            ));
        }
        let policy = self.policy_on(&mut tx, &m, today).await?;
        let birth_date = cpr.birth_date();
        let limit = AgeLimit::of(&basis, birth_date);
        let problems = import::problems(&Imported {
            today,
            decision_date: dates.decision,
            start: dates.start,
            expected_end: dates.expected_end,
            terms: &dates.terms,
            held: &dates.held,
            next_follow_up: dates.next_follow_up,
            interval_months: policy.follow_up_interval_months,
            age_limit: limit,
        });
        if !problems.is_empty() {
            return Err(ApiError::InvalidArgument(
                problems
                    .into_iter()
                    .map(|(field, text)| FieldViolation::new(format!("arrangement.{field}"), text))
                    .collect(),
            ));
        }
        let index = self.vault.blind_index(&cpr);
        // The key's content without the CPR number itself: a digest of it could be reversed.
        let digest = {
            let mut keyed = a.clone();
            keyed.cpr = index.iter().map(|b| format!("{b:02x}")).collect();
            Sha256::digest(keyed.encode_to_vec()).to_vec()
        };
        let source_system = a.source_system.trim();
        let source_id = a.source_id.trim();
        if let Some(done) = self
            .store
            .lock_import(&mut tx, &m, source_system, source_id)
            .await?
        {
            if done.digest != digest {
                return Err(ApiError::AlreadyExists {
                    resource: names::grant(&m, &done.grant_id),
                });
            }
            tx.commit().await?;
            return Ok(ImportArrangementResponse {
                grant: names::grant(&m, &done.grant_id),
                referral: names::referral(&m, &done.referral_id),
                case: names::case(&m, &done.case_id),
                person: names::person(&m, &done.person_id),
                legal_basis: names::legal_basis(&done.legal_basis),
                already_imported: true,
                validated_only: false,
            });
        }
        if body.validate_only {
            tx.rollback().await?;
            return Ok(ImportArrangementResponse {
                legal_basis: names::legal_basis(&in_force),
                validated_only: true,
                ..ImportArrangementResponse::default()
            });
        }
        // The person: the municipality's one with this CPR number, or a new one.
        let person_id = new_id("p");
        let sealed = self
            .vault
            .seal(&cpr, &names::person(&m, &person_id))
            .map_err(ApiError::internal)?;
        let person_id = match crate::store::Store::insert_person(
            &mut tx,
            &NewPerson {
                id: &person_id,
                municipality: &m,
                display_name: a.display_name.trim(),
                birth_date,
                cpr_key_id: &sealed.key_id,
                cpr_ciphertext: &sealed.ciphertext,
                cpr_index: &index,
            },
        )
        .await?
        {
            Created::Person(row) => row.id,
            Created::Exists(id) => id,
        };
        let person = names::person(&m, &person_id);
        let counsellor = a.counsellor.trim().to_owned();
        let now = self.clock.now();
        let (case, _) = self
            .store
            .insert_case(
                &mut tx,
                &CaseRow {
                    municipality: m.clone(),
                    id: new_id("c"),
                    case_system: source_system.to_owned(),
                    external_id: a.case_external_id.trim().to_owned(),
                    kle_number: a.kle_number.clone(),
                    person_id: person_id.clone(),
                    counsellor: counsellor.clone(),
                    create_time: now,
                    update_time: now,
                },
            )
            .await?;
        if case.person_id != person_id {
            return Err(ApiError::invalid(
                "arrangement.case_external_id",
                "a case of another person in this municipality's old system",
            ));
        }
        // The referral as decided, approved; its body keeps the basis as decided.
        let referral_id = new_id("r");
        let row = ReferralRow {
            municipality: m.clone(),
            id: referral_id.clone(),
            case_id: case.id.clone(),
            person_id: person_id.clone(),
            counsellor: counsellor.clone(),
            state: String::new(),
            body: draft_body(&referral),
            request_id: format!("import:{source_system}:{source_id}"),
            committee_meeting: None,
            revision: 1,
            submit_time: None,
            create_time: now,
            update_time: now,
        };
        let (mut row, _) = self
            .store
            .insert_referral(&mut tx, &row)
            .await?
            .map_err(|open| {
                ApiError::from(Refusal::new(
                    "OPEN_REFERRAL",
                    format!(
                        "the case has an open referral, {}: decide or withdraw it first",
                        names::referral(&m, &open)
                    ),
                ))
            })?;
        row.state = state_column(ReferralState::Approved).into();
        let row = self.store.save_referral(&mut tx, &row, true).await?;
        let referral_name = names::referral(&m, &referral_id);
        let level = ApprovalLevel::try_from(a.approval_level).unwrap_or(ApprovalLevel::Unspecified);
        let decider = format!("{source_system}:{}", a.decider.trim());
        let decision_id = new_id("d");
        let decision_name = format!("{referral_name}/decisions/{decision_id}");
        let grant_id = new_id("g");
        let grant = names::grant(&m, &grant_id);
        let first = dates.terms[0];
        let current = *import::terms_on(&dates.terms, today).unwrap_or(&first);
        let decision = Decision {
            name: decision_name.clone(),
            outcome: DecisionOutcome::Approve as i32,
            approval_level: level as i32,
            decider: decider.clone(),
            decision_date: Some(dates.decision.into()),
            reason: format!("Overført fra {source_system} ({source_id})"),
            minutes_per_week: first.minutes_per_week,
            start_date: Some(dates.start.into()),
            expected_end_date: Some(dates.expected_end.into()),
            grant: grant.clone(),
            ..Decision::default()
        };
        self.store
            .insert_decision(
                &mut tx,
                &m,
                &referral_id,
                &decision_id,
                "APPROVE",
                &decision.encode_to_vec(),
            )
            .await?;
        let version_body = |t: &Terms, i: usize| {
            GrantVersion {
                minutes_per_week: t.minutes_per_week,
                decision: decision_name.clone(),
                justification: a.terms[i].justification.clone(),
                expected_end_date: Some(dates.expected_end.into()),
                approval_level: level as i32,
                decider: decider.clone(),
                ..GrantVersion::default()
            }
            .encode_to_vec()
        };
        self.store
            .insert_grant(
                &mut tx,
                &NewGrant {
                    municipality: &m,
                    id: &grant_id,
                    referral_id: &referral_id,
                    case_id: &case.id,
                    person_id: &person_id,
                    counsellor: &counsellor,
                    recipient: a.recipient,
                    legal_basis: &names::legal_basis(&in_force),
                    purpose: a.purpose.trim(),
                    start_date: dates.start,
                    expected_end_date: dates.expected_end,
                    review_date: None,
                    compulsory_until: None,
                    version_id: "v1",
                    minutes_per_week: first.minutes_per_week,
                    version_body: &version_body(&first, 0),
                },
            )
            .await?;
        let mut current_version = "v1".to_owned();
        for (i, t) in dates.terms.iter().enumerate().skip(1) {
            let id = format!("v{}", i + 1);
            self.store
                .insert_version(
                    &mut tx,
                    &NewVersion {
                        municipality: &m,
                        grant_id: &grant_id,
                        id: &id,
                        minutes_per_week: t.minutes_per_week,
                        effective_from: t.effective_from,
                        expected_end_date: dates.expected_end,
                        body: &version_body(t, i),
                        request_id: &format!("import:{source_system}:{source_id}:{id}"),
                    },
                    &format!("v{i}"),
                )
                .await?;
            if t.effective_from <= today {
                current_version = id;
            }
        }
        // The grant as it stands today: the terms in force and the history already held.
        let approved = GrantApproved {
            grant: grant.clone(),
            version: format!("{grant}/versions/{current_version}"),
            referral: referral_name.clone(),
            case: names::case(&m, &case.id),
            person: person.clone(),
            municipality: m.clone(),
            recipient: a.recipient,
            legal_basis: names::legal_basis(&in_force),
            minutes_per_week: current.minutes_per_week,
            start_date: Some(dates.start.into()),
            expected_end_date: Some(dates.expected_end.into()),
            // Matching looks for the person's age group now, when its request opens.
            age_years_at_start: i32::try_from(age_years(birth_date, dates.start.max(today)))
                .unwrap_or(0),
            needs: a.needs.clone(),
            counsellor: counsellor.clone(),
            imported_from: format!("{source_system}/{source_id}"),
            follow_ups_held: dates.held.iter().map(|d| (*d).into()).collect(),
            next_follow_up_date: dates.next_follow_up.map(Into::into),
            ..approved_by_policy(
                &policy,
                a.recipient == Recipient::Family as i32,
                age_years(birth_date, dates.start.max(today)),
                limit,
            )
        };
        outbox::write(
            &mut tx,
            SCHEMA,
            &NewEvent::new(&approved, Some(m.clone()), &grant),
        )
        .await?;
        self.store
            .insert_import(
                &mut tx,
                &ImportRow {
                    municipality: m.clone(),
                    source_system: source_system.to_owned(),
                    source_id: source_id.to_owned(),
                    digest,
                    person_id: person_id.clone(),
                    case_id: case.id.clone(),
                    referral_id: row.id.clone(),
                    grant_id: grant_id.clone(),
                    legal_basis: in_force.clone(),
                },
            )
            .await?;
        let audit: Vec<_> = [&person, &names::case(&m, &case.id), &referral_name, &grant]
            .into_iter()
            .map(|resource| {
                caller.entry(
                    "ImportArrangement",
                    Action::Create,
                    resource,
                    municipality,
                    &person,
                )
            })
            .collect();
        AuditLog::record_in(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(ImportArrangementResponse {
            grant,
            referral: referral_name,
            case: names::case(&m, &case.id),
            person,
            legal_basis: names::legal_basis(&in_force),
            already_imported: false,
            validated_only: false,
        })
    }
}
