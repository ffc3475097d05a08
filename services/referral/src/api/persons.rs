//! Persons: a child or young person registered by CPR number, read, and found by it. The CPR
//! number is sealed in the vault and never shown back.

use kontakt_platform::audit::{self, Action, Entry};
use kontakt_platform::auth::{self, MunicipalityCode, Principal};
use kontakt_platform::cpr::Cpr;
use kontakt_platform::{ApiError, resource};
use kontakt_proto::referral::v1::{
    CreatePersonRequest, GetPersonRequest, LookupPersonRequest, Person,
};
use tonic::Request;

use super::ReferralApi;
use crate::store::{Created, NewPerson, PersonRow};
use kontakt_proto::names;

pub(super) const PERSONS: &str = "persons";
/// Longest display name accepted.
pub(super) const MAX_DISPLAY_NAME: usize = 200;

/// The municipality in `parent`, if the caller acts for it. Outside the caller's scope the
/// answer is NOT_FOUND, as for a resource that does not exist, so existence does not leak.
pub(super) fn scoped_municipality(
    principal: &Principal,
    parent: &str,
) -> Result<MunicipalityCode, ApiError> {
    let municipality = resource::parse_municipality(parent, "parent")?;
    if principal.serves(municipality) {
        Ok(municipality)
    } else {
        Err(ApiError::not_found(parent))
    }
}

pub(super) fn parse_cpr(text: &str) -> Result<Cpr, ApiError> {
    // The error says what is wrong with the format, never which digits were sent.
    Cpr::parse(text).map_err(|e| ApiError::invalid("cpr", e.to_string()))
}

pub(super) fn person_to_proto(row: PersonRow) -> Person {
    Person {
        name: names::person(&row.municipality, &row.id),
        display_name: row.display_name,
        birth_date: Some(row.birth_date.into()),
        create_time: Some(kontakt_proto::timestamp(row.create_time)),
        update_time: Some(kontakt_proto::timestamp(row.update_time)),
        etag: format!("\"{}\"", row.update_time.timestamp_micros()),
    }
}

impl ReferralApi {
    pub(super) async fn register_person(
        &self,
        request: Request<CreatePersonRequest>,
    ) -> Result<Person, ApiError> {
        let principal = auth::caller(&request)?.clone();
        let purpose = audit::purpose(&request, "registering a child or young person")?;
        let request = request.into_inner();
        let municipality = scoped_municipality(&principal, &request.parent)?;
        let cpr = parse_cpr(&request.cpr)?;
        let display_name = request.display_name.trim();
        if display_name.is_empty() || display_name.chars().count() > MAX_DISPLAY_NAME {
            return Err(ApiError::invalid(
                "display_name",
                format!("must be 1 to {MAX_DISPLAY_NAME} characters"),
            ));
        }
        let id = format!("p-{}", uuid::Uuid::new_v4().simple());
        let name = names::person(&municipality.to_string(), &id);
        // The ciphertext is bound to the person's name: copied onto another row it does not open.
        let sealed = self.vault.seal(&cpr, &name).map_err(ApiError::internal)?;
        let index = self.vault.blind_index(&cpr);
        let audit = [
            Entry::new(&principal, "CreatePerson", Action::Create, &name, purpose)
                .municipality(municipality)
                .person(&name),
        ];
        let created = self
            .store
            .create_person(
                NewPerson {
                    id: &id,
                    municipality: &municipality.to_string(),
                    display_name,
                    birth_date: cpr.birth_date(),
                    cpr_key_id: &sealed.key_id,
                    cpr_ciphertext: &sealed.ciphertext,
                    cpr_index: &index,
                },
                &audit,
            )
            .await?;
        match created {
            Created::Person(row) => Ok(person_to_proto(row)),
            Created::Exists(existing) => Err(ApiError::AlreadyExists {
                resource: names::person(&municipality.to_string(), &existing),
            }),
        }
    }

    pub(super) async fn read_person(
        &self,
        request: Request<GetPersonRequest>,
    ) -> Result<Person, ApiError> {
        let principal = auth::caller(&request)?.clone();
        let purpose = audit::purpose(&request, "case work")?;
        let name = request.into_inner().name;
        let (municipality, id) = resource::parse_in_municipality(&name, PERSONS, "name")?;
        if !principal.serves(municipality) {
            return Err(ApiError::not_found(&name));
        }
        let row = self
            .store
            .get_person(&municipality.to_string(), id)
            .await?
            .ok_or_else(|| ApiError::not_found(&name))?;
        // Durable before the answer leaves: no unlogged read of personal data.
        self.audit
            .record(vec![
                Entry::new(&principal, "GetPerson", Action::Read, &name, purpose)
                    .municipality(municipality)
                    .person(&name),
            ])
            .await?;
        Ok(person_to_proto(row))
    }

    pub(super) async fn find_person(
        &self,
        request: Request<LookupPersonRequest>,
    ) -> Result<Person, ApiError> {
        let principal = auth::caller(&request)?.clone();
        let purpose = audit::purpose(&request, "finding a child or young person by CPR number")?;
        let request = request.into_inner();
        let municipality = scoped_municipality(&principal, &request.parent)?;
        let cpr = parse_cpr(&request.cpr)?;
        let found = self
            .store
            .find_person_by_cpr(&municipality.to_string(), &self.vault.blind_index(&cpr))
            .await?;
        let person = found
            .as_ref()
            .map(|row| names::person(&row.municipality, &row.id));
        let mut entry = Entry::new(
            &principal,
            "LookupPerson",
            Action::Search,
            person
                .clone()
                .unwrap_or_else(|| format!("{}/{PERSONS}", request.parent)),
            purpose,
        )
        .municipality(municipality);
        if let Some(person) = &person {
            entry = entry.person(person);
        }
        // Searches are logged whether or not they find anyone.
        self.audit.record(vec![entry]).await?;
        found
            .map(person_to_proto)
            .ok_or_else(|| ApiError::not_found(format!("{}/{PERSONS}", request.parent)))
    }
}
