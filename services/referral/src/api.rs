//! The gRPC surface: proto <-> rows, and nothing else.

use kontakt_platform::clock::SharedClock;
use kontakt_platform::{ApiError, pagination, resource};
use kontakt_proto::referral::v1::{
    GetLegalBasisRequest, Law, LegalBasis, ListLegalBasesRequest, ListLegalBasesResponse,
    referral_service_server::ReferralService,
};
use tonic::{Request, Response, Status};

use crate::store::{LegalBasisRow, Store};

const LEGAL_BASES: &str = "legalBases";

pub struct ReferralApi {
    store: Store,
    clock: SharedClock,
}

impl ReferralApi {
    pub fn new(store: Store, clock: SharedClock) -> Self {
        Self { store, clock }
    }
}

#[tonic::async_trait]
impl ReferralService for ReferralApi {
    async fn list_legal_bases(
        &self,
        request: Request<ListLegalBasesRequest>,
    ) -> Result<Response<ListLegalBasesResponse>, Status> {
        let request = request.into_inner();
        let page_size = pagination::page_size(request.page_size)?;
        // The token is only valid for the same filter it was issued under.
        let scope = format!(
            "{LEGAL_BASES}?include_repealed={}",
            request.include_repealed
        );
        let after = pagination::decode_token(&scope, &request.page_token)?;
        let rows = self
            .store
            .list_legal_bases(
                after.as_deref(),
                page_size + 1,
                request.include_repealed,
                self.clock.today(),
            )
            .await
            .map_err(ApiError::from)?;
        let (rows, next_page_token) = pagination::finish_page(rows, page_size, &scope, |r| &r.code);
        Ok(Response::new(ListLegalBasesResponse {
            legal_bases: rows.into_iter().map(to_proto).collect(),
            next_page_token,
        }))
    }

    async fn get_legal_basis(
        &self,
        request: Request<GetLegalBasisRequest>,
    ) -> Result<Response<LegalBasis>, Status> {
        let name = request.into_inner().name;
        let code = resource::parse_top_level(&name, LEGAL_BASES, "name")?;
        let row = self
            .store
            .get_legal_basis(code)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::not_found(&name))?;
        Ok(Response::new(to_proto(row)))
    }
}

fn to_proto(row: LegalBasisRow) -> LegalBasis {
    let law = match row.law.as_str() {
        "BARNETS_LOV" => Law::BarnetsLov,
        "SERVICELOVEN" => Law::Serviceloven,
        "STRAFFELOVEN" => Law::Straffeloven,
        "RETSPLEJELOVEN" => Law::Retsplejeloven,
        _ => Law::Unspecified,
    };
    LegalBasis {
        name: format!("{LEGAL_BASES}/{}", row.code),
        code: row.code,
        law: law.into(),
        citation: row.citation,
        title: row.title,
        description: row.description,
        valid_from: Some(row.valid_from.into()),
        valid_until: row.valid_until.map(Into::into),
        replaced_by: row
            .replaced_by
            .map(|code| format!("{LEGAL_BASES}/{code}"))
            .unwrap_or_default(),
    }
}
