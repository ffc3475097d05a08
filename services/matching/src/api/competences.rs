//! The competence catalogue people and needs are described with (R-MP-3).

use kontakt_platform::{ApiError, pagination, resource};
use kontakt_proto::matching::v1::{
    Competence, CompetenceCategory, GetCompetenceRequest, ListCompetencesRequest,
    ListCompetencesResponse,
};
use tonic::Request;

use super::{COMPETENCES, MatchingApi};
use crate::store::CompetenceRow;

/// The stored spelling of a category; `None` for "all".
fn category_filter(value: i32) -> Result<Option<&'static str>, ApiError> {
    match CompetenceCategory::try_from(value) {
        Ok(CompetenceCategory::Unspecified) => Ok(None),
        Ok(category) => Ok(Some(
            category
                .as_str_name()
                .trim_start_matches("COMPETENCE_CATEGORY_"),
        )),
        Err(_) => Err(ApiError::invalid(
            "category",
            format!("unknown category {value}"),
        )),
    }
}

impl MatchingApi {
    pub(super) async fn competences(
        &self,
        request: Request<ListCompetencesRequest>,
    ) -> Result<ListCompetencesResponse, ApiError> {
        let request = request.into_inner();
        let page_size = pagination::page_size(request.page_size)?;
        let category = category_filter(request.category)?;
        // The token is only valid for the same filter it was issued under.
        let scope = format!("{COMPETENCES}?category={}", category.unwrap_or("*"));
        let after = pagination::decode_token(&scope, &request.page_token)?;
        let rows = self
            .store
            .list_competences(after.as_deref(), page_size + 1, category)
            .await?;
        let (rows, next_page_token) =
            pagination::finish_page(rows, page_size, &scope, |r| r.code.clone());
        Ok(ListCompetencesResponse {
            competences: rows.into_iter().map(to_proto).collect(),
            next_page_token,
        })
    }

    pub(super) async fn competence(
        &self,
        request: Request<GetCompetenceRequest>,
    ) -> Result<Competence, ApiError> {
        let name = request.into_inner().name;
        let code = resource::parse_top_level(&name, COMPETENCES, "name")?;
        let row = self
            .store
            .get_competence(code)
            .await?
            .ok_or_else(|| ApiError::not_found(&name))?;
        Ok(to_proto(row))
    }
}

fn to_proto(row: CompetenceRow) -> Competence {
    let category =
        CompetenceCategory::from_str_name(&format!("COMPETENCE_CATEGORY_{}", row.category))
            .unwrap_or(CompetenceCategory::Unspecified);
    Competence {
        name: format!("{COMPETENCES}/{}", row.code),
        code: row.code,
        category: category.into(),
        display_name: row.display_name,
        description: row.description,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_category_maps_to_the_spelling_the_schema_allows() {
        let stored = [
            "PROBLEM_AREA",
            "LANGUAGE",
            "CULTURAL_BACKGROUND",
            "AGE_GROUP",
            "METHOD",
        ];
        for (value, expected) in (1..=5).zip(stored) {
            assert_eq!(category_filter(value).ok().flatten(), Some(expected));
        }
        assert_eq!(category_filter(0).ok(), Some(None));
        assert!(category_filter(99).is_err());
    }
}
