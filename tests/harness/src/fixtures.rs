//! What many tests create first in the referral service: a child, a case and its draft
//! referral. The request builders are shared with the fault load, which retries each call.

use kontakt_proto::referral::v1::referral_service_client::ReferralServiceClient;
use kontakt_proto::referral::v1::{
    Case, CreateCaseRequest, CreatePersonRequest, CreateReferralRequest, Referral,
};

use crate::AuthedChannel;

pub type ReferralClient = ReferralServiceClient<AuthedChannel>;

/// A case in `municipality` (e.g. `183`) for `person`, idempotent by its external id.
pub fn case_request(municipality: &str, external_id: &str, person: &str) -> CreateCaseRequest {
    CreateCaseRequest {
        parent: format!("municipalities/{municipality}"),
        case: Some(Case {
            case_system: "nexus".into(),
            external_id: external_id.into(),
            kle_number: "27.27.24".into(),
            person: person.into(),
            ..Case::default()
        }),
    }
}

/// A draft referral on `case`, idempotent by `request_id`.
pub fn referral_request(municipality: &str, case: &str, request_id: &str) -> CreateReferralRequest {
    CreateReferralRequest {
        parent: format!("municipalities/{municipality}"),
        referral: Some(Referral {
            case: case.into(),
            ..Referral::default()
        }),
        request_id: request_id.into(),
    }
}

/// Registers the child with `cpr` in `municipality`; returns the person's resource name.
pub async fn register_child(client: &mut ReferralClient, municipality: &str, cpr: &str) -> String {
    client
        .create_person(CreatePersonRequest {
            parent: format!("municipalities/{municipality}"),
            cpr: cpr.into(),
            display_name: "Test Barn".into(),
        })
        .await
        .expect("the child is registered")
        .into_inner()
        .name
}

/// A case for `person` and its draft referral.
pub async fn draft_referral(
    client: &mut ReferralClient,
    municipality: &str,
    person: &str,
    external_id: &str,
    request_id: &str,
) -> (Case, Referral) {
    let case = client
        .create_case(case_request(municipality, external_id, person))
        .await
        .expect("case")
        .into_inner();
    let referral = client
        .create_referral(referral_request(municipality, &case.name, request_id))
        .await
        .expect("referral")
        .into_inner();
    (case, referral)
}
