//! Cases: a child's case from the municipality's case system, registered and read.

use kontakt_platform::audit::{Action, Caller};
use kontakt_platform::resource::{scoped, scoped_parent};
use kontakt_platform::{ApiError, resource};
use kontakt_proto::referral::v1::{Case, CreateCaseRequest, GetCaseRequest};
use tonic::Request;
use tonic_types::FieldViolation;

use super::ReferralApi;
use super::common::{MAX_SHORT, new_id, text_ok};
use crate::store::CaseRow;
use kontakt_proto::names;

pub(super) fn case_to_proto(row: CaseRow) -> Case {
    Case {
        name: names::case(&row.municipality, &row.id),
        case_system: row.case_system,
        external_id: row.external_id,
        kle_number: row.kle_number,
        person: names::person(&row.municipality, &row.person_id),
        counsellor: row.counsellor,
        create_time: Some(kontakt_proto::timestamp(row.create_time)),
        update_time: Some(kontakt_proto::timestamp(row.update_time)),
        etag: format!("\"{}\"", row.update_time.timestamp_micros()),
    }
}

impl ReferralApi {
    pub(super) async fn register_case(
        &self,
        request: Request<CreateCaseRequest>,
    ) -> Result<Case, ApiError> {
        let caller = Caller::of(&request, "registering a case")?;
        let principal = &caller.principal;
        let request = request.into_inner();
        let municipality = scoped_parent(principal, &request.parent)?;
        let case = request
            .case
            .ok_or_else(|| ApiError::invalid("case", "the case is required"))?;
        let mut wrong = Vec::new();
        for (field, value) in [
            ("case.case_system", &case.case_system),
            ("case.external_id", &case.external_id),
        ] {
            if value.trim().is_empty() || !text_ok(value, 100) {
                wrong.push(FieldViolation::new(field, "1 to 100 characters"));
            }
        }
        let today = self.clock.today();
        let kle = self.store.kle_numbers_in_force(today).await?;
        if !kle.contains(&case.kle_number) {
            wrong.push(FieldViolation::new(
                "case.kle_number",
                format!("a KLE number in force: {}", kle.join(", ")),
            ));
        }
        let person = resource::parse_in_municipality(&case.person, "persons", "case.person");
        match &person {
            Ok((m, _)) if *m != municipality => wrong.push(FieldViolation::new(
                "case.person",
                "the person must belong to the case's municipality",
            )),
            Err(_) => wrong.push(FieldViolation::new(
                "case.person",
                "must be `municipalities/{code}/persons/{id}`",
            )),
            Ok(_) => {}
        }
        if !text_ok(&case.counsellor, MAX_SHORT) {
            wrong.push(FieldViolation::new(
                "case.counsellor",
                "at most 200 characters",
            ));
        }
        if !wrong.is_empty() {
            return Err(ApiError::InvalidArgument(wrong));
        }
        let person_id = person.map(|(_, id)| id.to_owned())?;
        let m = municipality.to_string();
        if self.store.person_exists(&m, &person_id).await?.is_none() {
            return Err(ApiError::invalid(
                "case.person",
                "no such person in this municipality",
            ));
        }
        let counsellor = if case.counsellor.trim().is_empty() {
            principal.subject.clone()
        } else {
            case.counsellor.trim().to_owned()
        };
        let now = self.clock.now();
        let row = CaseRow {
            municipality: m.clone(),
            id: new_id("c"),
            case_system: case.case_system.trim().to_owned(),
            external_id: case.external_id.trim().to_owned(),
            kle_number: case.kle_number,
            person_id: person_id.clone(),
            counsellor,
            create_time: now,
            update_time: now,
        };
        let mut tx = self.store.begin().await?;
        let (stored, created) = self.store.insert_case(&mut tx, &row).await?;
        // A retry of the same registration gets the same case; the same reference for another
        // child is a conflict, not a retry.
        if !created && stored.person_id != person_id {
            return Err(ApiError::AlreadyExists {
                resource: names::case(&m, &stored.id),
            });
        }
        let name = names::case(&m, &stored.id);
        let person = names::person(&m, &stored.person_id);
        caller
            .wrote(
                &mut tx,
                "CreateCase",
                Action::Create,
                &name,
                municipality,
                &person,
            )
            .await?;
        tx.commit().await?;
        Ok(case_to_proto(stored))
    }

    pub(super) async fn read_case(
        &self,
        request: Request<GetCaseRequest>,
    ) -> Result<Case, ApiError> {
        let caller = Caller::of(&request, "case work")?;
        let principal = &caller.principal;
        let name = request.into_inner().name;
        let (municipality, id) = scoped(principal, &name, "cases", "name")?;
        let row = self
            .store
            .get_case(&municipality.to_string(), id)
            .await?
            .ok_or_else(|| ApiError::not_found(&name))?;
        let person = names::person(&row.municipality, &row.person_id);
        self.read_logged(&caller, "GetCase", &name, municipality, &person)
            .await?;
        Ok(case_to_proto(row))
    }
}
