//! Contact persons: who can deliver (R-MP-1), with their capacity and other duties (R-MP-4),
//! child-protection certificate (R-MP-6) and hourly rates (R-TC-3), seen by the municipalities
//! they serve and by themselves.

use kontakt_platform::auth::{MunicipalityCode, Principal};
use kontakt_platform::outbox::{self, NewEvent};
use kontakt_platform::resource::{self, check_etag, etag, valid_id};
use kontakt_platform::{ApiError, pagination};
use kontakt_proto::matching::v1::{
    ChildProtectionCertificate, ContactPerson, ContactPersonRatesChanged, ContactPersonState,
    CreateContactPersonRequest, Employment, GetContactPersonRequest, HourlyRate,
    ListContactPersonsRequest, ListContactPersonsResponse, OtherDuty, UpdateContactPersonRequest,
};
use tonic::Request;

use super::fields::{money, range};
use super::person_values::person_values;
use super::providers::PROVIDERS;
use super::{MatchingApi, competence_names, timestamp};
use crate::domain::people;
use crate::store::{PersonRow, PersonValues, RateRow};
use kontakt_proto::names;

const UNITS: &str = "serviceUnits";
const PERSONS: &str = "contactPersons";

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

pub(super) use kontakt_platform::resource::parse_contact_person as parse_person;
use kontakt_platform::resource::update_mask;

/// Whether the caller may see this person: a contact person only themselves; others when they
/// act for one of the municipalities the person serves.
pub(super) fn may_see(principal: &Principal, row: &PersonRow) -> bool {
    if let Some(own) = super::only_own(principal) {
        return own == names::contact_person(&row.unit, &row.id);
    }
    row.municipalities
        .iter()
        .filter_map(|m| MunicipalityCode::parse(m))
        .any(|m| principal.serves(m))
}

pub(super) fn employment_of(stored: &str) -> Employment {
    Employment::from_str_name(&format!("EMPLOYMENT_{stored}")).unwrap_or(Employment::Unspecified)
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
        name: names::contact_person(&row.unit, &row.id),
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

/// Every municipality in `codes` the caller does not act for.
fn not_served(principal: &Principal, codes: &[String]) -> Vec<String> {
    codes
        .iter()
        .filter(|c| MunicipalityCode::parse(c).is_none_or(|m| !principal.serves(m)))
        .cloned()
        .collect()
}

impl MatchingApi {
    /// Checks what a person's values refer to: catalogue competences, an existing provider, and
    /// municipalities the caller acts for.
    async fn check_references(
        &self,
        principal: &Principal,
        v: &PersonValues,
    ) -> Result<(), ApiError> {
        self.known_competences(
            &mut *self.store.conn().await?,
            &v.competences,
            "competences",
        )
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

    pub(super) async fn add_person(
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
                resource: names::contact_person(unit, &request.contact_person_id),
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

    pub(super) async fn person(
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

    pub(super) async fn persons(
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

    pub(super) async fn update_person(
        &self,
        request: Request<UpdateContactPersonRequest>,
    ) -> Result<ContactPerson, ApiError> {
        let principal = kontakt_platform::auth::caller(&request)?.clone();
        let request = request.into_inner();
        let input = request
            .contact_person
            .ok_or_else(|| ApiError::invalid("contact_person", "required"))?;
        let (unit, id) = parse_person(&input.name, "contact_person.name")?;
        let chosen = update_mask(request.update_mask.as_ref(), &UPDATABLE)?;
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
        self.known_competences(&mut tx, &values.competences, "competences")
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
