//! Contact persons, providers and framework contracts: who can deliver (R-MP-1), with their
//! capacity (R-MP-4), certificate (R-MP-6) and rates (R-TC-3).

use std::collections::BTreeSet;

use chrono::NaiveDate;
use kontakt_platform::auth::{MunicipalityCode, Principal};
use kontakt_platform::outbox::{self, NewEvent};
use kontakt_platform::resource::{self, check_etag, day, etag, valid_id};
use kontakt_platform::{ApiError, pagination};
use kontakt_proto::common::v1::{DateRange, Money};
use kontakt_proto::matching::v1::{
    CertificateResult, ChildProtectionCertificate, ContactPerson, ContactPersonRatesChanged,
    ContactPersonState, CreateContactPersonRequest, CreateFrameworkContractRequest,
    CreateProviderRequest, Employment, FrameworkContract, Gender, GetContactPersonRequest,
    GetProviderRequest, HourlyRate, ListContactPersonsRequest, ListContactPersonsResponse,
    ListFrameworkContractsRequest, ListFrameworkContractsResponse, ListProvidersRequest,
    ListProvidersResponse, OtherDuty, OtherDutyKind, Provider, UpdateContactPersonRequest,
};
use tonic::Request;
use tonic_types::FieldViolation;

use super::{MatchingApi, competence_names, timestamp};
use crate::domain::people::{self, Period};
use crate::store::{ContractRow, PersonRow, PersonValues, ProviderRow, RateRow};

const UNITS: &str = "serviceUnits";
const PERSONS: &str = "contactPersons";
const PROVIDERS: &str = "providers";
const CONTRACTS: &str = "contracts";
/// The longest week anyone can be booked for.
const MAX_WEEK_MINUTES: i32 = 7 * 24 * 60;
/// No hourly price above DKK 100,000 is a real one.
const MAX_HOURLY_ORE: i64 = 10_000_000;

/// UpdateContactPerson's mask.
const UPDATABLE: [&str; 9] = [
    "display_name",
    "competences",
    "gender",
    "municipalities",
    "weekly_capacity_minutes",
    "other_duties",
    "child_protection_certificate",
    "state",
    "rates",
];

pub(super) use kontakt_platform::resource::{
    contact_person_name as person_name, parse_contact_person as parse_person,
};

/// Whether the caller may see this person: a contact person only themselves; others when they
/// act for one of the municipalities the person serves.
pub(super) fn may_see(principal: &Principal, row: &PersonRow) -> bool {
    if let Some(own) = super::only_own(principal) {
        return own == person_name(&row.unit, &row.id);
    }
    row.municipalities
        .iter()
        .filter_map(|m| MunicipalityCode::parse(m))
        .any(|m| principal.serves(m))
}

fn stored_employment(e: Employment) -> &'static str {
    match e {
        Employment::Staff => "STAFF",
        Employment::Hourly => "HOURLY",
        _ => "PROVIDER",
    }
}

pub(super) fn employment_of(stored: &str) -> Employment {
    Employment::from_str_name(&format!("EMPLOYMENT_{stored}")).unwrap_or(Employment::Unspecified)
}

fn money(ore: i64) -> Option<Money> {
    Some(Money { ore })
}

fn range(from: NaiveDate, to: Option<NaiveDate>) -> Option<DateRange> {
    Some(DateRange {
        start: Some(from.into()),
        end: to.map(Into::into),
    })
}

pub(super) fn person_to_proto(row: PersonRow, rates: &[RateRow]) -> ContactPerson {
    let duties = row
        .duty_kinds
        .iter()
        .zip(&row.duty_minutes)
        .zip(&row.duty_descriptions)
        .map(|((kind, minutes), description)| OtherDuty {
            kind: *kind,
            minutes_per_week: *minutes,
            description: description.clone(),
        })
        .collect();
    ContactPerson {
        name: person_name(&row.unit, &row.id),
        display_name: row.display_name,
        employment: employment_of(&row.employment) as i32,
        provider: row
            .provider_id
            .map(|p| format!("{PROVIDERS}/{p}"))
            .unwrap_or_default(),
        competences: competence_names(&row.competences),
        gender: row.gender,
        municipalities: row.municipalities,
        weekly_capacity_minutes: row.weekly_capacity_minutes,
        other_duties: duties,
        booked_minutes_per_week: row.booked_minutes,
        child_protection_certificate: row.certificate_issue.map(|issue| {
            ChildProtectionCertificate {
                issue_date: Some(issue.into()),
                result: row.certificate_result.unwrap_or_default(),
                expiry_date: row.certificate_expiry.map(Into::into),
            }
        }),
        state: if row.state == "ACTIVE" {
            ContactPersonState::Active
        } else {
            ContactPersonState::Inactive
        } as i32,
        create_time: Some(timestamp(row.create_time)),
        update_time: Some(timestamp(row.update_time)),
        etag: etag(row.revision),
        rates: rates_to_proto(
            rates
                .iter()
                .filter(|r| r.unit == row.unit && r.person_id == row.id),
        ),
    }
}

pub(super) fn rates_to_proto<'a>(rates: impl Iterator<Item = &'a RateRow>) -> Vec<HourlyRate> {
    rates
        .map(|r| HourlyRate {
            hourly_price: money(r.hourly_ore),
            validity: range(r.valid_from, r.valid_to),
        })
        .collect()
}

/// `competences/{code}` names → codes, sorted and unique; every wrong one is reported.
fn competence_codes(names: &[String], field: &str, wrong: &mut Vec<FieldViolation>) -> Vec<String> {
    if names.len() > 50 {
        wrong.push(FieldViolation::new(field, "at most 50 competences"));
        return Vec::new();
    }
    let mut codes = BTreeSet::new();
    for (i, name) in names.iter().enumerate() {
        match name
            .strip_prefix("competences/")
            .filter(|code| valid_id(code))
        {
            Some(code) => {
                codes.insert(code.to_owned());
            }
            None => wrong.push(FieldViolation::new(
                format!("{field}[{i}]"),
                "must be `competences/{code}`",
            )),
        }
    }
    codes.into_iter().collect()
}

fn municipality_codes(
    codes: &[String],
    field: &str,
    allow_empty: bool,
    wrong: &mut Vec<FieldViolation>,
) -> Vec<String> {
    if codes.len() > 98 || (!allow_empty && codes.is_empty()) {
        wrong.push(FieldViolation::new(
            field,
            if allow_empty {
                "at most 98 municipality codes"
            } else {
                "1 to 98 municipality codes"
            },
        ));
        return Vec::new();
    }
    let mut valid = BTreeSet::new();
    for (i, code) in codes.iter().enumerate() {
        match MunicipalityCode::parse(code) {
            Some(m) => {
                valid.insert(m.to_string());
            }
            None => wrong.push(FieldViolation::new(
                format!("{field}[{i}]"),
                "must be a 3-digit municipality code",
            )),
        }
    }
    valid.into_iter().collect()
}

fn text(value: &str, field: &str, max: usize, required: bool, wrong: &mut Vec<FieldViolation>) {
    let len = value.trim().chars().count();
    if (required && len == 0) || value.chars().count() > max {
        wrong.push(FieldViolation::new(
            field,
            format!("{} to {max} characters", u8::from(required)),
        ));
    }
}

fn price(money: Option<&Money>, field: &str, wrong: &mut Vec<FieldViolation>) -> i64 {
    match money.map(|m| m.ore) {
        Some(ore) if ore > 0 && ore <= MAX_HOURLY_ORE => ore,
        _ => {
            wrong.push(FieldViolation::new(
                field,
                "required, above 0 and at most DKK 100,000.00 (in øre)",
            ));
            0
        }
    }
}

fn period(validity: Option<&DateRange>, field: &str, wrong: &mut Vec<FieldViolation>) -> Period {
    let start = validity.and_then(|v| v.start.as_ref());
    let end = validity.and_then(|v| v.end.as_ref());
    let from = match start.map(|d| d.to_naive()) {
        Some(Some(d)) => d,
        _ => {
            wrong.push(FieldViolation::new(
                format!("{field}.start"),
                "a valid first day is required",
            ));
            NaiveDate::MIN
        }
    };
    let to = match end.map(|d| d.to_naive()) {
        None => None,
        Some(Some(d)) if d >= from => Some(d),
        Some(_) => {
            wrong.push(FieldViolation::new(
                format!("{field}.end"),
                "a valid day, not before the start",
            ));
            None
        }
    };
    Period { from, to }
}

/// Checks a whole contact person and turns it into stored values; every wrong field is named.
fn person_values(p: &ContactPerson) -> Result<PersonValues, ApiError> {
    let mut wrong = Vec::new();
    text(&p.display_name, "display_name", 200, true, &mut wrong);
    let employment = Employment::try_from(p.employment).unwrap_or(Employment::Unspecified);
    let provider_id = match employment {
        Employment::Unspecified => {
            wrong.push(FieldViolation::new(
                "employment",
                "STAFF, HOURLY or PROVIDER is required (R-MP-1)",
            ));
            None
        }
        Employment::Provider => match p.provider.strip_prefix("providers/") {
            Some(id) if valid_id(id) => Some(id.to_owned()),
            _ => {
                wrong.push(FieldViolation::new(
                    "provider",
                    "a provider's employee needs `providers/{provider}`",
                ));
                None
            }
        },
        _ => {
            if !p.provider.is_empty() {
                wrong.push(FieldViolation::new(
                    "provider",
                    "only a PROVIDER employee names a provider",
                ));
            }
            None
        }
    };
    let competences = competence_codes(&p.competences, "competences", &mut wrong);
    if Gender::try_from(p.gender).is_err() {
        wrong.push(FieldViolation::new("gender", "not a known gender"));
    }
    let municipalities = municipality_codes(&p.municipalities, "municipalities", false, &mut wrong);
    if !(0..=MAX_WEEK_MINUTES).contains(&p.weekly_capacity_minutes) {
        wrong.push(FieldViolation::new(
            "weekly_capacity_minutes",
            format!("0 to {MAX_WEEK_MINUTES} minutes"),
        ));
    }
    if p.other_duties.len() > 20 {
        wrong.push(FieldViolation::new("other_duties", "at most 20 duties"));
    }
    let mut duty_kinds = Vec::new();
    let mut duty_minutes = Vec::new();
    let mut duty_descriptions = Vec::new();
    for (i, duty) in p.other_duties.iter().take(20).enumerate() {
        if matches!(
            OtherDutyKind::try_from(duty.kind),
            Ok(OtherDutyKind::Unspecified) | Err(_)
        ) {
            wrong.push(FieldViolation::new(
                format!("other_duties[{i}].kind"),
                "SUPERVISED_CONTACT, PARENT_SUPPORT or OTHER is required",
            ));
        }
        if !(1..=MAX_WEEK_MINUTES).contains(&duty.minutes_per_week) {
            wrong.push(FieldViolation::new(
                format!("other_duties[{i}].minutes_per_week"),
                format!("1 to {MAX_WEEK_MINUTES} minutes"),
            ));
        }
        text(
            &duty.description,
            &format!("other_duties[{i}].description"),
            200,
            false,
            &mut wrong,
        );
        duty_kinds.push(duty.kind);
        duty_minutes.push(duty.minutes_per_week);
        duty_descriptions.push(duty.description.trim().to_owned());
    }
    if (0..=MAX_WEEK_MINUTES).contains(&p.weekly_capacity_minutes)
        && people::capacity_for_assignments(p.weekly_capacity_minutes, &duty_minutes) < 0
    {
        wrong.push(FieldViolation::new(
            "other_duties",
            "other duties take more than the weekly capacity (R-MP-4)",
        ));
    }
    let certificate = match &p.child_protection_certificate {
        None => None,
        Some(c) => {
            let issue = day(
                c.issue_date.as_ref(),
                "child_protection_certificate.issue_date",
            )
            .unwrap_or(None);
            let expiry = day(
                c.expiry_date.as_ref(),
                "child_protection_certificate.expiry_date",
            );
            let result = CertificateResult::try_from(c.result);
            if issue.is_none() {
                wrong.push(FieldViolation::new(
                    "child_protection_certificate.issue_date",
                    "a valid issue date is required (R-MP-6)",
                ));
            }
            if !matches!(
                result,
                Ok(CertificateResult::Clear | CertificateResult::Entries)
            ) {
                wrong.push(FieldViolation::new(
                    "child_protection_certificate.result",
                    "CLEAR or ENTRIES is required (R-MP-6)",
                ));
            }
            let expiry = match expiry {
                Ok(Some(e)) if issue.is_some_and(|i| e < i) => {
                    wrong.push(FieldViolation::new(
                        "child_protection_certificate.expiry_date",
                        "must not be before the issue date",
                    ));
                    None
                }
                Ok(e) => e,
                Err(_) => {
                    wrong.push(FieldViolation::new(
                        "child_protection_certificate.expiry_date",
                        "not a valid calendar date",
                    ));
                    None
                }
            };
            issue.map(|i| (i, c.result, expiry))
        }
    };
    let state = match ContactPersonState::try_from(p.state) {
        Ok(ContactPersonState::Unspecified | ContactPersonState::Active) => "ACTIVE",
        Ok(ContactPersonState::Inactive) => "INACTIVE",
        Err(_) => {
            wrong.push(FieldViolation::new("state", "not a known state"));
            "ACTIVE"
        }
    };
    if employment == Employment::Provider && !p.rates.is_empty() {
        wrong.push(FieldViolation::new(
            "rates",
            "a provider's employee is paid by contract or agreed price, not a rate",
        ));
    }
    if p.rates.len() > 50 {
        wrong.push(FieldViolation::new("rates", "at most 50 rates"));
    }
    let mut rates = Vec::new();
    let mut periods = Vec::new();
    for (i, rate) in p.rates.iter().take(50).enumerate() {
        let ore = price(
            rate.hourly_price.as_ref(),
            &format!("rates[{i}].hourly_price"),
            &mut wrong,
        );
        let valid = period(
            rate.validity.as_ref(),
            &format!("rates[{i}].validity"),
            &mut wrong,
        );
        periods.push(valid);
        rates.push((valid.from, valid.to, ore));
    }
    if let Some((a, b)) = people::first_overlap(&periods) {
        wrong.push(FieldViolation::new(
            format!("rates[{b}].validity"),
            format!("overlaps rates[{a}]: one rate per day"),
        ));
    }
    if !wrong.is_empty() {
        return Err(ApiError::InvalidArgument(wrong));
    }
    Ok(PersonValues {
        display_name: p.display_name.trim().to_owned(),
        employment: stored_employment(employment),
        provider_id,
        competences,
        gender: p.gender,
        municipalities,
        weekly_capacity_minutes: p.weekly_capacity_minutes,
        duty_kinds,
        duty_minutes,
        duty_descriptions,
        certificate,
        state,
        rates,
    })
}

fn provider_to_proto(row: ProviderRow) -> Provider {
    Provider {
        name: format!("{PROVIDERS}/{}", row.id),
        display_name: row.display_name,
        cvr: row.cvr,
        competences: competence_names(&row.competences),
        create_time: Some(timestamp(row.create_time)),
        update_time: Some(timestamp(row.update_time)),
        etag: etag(row.revision),
    }
}

fn contract_to_proto(row: ContractRow) -> FrameworkContract {
    FrameworkContract {
        name: format!("{PROVIDERS}/{}/{CONTRACTS}/{}", row.provider_id, row.id),
        reference: row.reference,
        hourly_price: money(row.hourly_ore),
        validity: range(row.valid_from, row.valid_to),
        municipalities: row.municipalities,
        create_time: Some(timestamp(row.create_time)),
        update_time: Some(timestamp(row.update_time)),
        etag: etag(row.revision),
        competences: competence_names(&row.competences),
        weekly_capacity_minutes: row.weekly_capacity_minutes,
    }
}

/// Every municipality in `codes` the caller does not act for.
fn not_served(principal: &Principal, codes: &[String]) -> Vec<String> {
    codes
        .iter()
        .filter(|c| MunicipalityCode::parse(c).is_none_or(|m| !principal.serves(m)))
        .cloned()
        .collect()
}

impl MatchingApi {
    /// Refuses competences the catalogue does not have, naming them.
    async fn known_competences(&self, codes: &[String], field: &str) -> Result<(), ApiError> {
        let unknown = self.store.unknown_competences(codes).await?;
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid(
                field,
                format!("not in the competence catalogue: {}", unknown.join(", ")),
            ))
        }
    }

    /// Checks what a person's values refer to: catalogue competences, an existing provider, and
    /// municipalities the caller acts for.
    async fn check_references(
        &self,
        principal: &Principal,
        v: &PersonValues,
    ) -> Result<(), ApiError> {
        self.known_competences(&v.competences, "competences")
            .await?;
        if let Some(provider) = &v.provider_id
            && self.store.get_provider(provider).await?.is_none()
        {
            return Err(ApiError::invalid(
                "provider",
                format!("no provider `providers/{provider}`"),
            ));
        }
        let foreign = not_served(principal, &v.municipalities);
        if !foreign.is_empty() {
            return Err(ApiError::PermissionDenied(format!(
                "you do not act for municipality {}",
                foreign.join(", ")
            )));
        }
        Ok(())
    }

    async fn person_answer(&self, row: PersonRow) -> Result<ContactPerson, ApiError> {
        let mut conn = self.store.conn().await?;
        let rates = self
            .store
            .rates_of(&mut conn, &[(row.unit.clone(), row.id.clone())])
            .await?;
        Ok(person_to_proto(row, &rates))
    }

    pub(super) async fn create_contact_person(
        &self,
        request: Request<CreateContactPersonRequest>,
    ) -> Result<ContactPerson, ApiError> {
        let principal = kontakt_platform::auth::caller(&request)?.clone();
        let request = request.into_inner();
        let unit = resource::parse_top_level(&request.parent, UNITS, "parent")?;
        if !valid_id(&request.contact_person_id) {
            return Err(ApiError::invalid(
                "contact_person_id",
                "1 to 63 characters of a-z, 0-9 and -",
            ));
        }
        let person = request
            .contact_person
            .ok_or_else(|| ApiError::invalid("contact_person", "required"))?;
        let values = person_values(&person)?;
        self.check_references(&principal, &values).await?;
        let mut tx = self.store.begin().await?;
        if !self
            .store
            .insert_person(&mut tx, unit, &request.contact_person_id, &values)
            .await?
        {
            return Err(ApiError::AlreadyExists {
                resource: person_name(unit, &request.contact_person_id),
            });
        }
        let row = self
            .store
            .get_person(&mut tx, unit, &request.contact_person_id, false)
            .await?
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("inserted person not found")))?;
        tx.commit().await?;
        self.person_answer(row).await
    }

    pub(super) async fn get_contact_person(
        &self,
        request: Request<GetContactPersonRequest>,
    ) -> Result<ContactPerson, ApiError> {
        let principal = kontakt_platform::auth::caller(&request)?;
        let name = &request.get_ref().name;
        let (unit, id) = parse_person(name, "name")?;
        let mut conn = self.store.conn().await?;
        let row = self
            .store
            .get_person(&mut conn, &unit, &id, false)
            .await?
            .filter(|row| may_see(principal, row))
            .ok_or_else(|| ApiError::not_found(name))?;
        drop(conn);
        self.person_answer(row).await
    }

    pub(super) async fn list_contact_persons(
        &self,
        request: Request<ListContactPersonsRequest>,
    ) -> Result<ListContactPersonsResponse, ApiError> {
        let principal = kontakt_platform::auth::caller(&request)?;
        let body = request.get_ref();
        let unit = match body.parent.as_str() {
            "serviceUnits/-" => None,
            parent => Some(resource::parse_top_level(parent, UNITS, "parent")?),
        };
        let page_size = pagination::page_size(body.page_size)?;
        let municipalities: Vec<String> = if body.municipality.is_empty() {
            principal
                .municipalities
                .iter()
                .map(|m| m.to_string())
                .collect()
        } else {
            let m = MunicipalityCode::parse(&body.municipality).ok_or_else(|| {
                ApiError::invalid("municipality", "must be a 3-digit municipality code")
            })?;
            if !principal.serves(m) {
                return Err(ApiError::not_found(format!("municipalities/{m}")));
            }
            vec![m.to_string()]
        };
        let scope = format!(
            "{PERSONS}?parent={}&m={}",
            body.parent,
            municipalities.join(",")
        );
        let after = pagination::decode_token(&scope, &body.page_token)?
            .map(|key| {
                key.split_once('/')
                    .map(|(u, i)| (u.to_owned(), i.to_owned()))
                    .ok_or_else(|| {
                        ApiError::invalid("page_token", "not a page token returned by this list")
                    })
            })
            .transpose()?;
        let rows = self
            .store
            .list_persons(
                unit,
                &municipalities,
                after.as_ref().map(|(u, i)| (u.as_str(), i.as_str())),
                page_size + 1,
            )
            .await?;
        let (rows, next_page_token) =
            pagination::finish_page(rows, page_size, &scope, |r| format!("{}/{}", r.unit, r.id));
        let keys: Vec<(String, String)> = rows
            .iter()
            .map(|r| (r.unit.clone(), r.id.clone()))
            .collect();
        let mut conn = self.store.conn().await?;
        let rates = self.store.rates_of(&mut conn, &keys).await?;
        Ok(ListContactPersonsResponse {
            contact_persons: rows
                .into_iter()
                .map(|r| person_to_proto(r, &rates))
                .collect(),
            next_page_token,
        })
    }

    pub(super) async fn update_contact_person(
        &self,
        request: Request<UpdateContactPersonRequest>,
    ) -> Result<ContactPerson, ApiError> {
        let principal = kontakt_platform::auth::caller(&request)?.clone();
        let request = request.into_inner();
        let input = request
            .contact_person
            .ok_or_else(|| ApiError::invalid("contact_person", "required"))?;
        let (unit, id) = parse_person(&input.name, "contact_person.name")?;
        let paths: Vec<&str> = request
            .update_mask
            .as_ref()
            .map(|m| m.paths.iter().map(String::as_str).collect())
            .unwrap_or_default();
        let chosen: Vec<&str> = if paths == ["*"] {
            UPDATABLE.to_vec()
        } else {
            paths
        };
        if chosen.is_empty() {
            return Err(ApiError::invalid(
                "update_mask",
                format!("name the fields to change: {}", UPDATABLE.join(", ")),
            ));
        }
        if let Some(other) = chosen.iter().find(|p| !UPDATABLE.contains(p)) {
            return Err(ApiError::invalid(
                "update_mask",
                format!(
                    "`{other}` cannot be updated; updatable: {}",
                    UPDATABLE.join(", ")
                ),
            ));
        }
        let mut tx = self.store.begin().await?;
        let row = self
            .store
            .get_person(&mut tx, &unit, &id, true)
            .await?
            .filter(|row| may_see(&principal, row))
            .ok_or_else(|| ApiError::not_found(&input.name))?;
        check_etag(&input.etag, row.revision)?;
        let booked = row.booked_minutes;
        let rates = self
            .store
            .rates_of(&mut tx, &[(unit.clone(), id.clone())])
            .await?;
        let mut merged = person_to_proto(row, &rates);
        let before_municipalities = merged.municipalities.clone();
        let before_rates = merged.rates.clone();
        for path in &chosen {
            match *path {
                "display_name" => merged.display_name.clone_from(&input.display_name),
                "competences" => merged.competences.clone_from(&input.competences),
                "gender" => merged.gender = input.gender,
                "municipalities" => merged.municipalities.clone_from(&input.municipalities),
                "weekly_capacity_minutes" => {
                    merged.weekly_capacity_minutes = input.weekly_capacity_minutes;
                }
                "other_duties" => merged.other_duties.clone_from(&input.other_duties),
                "child_protection_certificate" => {
                    merged
                        .child_protection_certificate
                        .clone_from(&input.child_protection_certificate);
                }
                "state" => merged.state = input.state,
                _ => merged.rates.clone_from(&input.rates),
            }
        }
        let values = person_values(&merged)?;
        self.known_competences(&values.competences, "competences")
            .await?;
        // Municipalities added must be the caller's; those already there may stay.
        let added: Vec<String> = values
            .municipalities
            .iter()
            .filter(|m| !before_municipalities.contains(m))
            .cloned()
            .collect();
        let foreign = not_served(&principal, &added);
        if !foreign.is_empty() {
            return Err(ApiError::PermissionDenied(format!(
                "you do not act for municipality {}",
                foreign.join(", ")
            )));
        }
        people::capacity_covers_bookings(
            values.weekly_capacity_minutes,
            &values.duty_minutes,
            booked,
        )?;
        self.store
            .update_person(&mut tx, &unit, &id, &values)
            .await?;
        // Time & cost prices by the rate of the day: it hears of every change (R-TC-3).
        if merged.rates != before_rates {
            let changed = ContactPersonRatesChanged {
                contact_person: input.name.clone(),
                employment: merged.employment,
                rates: merged.rates.clone(),
            };
            outbox::write(
                &mut tx,
                crate::SCHEMA,
                &NewEvent::new(&changed, None, &input.name),
            )
            .await?;
        }
        let row = self
            .store
            .get_person(&mut tx, &unit, &id, false)
            .await?
            .ok_or_else(|| ApiError::not_found(&input.name))?;
        tx.commit().await?;
        self.person_answer(row).await
    }

    pub(super) async fn create_provider(
        &self,
        request: Request<CreateProviderRequest>,
    ) -> Result<Provider, ApiError> {
        let request = request.into_inner();
        let mut wrong = Vec::new();
        if !valid_id(&request.provider_id) {
            wrong.push(FieldViolation::new(
                "provider_id",
                "1 to 63 characters of a-z, 0-9 and -",
            ));
        }
        let provider = request.provider.unwrap_or_default();
        text(
            &provider.display_name,
            "provider.display_name",
            200,
            true,
            &mut wrong,
        );
        if !people::valid_cvr(&provider.cvr) {
            wrong.push(FieldViolation::new(
                "provider.cvr",
                "a CVR number: 8 digits passing the modulus-11 check",
            ));
        }
        let competences =
            competence_codes(&provider.competences, "provider.competences", &mut wrong);
        if !wrong.is_empty() {
            return Err(ApiError::InvalidArgument(wrong));
        }
        self.known_competences(&competences, "provider.competences")
            .await?;
        if !self
            .store
            .insert_provider(
                &request.provider_id,
                provider.display_name.trim(),
                &provider.cvr,
                &competences,
            )
            .await?
        {
            return Err(ApiError::AlreadyExists {
                resource: format!(
                    "{PROVIDERS}/{} (or a provider with CVR {})",
                    request.provider_id, provider.cvr
                ),
            });
        }
        let row = self
            .store
            .get_provider(&request.provider_id)
            .await?
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("inserted provider not found")))?;
        Ok(provider_to_proto(row))
    }

    pub(super) async fn get_provider(
        &self,
        request: Request<GetProviderRequest>,
    ) -> Result<Provider, ApiError> {
        let name = request.into_inner().name;
        let id = resource::parse_top_level(&name, PROVIDERS, "name")?;
        let row = self
            .store
            .get_provider(id)
            .await?
            .ok_or_else(|| ApiError::not_found(&name))?;
        Ok(provider_to_proto(row))
    }

    pub(super) async fn list_providers(
        &self,
        request: Request<ListProvidersRequest>,
    ) -> Result<ListProvidersResponse, ApiError> {
        let request = request.into_inner();
        let page_size = pagination::page_size(request.page_size)?;
        let after = pagination::decode_token(PROVIDERS, &request.page_token)?;
        let rows = self
            .store
            .list_providers(after.as_deref(), page_size + 1)
            .await?;
        let (rows, next_page_token) =
            pagination::finish_page(rows, page_size, PROVIDERS, |r| r.id.clone());
        Ok(ListProvidersResponse {
            providers: rows.into_iter().map(provider_to_proto).collect(),
            next_page_token,
        })
    }

    pub(super) async fn create_framework_contract(
        &self,
        request: Request<CreateFrameworkContractRequest>,
    ) -> Result<FrameworkContract, ApiError> {
        let request = request.into_inner();
        let provider_id = resource::parse_top_level(&request.parent, PROVIDERS, "parent")?;
        let mut wrong = Vec::new();
        if !valid_id(&request.contract_id) {
            wrong.push(FieldViolation::new(
                "contract_id",
                "1 to 63 characters of a-z, 0-9 and -",
            ));
        }
        let contract = request.contract.unwrap_or_default();
        text(
            &contract.reference,
            "contract.reference",
            200,
            true,
            &mut wrong,
        );
        let hourly_ore = price(
            contract.hourly_price.as_ref(),
            "contract.hourly_price",
            &mut wrong,
        );
        let validity = period(contract.validity.as_ref(), "contract.validity", &mut wrong);
        let municipalities = municipality_codes(
            &contract.municipalities,
            "contract.municipalities",
            true,
            &mut wrong,
        );
        let competences =
            competence_codes(&contract.competences, "contract.competences", &mut wrong);
        if !(0..=100 * MAX_WEEK_MINUTES).contains(&contract.weekly_capacity_minutes) {
            wrong.push(FieldViolation::new(
                "contract.weekly_capacity_minutes",
                "0 (not limited) or a positive number of minutes",
            ));
        }
        if !wrong.is_empty() {
            return Err(ApiError::InvalidArgument(wrong));
        }
        self.known_competences(&competences, "contract.competences")
            .await?;
        if self.store.get_provider(provider_id).await?.is_none() {
            return Err(ApiError::not_found(&request.parent));
        }
        let row = ContractRow {
            provider_id: provider_id.to_owned(),
            id: request.contract_id.clone(),
            reference: contract.reference.trim().to_owned(),
            hourly_ore,
            valid_from: validity.from,
            valid_to: validity.to,
            municipalities,
            competences,
            weekly_capacity_minutes: contract.weekly_capacity_minutes,
            revision: 1,
            create_time: chrono::Utc::now(),
            update_time: chrono::Utc::now(),
        };
        if !self.store.insert_contract(&row).await? {
            return Err(ApiError::AlreadyExists {
                resource: format!("{}/{CONTRACTS}/{}", request.parent, request.contract_id),
            });
        }
        let row = self
            .store
            .get_contract(provider_id, &request.contract_id)
            .await?
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("inserted contract not found")))?;
        Ok(contract_to_proto(row))
    }

    pub(super) async fn list_framework_contracts(
        &self,
        request: Request<ListFrameworkContractsRequest>,
    ) -> Result<ListFrameworkContractsResponse, ApiError> {
        let request = request.into_inner();
        let provider_id = resource::parse_top_level(&request.parent, PROVIDERS, "parent")?;
        let page_size = pagination::page_size(request.page_size)?;
        let scope = format!("{CONTRACTS}?{}", request.parent);
        let after = pagination::decode_token(&scope, &request.page_token)?;
        if self.store.get_provider(provider_id).await?.is_none() {
            return Err(ApiError::not_found(&request.parent));
        }
        let rows = self
            .store
            .list_contracts(provider_id, after.as_deref(), page_size + 1)
            .await?;
        let (rows, next_page_token) =
            pagination::finish_page(rows, page_size, &scope, |r| r.id.clone());
        Ok(ListFrameworkContractsResponse {
            contracts: rows.into_iter().map(contract_to_proto).collect(),
            next_page_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> ContactPerson {
        ContactPerson {
            display_name: "Anna".into(),
            employment: Employment::Staff as i32,
            competences: vec!["competences/substance-abuse".into()],
            municipalities: vec!["183".into()],
            weekly_capacity_minutes: 1_200,
            ..ContactPerson::default()
        }
    }

    fn fields(err: ApiError) -> Vec<String> {
        match err {
            ApiError::InvalidArgument(v) => v.into_iter().map(|f| f.field).collect(),
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_person_is_accepted_and_every_wrong_field_is_named() {
        assert!(person_values(&valid()).is_ok());
        let wrong = ContactPerson {
            display_name: " ".into(),
            employment: 0,
            competences: vec!["substance-abuse".into()],
            municipalities: vec![],
            weekly_capacity_minutes: -1,
            other_duties: vec![OtherDuty {
                kind: 0,
                minutes_per_week: 0,
                description: String::new(),
            }],
            child_protection_certificate: Some(ChildProtectionCertificate::default()),
            ..ContactPerson::default()
        };
        assert_eq!(
            fields(person_values(&wrong).err().expect("invalid")),
            [
                "display_name",
                "employment",
                "competences[0]",
                "municipalities",
                "weekly_capacity_minutes",
                "other_duties[0].kind",
                "other_duties[0].minutes_per_week",
                "child_protection_certificate.issue_date",
                "child_protection_certificate.result",
            ]
        );
    }

    #[test]
    fn duties_beyond_capacity_and_overlapping_rates_are_refused() {
        let rate = |from: i32, to: Option<i32>| HourlyRate {
            hourly_price: money(30_000),
            validity: Some(DateRange {
                start: Some(kontakt_proto::common::v1::Date {
                    year: from,
                    month: 1,
                    day: 1,
                }),
                end: to.map(|y| kontakt_proto::common::v1::Date {
                    year: y,
                    month: 12,
                    day: 31,
                }),
            }),
        };
        let person = ContactPerson {
            other_duties: vec![OtherDuty {
                kind: OtherDutyKind::SupervisedContact as i32,
                minutes_per_week: 1_500,
                description: String::new(),
            }],
            rates: vec![
                rate(2025, Some(2025)),
                rate(2026, None),
                rate(2026, Some(2026)),
            ],
            ..valid()
        };
        assert_eq!(
            fields(person_values(&person).err().expect("invalid")),
            ["other_duties", "rates[2].validity"]
        );
    }

    #[test]
    fn only_a_providers_employee_names_a_provider_and_has_no_rate() {
        let staff_with_provider = ContactPerson {
            provider: "providers/p".into(),
            ..valid()
        };
        assert_eq!(
            fields(person_values(&staff_with_provider).err().expect("invalid")),
            ["provider"]
        );
        let provider_without = ContactPerson {
            employment: Employment::Provider as i32,
            ..valid()
        };
        assert_eq!(
            fields(person_values(&provider_without).err().expect("invalid")),
            ["provider"]
        );
        let ok = ContactPerson {
            employment: Employment::Provider as i32,
            provider: "providers/p".into(),
            ..valid()
        };
        assert_eq!(
            person_values(&ok).ok().and_then(|v| v.provider_id),
            Some("p".into())
        );
    }

    #[test]
    fn person_names_parse_and_bad_ones_name_the_field() {
        assert_eq!(
            parse_person("serviceUnits/ishoejgaard/contactPersons/anna", "name").ok(),
            Some(("ishoejgaard".into(), "anna".into()))
        );
        for bad in [
            "serviceUnits//contactPersons/anna",
            "serviceUnits/U/contactPersons/anna",
            "contactPersons/anna",
            "serviceUnits/u/persons/anna",
        ] {
            assert!(parse_person(bad, "name").is_err(), "{bad}");
        }
    }
}
