//! Grants after the decision: read, listed, and their version history.

use chrono::NaiveDate;
use kontakt_platform::audit::Caller;
use kontakt_platform::resource::{etag, scoped, scoped_parent};
use kontakt_platform::{ApiError, pagination};
use kontakt_proto::common::v1::DateRange;
use kontakt_proto::referral::v1::{
    ApprovalLevel, GetGrantRequest, Grant, GrantEndReason, GrantState, GrantVersion,
    ListGrantVersionsRequest, ListGrantVersionsResponse, ListGrantsRequest, ListGrantsResponse,
};
use tonic::Request;

use super::ReferralApi;
use super::common::{decode, text_ok};
use crate::store::{GrantFilter, GrantRow, VersionRow};
use kontakt_proto::names;

pub(super) fn grant_to_proto(row: GrantRow) -> Grant {
    let m = &row.municipality;
    Grant {
        name: names::grant(m, &row.id),
        state: if row.state == "ENDED" {
            GrantState::Ended
        } else {
            GrantState::Active
        } as i32,
        referral: names::referral(m, &row.referral_id),
        case: names::case(m, &row.case_id),
        person: names::person(m, &row.person_id),
        recipient: row.recipient,
        legal_basis: row.legal_basis,
        purpose: row.purpose,
        start_date: Some(row.start_date.into()),
        expected_end_date: Some(row.expected_end_date.into()),
        end_date: row.end_date.map(Into::into),
        current_version: row
            .version_id
            .map(|v| format!("{}/versions/{v}", names::grant(m, &row.id)))
            .unwrap_or_default(),
        create_time: Some(kontakt_proto::timestamp(row.create_time)),
        update_time: Some(kontakt_proto::timestamp(row.update_time)),
        etag: etag(row.revision),
        minutes_per_week: row.minutes_per_week.unwrap_or_default(),
        review_date: row.review_date.map(Into::into),
        counsellor: row.counsellor,
        compulsory_until: row.compulsory_until.map(Into::into),
        end_reason: row
            .end_reason
            .as_deref()
            .and_then(|r| GrantEndReason::from_str_name(&format!("GRANT_END_REASON_{r}")))
            .unwrap_or(GrantEndReason::Unspecified) as i32,
        end_note: row.end_note,
        end_approval_level: row
            .end_level
            .as_deref()
            .and_then(|l| ApprovalLevel::from_str_name(&format!("APPROVAL_LEVEL_{l}")))
            .unwrap_or(ApprovalLevel::Unspecified) as i32,
        end_authority_reference: row.end_authority_reference,
        ended_by: row.ended_by,
    }
}

pub(super) fn version_to_proto(row: VersionRow) -> Result<GrantVersion, ApiError> {
    let mut version: GrantVersion = decode(&row.body)?;
    version.name = format!(
        "{}/versions/{}",
        names::grant(&row.municipality, &row.grant_id),
        row.id
    );
    version.minutes_per_week = row.minutes_per_week;
    version.effective = Some(DateRange {
        start: Some(row.effective_from.into()),
        end: row.effective_to.map(Into::into),
    });
    version.withdrawn = row.withdrawn;
    version.create_time = Some(kontakt_proto::timestamp(row.create_time));
    Ok(version)
}

impl ReferralApi {
    pub(super) async fn read_grant(
        &self,
        request: Request<GetGrantRequest>,
    ) -> Result<Grant, ApiError> {
        let caller = Caller::of(&request, "case work")?;
        let name = request.into_inner().name;
        let (municipality, id) = scoped(&caller.principal, &name, "grants", "name")?;
        let row = self
            .store
            .get_grant(&municipality.to_string(), id, self.clock.today())
            .await?
            .ok_or_else(|| ApiError::not_found(&name))?;
        let person = names::person(&row.municipality, &row.person_id);
        self.read_logged(&caller, "GetGrant", &name, municipality, &person)
            .await?;
        Ok(grant_to_proto(row))
    }

    pub(super) async fn read_grants(
        &self,
        request: Request<ListGrantsRequest>,
    ) -> Result<ListGrantsResponse, ApiError> {
        let caller = Caller::of(&request, "case work")?;
        let request = request.into_inner();
        let municipality = scoped_parent(&caller.principal, &request.parent)?;
        let m = municipality.to_string();
        let page_size = pagination::page_size(request.page_size)?;
        let state = match GrantState::try_from(request.state) {
            Ok(GrantState::Unspecified) => None,
            Ok(GrantState::Active) => Some("ACTIVE"),
            Ok(GrantState::Ended) => Some("ENDED"),
            Err(_) => return Err(ApiError::invalid("state", "not a known grant state")),
        };
        let person_id = if request.person.is_empty() {
            None
        } else {
            let (pm, id) = scoped(&caller.principal, &request.person, "persons", "person")?;
            if pm != municipality {
                return Err(ApiError::invalid(
                    "person",
                    "must be a person of the listed municipality",
                ));
            }
            Some(id)
        };
        if !text_ok(&request.counsellor, 200) {
            return Err(ApiError::invalid("counsellor", "at most 200 characters"));
        }
        let counsellor = Some(request.counsellor.as_str()).filter(|c| !c.is_empty());
        // The token is bound to the municipality and filter it was issued under.
        let scope = format!(
            "grants?m={m}&state={}&person={}&counsellor={}",
            request.state, request.person, request.counsellor
        );
        let after = pagination::decode_time_token(&scope, &request.page_token)?;
        let rows = self
            .store
            .list_grants(
                &m,
                &GrantFilter {
                    state,
                    person_id,
                    counsellor,
                },
                after.as_ref().map(|(t, id)| (*t, id.as_str())),
                page_size + 1,
                self.clock.today(),
            )
            .await?;
        let (rows, next_page_token) = pagination::finish_page(rows, page_size, &scope, |r| {
            pagination::time_key(r.create_time, &r.id)
        });
        let reads = rows
            .iter()
            .map(|r| (names::grant(&m, &r.id), names::person(&m, &r.person_id)));
        self.reads_logged(&caller, "ListGrants", municipality, reads)
            .await?;
        Ok(ListGrantsResponse {
            grants: rows.into_iter().map(grant_to_proto).collect(),
            next_page_token,
        })
    }

    pub(super) async fn read_versions(
        &self,
        request: Request<ListGrantVersionsRequest>,
    ) -> Result<ListGrantVersionsResponse, ApiError> {
        let caller = Caller::of(&request, "case work")?;
        let request = request.into_inner();
        let (municipality, id) = scoped(&caller.principal, &request.parent, "grants", "parent")?;
        let m = municipality.to_string();
        let page_size = pagination::page_size(request.page_size)?;
        let grant = self
            .store
            .get_grant(&m, id, self.clock.today())
            .await?
            .ok_or_else(|| ApiError::not_found(&request.parent))?;
        let scope = format!("versions?{}", request.parent);
        let after = pagination::decode_token(&scope, &request.page_token)?
            .map(|key| {
                key.split_once(',')
                    .and_then(|(d, v)| Some((d.parse::<NaiveDate>().ok()?, v.to_owned())))
                    .ok_or_else(|| {
                        ApiError::invalid("page_token", "not a page token returned by this list")
                    })
            })
            .transpose()?;
        let rows = self
            .store
            .list_versions(
                &m,
                id,
                after.as_ref().map(|(d, v)| (*d, v.as_str())),
                page_size + 1,
            )
            .await?;
        let (rows, next_page_token) = pagination::finish_page(rows, page_size, &scope, |r| {
            format!("{},{}", r.effective_from, r.id)
        });
        let person = names::person(&m, &grant.person_id);
        self.read_logged(
            &caller,
            "ListGrantVersions",
            &request.parent,
            municipality,
            &person,
        )
        .await?;
        Ok(ListGrantVersionsResponse {
            versions: rows
                .into_iter()
                .map(version_to_proto)
                .collect::<Result<_, _>>()?,
            next_page_token,
        })
    }
}
