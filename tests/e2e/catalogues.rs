//! The catalogues the services serve today, as an integrator meets them: listing with
//! pagination, getting by name, and clear errors for bad names and tokens.

use std::collections::HashSet;
use std::sync::Arc;

use kontakt::Service;
use kontakt_harness::{Start, fresh_database, start};
use kontakt_platform::clock::ManualClock;
use kontakt_proto::matching::v1::matching_service_client::MatchingServiceClient;
use kontakt_proto::matching::v1::{
    CompetenceCategory, GetCompetenceRequest, ListCompetencesRequest,
};
use kontakt_proto::referral::v1::referral_service_client::ReferralServiceClient;
use kontakt_proto::referral::v1::{GetLegalBasisRequest, Law, ListLegalBasesRequest};
use kontakt_proto::timecost::v1::time_cost_service_client::TimeCostServiceClient;
use kontakt_proto::timecost::v1::{GetActivityKindRequest, ListActivityKindsRequest};
use tonic::Code;
use tonic_types::StatusExt as _;

#[tokio::test]
async fn legal_bases_page_through_the_whole_catalogue_without_repeats() {
    let db = fresh_database().await.expect("database");
    let running = start(Service::Referral, &db).await.expect("service");
    let mut client = ReferralServiceClient::new(running.admin());

    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_legal_bases(ListLegalBasesRequest {
                page_size: 4,
                page_token: token.clone(),
                include_repealed: true,
            })
            .await
            .expect("page")
            .into_inner();
        assert!(page.legal_bases.len() <= 4);
        seen.extend(page.legal_bases.into_iter().map(|b| b.code));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no basis twice: {seen:?}");
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "ordered by code");
    // Both laws are in the catalogue (DOMAIN.md §3).
    assert!(seen.contains(&"bl-32-1-3".to_owned()));
    assert!(seen.contains(&"sel-52-3-6".to_owned()));
    running.stop().await.expect("stop");
}

#[tokio::test]
async fn repealed_serviceloven_bases_are_listed_only_when_asked_for_or_while_in_force() {
    let db = fresh_database().await.expect("database");
    // Today: Serviceloven's children's parts are repealed.
    let clock = Arc::new(ManualClock::new(
        "2026-11-24T10:00:00Z".parse().expect("time"),
    ));
    let running = Start::new(Service::Referral, &db)
        .clock(clock.clone())
        .run()
        .await
        .expect("service");
    let mut client = ReferralServiceClient::new(running.admin());
    let list = |include_repealed| ListLegalBasesRequest {
        page_size: 100,
        include_repealed,
        ..Default::default()
    };
    let current = client
        .list_legal_bases(list(false))
        .await
        .expect("list")
        .into_inner();
    assert!(
        current
            .legal_bases
            .iter()
            .all(|b| b.law != Law::Serviceloven as i32)
    );
    assert!(current.legal_bases.iter().any(|b| b.code == "bl-32-1-3"));
    let all = client
        .list_legal_bases(list(true))
        .await
        .expect("list")
        .into_inner();
    let sel = all
        .legal_bases
        .iter()
        .find(|b| b.code == "sel-52-3-6")
        .expect("SEL § 52 is kept for old records");
    assert_eq!(sel.replaced_by, "legalBases/bl-32-1-3");
    assert_eq!(
        sel.valid_until
            .and_then(|d| d.to_naive())
            .map(|d| d.to_string())
            .as_deref(),
        Some("2023-12-31")
    );

    // On the last day Serviceloven applied, its basis is current.
    clock.set("2023-12-31T12:00:00Z".parse().expect("time"));
    let then = client
        .list_legal_bases(list(false))
        .await
        .expect("list")
        .into_inner();
    assert!(then.legal_bases.iter().any(|b| b.code == "sel-52-3-6"));
    running.stop().await.expect("stop");
}

#[tokio::test]
async fn a_page_token_from_another_filter_is_refused_naming_the_field() {
    let db = fresh_database().await.expect("database");
    let running = start(Service::Referral, &db).await.expect("service");
    let mut client = ReferralServiceClient::new(running.admin());
    let first = client
        .list_legal_bases(ListLegalBasesRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("page")
        .into_inner();
    let error = client
        .list_legal_bases(ListLegalBasesRequest {
            page_size: 1,
            page_token: first.next_page_token,
            include_repealed: true,
        })
        .await
        .expect_err("token from another filter");
    assert_eq!(error.code(), Code::InvalidArgument);
    let details = error.get_error_details();
    assert_eq!(
        details
            .bad_request()
            .expect("field violations")
            .field_violations[0]
            .field,
        "page_token"
    );

    let oversized = client
        .list_legal_bases(ListLegalBasesRequest {
            page_token: "A".repeat(5000),
            ..Default::default()
        })
        .await
        .expect_err("oversized token");
    assert_eq!(oversized.code(), Code::InvalidArgument);
    assert_eq!(
        oversized
            .get_error_details()
            .bad_request()
            .expect("violations")
            .field_violations[0]
            .field,
        "page_token"
    );

    let negative = client
        .list_legal_bases(ListLegalBasesRequest {
            page_size: -5,
            ..Default::default()
        })
        .await
        .expect_err("negative page size");
    assert_eq!(negative.code(), Code::InvalidArgument);
    running.stop().await.expect("stop");
}

#[tokio::test]
async fn getting_by_name_finds_refuses_malformed_names_and_reports_unknown_ones() {
    let db = fresh_database().await.expect("database");
    let running = start(Service::Referral, &db).await.expect("service");
    let mut client = ReferralServiceClient::new(running.admin());
    let get = |name: &str| GetLegalBasisRequest { name: name.into() };

    let basis = client
        .get_legal_basis(get("legalBases/bl-95"))
        .await
        .expect("found")
        .into_inner();
    assert_eq!(basis.name, "legalBases/bl-95");
    assert_eq!(basis.law, Law::BarnetsLov as i32);
    assert_eq!(basis.citation, "Barnets Lov § 95");

    for malformed in ["bl-95", "competences/bl-95", "legalBases/BL 95", ""] {
        let error = client
            .get_legal_basis(get(malformed))
            .await
            .expect_err(malformed);
        assert_eq!(error.code(), Code::InvalidArgument, "{malformed}");
        let details = error.get_error_details();
        assert_eq!(
            details.bad_request().expect("violations").field_violations[0].field,
            "name"
        );
        assert_eq!(
            details.error_info().expect("error info").reason,
            "INVALID_ARGUMENT"
        );
    }
    let missing = client
        .get_legal_basis(get("legalBases/bl-999"))
        .await
        .expect_err("unknown");
    assert_eq!(missing.code(), Code::NotFound);
    running.stop().await.expect("stop");
}

#[tokio::test]
async fn competences_filter_by_category() {
    let db = fresh_database().await.expect("database");
    let running = start(Service::Matching, &db).await.expect("service");
    let mut client = MatchingServiceClient::new(running.admin());
    let languages = client
        .list_competences(ListCompetencesRequest {
            category: CompetenceCategory::Language as i32,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert!(!languages.competences.is_empty());
    assert!(
        languages
            .competences
            .iter()
            .all(|c| c.category == CompetenceCategory::Language as i32)
    );
    let all = client
        .list_competences(ListCompetencesRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert!(all.competences.len() > languages.competences.len());

    let substance = client
        .get_competence(GetCompetenceRequest {
            name: "competences/substance-abuse".into(),
        })
        .await
        .expect("found")
        .into_inner();
    assert_eq!(substance.category, CompetenceCategory::ProblemArea as i32);
    let unknown_category = client
        .list_competences(ListCompetencesRequest {
            category: 42,
            ..Default::default()
        })
        .await
        .expect_err("unknown category");
    assert_eq!(unknown_category.code(), Code::InvalidArgument);
    running.stop().await.expect("stop");
}

#[tokio::test]
async fn activity_kinds_say_which_count_toward_the_granted_hours() {
    let db = fresh_database().await.expect("database");
    let running = start(Service::Timecost, &db).await.expect("service");
    let mut client = TimeCostServiceClient::new(running.admin());
    let kinds = client
        .list_activity_kinds(ListActivityKindsRequest::default())
        .await
        .expect("list")
        .into_inner();
    let codes: Vec<_> = kinds
        .activity_kinds
        .iter()
        .map(|k| k.code.as_str())
        .collect();
    assert_eq!(
        codes,
        [
            "coordination",
            "documentation",
            "face-to-face",
            "phone-online",
            "transport"
        ]
    );
    let face = client
        .get_activity_kind(GetActivityKindRequest {
            name: "activityKinds/face-to-face".into(),
        })
        .await
        .expect("found")
        .into_inner();
    assert!(face.counts_toward_granted_hours);
    running.stop().await.expect("stop");
}
