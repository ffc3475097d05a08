//! External providers and their framework contracts (R-MP-2): who can be bought from, at what
//! hourly price (R-TC-3), for which municipalities.

use kontakt_platform::resource::{self, etag, valid_id};
use kontakt_platform::{ApiError, pagination};
use kontakt_proto::matching::v1::{
    CreateFrameworkContractRequest, CreateProviderRequest, FrameworkContract, GetProviderRequest,
    ListFrameworkContractsRequest, ListFrameworkContractsResponse, ListProvidersRequest,
    ListProvidersResponse, Provider,
};
use tonic::Request;
use tonic_types::FieldViolation;

use super::fields::{competence_codes, money, municipality_codes, period, price, range, text};
use super::{MAX_WEEK_MINUTES, MatchingApi, competence_names, timestamp};
use crate::domain::people;
use crate::store::{ContractRow, ProviderRow};

pub(super) const PROVIDERS: &str = "providers";
const CONTRACTS: &str = "contracts";

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

impl MatchingApi {
    pub(super) async fn add_provider(
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
        self.known_competences(
            &mut *self.store.conn().await?,
            &competences,
            "provider.competences",
        )
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

    pub(super) async fn provider(
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

    pub(super) async fn providers(
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

    pub(super) async fn add_contract(
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
        self.known_competences(
            &mut *self.store.conn().await?,
            &competences,
            "contract.competences",
        )
        .await?;
        if self.store.get_provider(provider_id).await?.is_none() {
            return Err(ApiError::not_found(&request.parent));
        }
        let now = self.clock.now();
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
            create_time: now,
            update_time: now,
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

    pub(super) async fn contracts(
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
