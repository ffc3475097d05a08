//! Demo data for `kontakt dev`: the reference policies of DOMAIN.md §10 (`demo/policies.json`),
//! fictional contact persons, a provider and its framework contract (`demo/people.json`), and
//! the Ishøj–Vallensbæk frame with example PL and mileage rates (`demo/finance.json`),
//! loaded over gRPC as an administrator would, so the demo takes the same path (validation,
//! audit) as real data. Loading twice changes nothing. Then the twelve arrangements
//! (`arrangements`). `kontakt dev` loads it all; `kontakt demo` loads it into services running
//! elsewhere (e.g. the dev overlay in a cluster) that trust the same dev key.

use crate::client::{Bearer, channel, retrying};
use anyhow::Context as _;
use kontakt_proto::matching::v1 as matching;
use kontakt_proto::matching::v1::matching_service_client::MatchingServiceClient;
use kontakt_proto::referral::v1::CreatePolicyRequest;
use kontakt_proto::referral::v1::referral_service_client::ReferralServiceClient;
use kontakt_proto::timecost::v1 as timecost;
use kontakt_proto::timecost::v1::time_cost_service_client::TimeCostServiceClient;
use prost_reflect::{DescriptorPool, DynamicMessage};

pub mod arrangements;

const POLICIES: &str = include_str!("../demo/policies.json");
const PEOPLE: &str = include_str!("../demo/people.json");
const FINANCE: &str = include_str!("../demo/finance.json");

/// The entries listed under `key` in the demo file `file` (its text `text`), each an `M` in
/// proto3 JSON: the message itself, lowerCamelCase or proto field names, unknown fields refused.
/// An error names the file and the entry.
fn load_messages<M: prost::Message + prost::Name + Default>(
    file: &str,
    text: &str,
    key: &str,
) -> anyhow::Result<Vec<M>> {
    let pool = DescriptorPool::decode(kontakt_proto::FILE_DESCRIPTOR_SET)
        .context("decoding Kontakt's proto descriptors")?;
    let name = M::full_name();
    let descriptor = pool
        .get_message_by_name(&name)
        .with_context(|| format!("no message {name} in Kontakt's protos"))?;
    let mut document: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).with_context(|| format!("{file}: not a JSON object"))?;
    let Some(serde_json::Value::Array(entries)) = document.remove(key) else {
        anyhow::bail!("{file}: no list `{key}`");
    };
    entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| {
            let message = DynamicMessage::deserialize(descriptor.clone(), entry)
                .with_context(|| format!("{file}: {key}[{i}] is not a {name}"))?;
            message
                .transcode_to::<M>()
                .with_context(|| format!("{file}: {key}[{i}] as {name}"))
        })
        .collect()
}

/// The finance demo data as create requests: PL rates, frames, mileage rates.
struct FinanceRequests {
    indexation_rates: Vec<timecost::CreateIndexationRateRequest>,
    frames: Vec<timecost::CreateFrameRequest>,
    mileage_rates: Vec<timecost::CreateMileageRateRequest>,
}

fn finance_requests() -> anyhow::Result<FinanceRequests> {
    let file = "demo/finance.json";
    Ok(FinanceRequests {
        indexation_rates: load_messages(file, FINANCE, "indexation_rates")?,
        frames: load_messages(file, FINANCE, "frames")?,
        mileage_rates: load_messages(file, FINANCE, "mileage_rates")?,
    })
}

/// The demo policies as CreatePolicy requests.
fn policy_requests() -> anyhow::Result<Vec<CreatePolicyRequest>> {
    load_messages("demo/policies.json", POLICIES, "policies")
}

/// The demo providers, their framework contracts and the contact persons, as create requests.
struct PeopleRequests {
    providers: Vec<matching::CreateProviderRequest>,
    contracts: Vec<matching::CreateFrameworkContractRequest>,
    contact_persons: Vec<matching::CreateContactPersonRequest>,
}

fn people_requests() -> anyhow::Result<PeopleRequests> {
    let file = "demo/people.json";
    Ok(PeopleRequests {
        providers: load_messages(file, PEOPLE, "providers")?,
        contracts: load_messages(file, PEOPLE, "contracts")?,
        contact_persons: load_messages(file, PEOPLE, "contact_persons")?,
    })
}

/// What loading did: (new, already there) per kind.
#[derive(Debug, Default)]
pub struct Loaded {
    pub policies: (usize, usize),
    pub providers: (usize, usize),
    pub contact_persons: (usize, usize),
    /// PL rates, frames and mileage rates.
    pub finance: (usize, usize),
}

/// Sends one create call, retrying while the service is still migrating (UNAVAILABLE) for up
/// to a minute. `true` = created, `false` = it was already there.
async fn create<T, F, Fut>(what: &str, call: F) -> anyhow::Result<bool>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    match retrying(&[tonic::Code::Unavailable], call).await {
        Ok(_) => Ok(true),
        Err(status) if status.code() == tonic::Code::AlreadyExists => Ok(false),
        Err(status) => Err(anyhow::anyhow!(
            "loading the demo {what}: {:?} {}",
            status.code(),
            status.message()
        )),
    }
}

fn count(tally: &mut (usize, usize), created: bool) {
    if created {
        tally.0 += 1;
    } else {
        tally.1 += 1;
    }
}

/// The reference data, then the arrangements, each reported on stdout (a failure on stderr);
/// errs if either failed. The arrangements are made by counsellor, committee, coordinator and
/// contact person with their own tokens, signed by `key`.
pub async fn load_everything(
    urls: &arrangements::Urls<'_>,
    key: &kontakt_platform::auth::dev_key::DevKey,
    admin_token: &str,
) -> anyhow::Result<()> {
    let reference = load(urls.referral, urls.matching, urls.timecost, admin_token).await;
    match &reference {
        Ok(loaded) => println!(
            "Demo data: the reference policies of Ishøj, Vallensbæk and Ringsted ({} loaded, {} already there); {} contact persons and {} provider (new: {}, {}); the Ishøj–Vallensbæk frame with example PL and mileage rates (new: {} of {}).",
            loaded.policies.0,
            loaded.policies.1,
            loaded.contact_persons.0 + loaded.contact_persons.1,
            loaded.providers.0 + loaded.providers.1,
            loaded.contact_persons.0,
            loaded.providers.0,
            loaded.finance.0,
            loaded.finance.0 + loaded.finance.1,
        ),
        Err(err) => eprintln!("Demo data not loaded: {err:#}"),
    }
    let mint = |claims: kontakt_platform::auth::Claims| {
        key.mint(claims, std::time::Duration::from_secs(3600))
            .map_err(anyhow::Error::msg)
    };
    let stories = arrangements::load(
        urls,
        &arrangements::Tokens { mint: &mint },
        kontakt_platform::clock::Clock::today(&kontakt_platform::clock::SystemClock),
    )
    .await;
    match &stories {
        Ok(0) => println!(
            "Demo arrangements: the {} are there already.",
            arrangements::COUNT
        ),
        Ok(made) => println!(
            "Demo arrangements: {made} loaded (referrals in draft and awaiting a decision, grants waiting for a contact person, arrangements with hours registered, a purchase, an ended grant)."
        ),
        Err(err) => eprintln!("Demo arrangements not loaded: {err:#}"),
    }
    match (reference, stories) {
        (Ok(_), Ok(_)) => Ok(()),
        _ => anyhow::bail!("the demo data was not loaded in full (see above)"),
    }
}

/// Loads the demo data into the referral, matching and time & cost services at the given URLs,
/// as `admin_token`.
pub async fn load(
    referral: &str,
    matching: &str,
    timecost: &str,
    admin_token: &str,
) -> anyhow::Result<Loaded> {
    let policies = policy_requests()?;
    let people = people_requests()?;
    let finance = finance_requests()?;
    let authorize = Bearer::new(admin_token)?;
    let referral = ReferralServiceClient::with_interceptor(channel(referral)?, authorize.clone());
    let matching = MatchingServiceClient::with_interceptor(channel(matching)?, authorize.clone());
    let timecost = TimeCostServiceClient::with_interceptor(channel(timecost)?, authorize);
    let mut loaded = Loaded::default();
    for request in policies {
        let what = format!("policy of {}", request.parent);
        let created = create(&what, || {
            let mut client = referral.clone();
            let request = request.clone();
            async move { client.create_policy(request).await }
        })
        .await?;
        count(&mut loaded.policies, created);
    }
    for provider in people.providers {
        let what = format!("provider {}", provider.provider_id);
        let created = create(&what, || {
            let mut client = matching.clone();
            let request = provider.clone();
            async move { client.create_provider(request).await }
        })
        .await?;
        count(&mut loaded.providers, created);
    }
    for contract in people.contracts {
        let what = format!("contract {}", contract.contract_id);
        create(&what, || {
            let mut client = matching.clone();
            let request = contract.clone();
            async move { client.create_framework_contract(request).await }
        })
        .await?;
    }
    for person in people.contact_persons {
        let what = format!("contact person {}", person.contact_person_id);
        let created = create(&what, || {
            let mut client = matching.clone();
            let request = person.clone();
            async move { client.create_contact_person(request).await }
        })
        .await?;
        count(&mut loaded.contact_persons, created);
    }
    for request in finance.indexation_rates {
        let what = format!(
            "indexation rate {}",
            request.indexation_rate.as_ref().map_or(0, |r| r.year)
        );
        let created = create(&what, || {
            let mut client = timecost.clone();
            let request = request.clone();
            async move { client.create_indexation_rate(request).await }
        })
        .await?;
        count(&mut loaded.finance, created);
    }
    for request in finance.frames {
        let what = format!("frame {}", request.frame_id);
        let created = create(&what, || {
            let mut client = timecost.clone();
            let request = request.clone();
            async move { client.create_frame(request).await }
        })
        .await?;
        count(&mut loaded.finance, created);
    }
    for request in finance.mileage_rates {
        let what = format!("mileage rate of {}", request.parent);
        let created = create(&what, || {
            let mut client = timecost.clone();
            let request = request.clone();
            async move { client.create_mileage_rate(request).await }
        })
        .await?;
        count(&mut loaded.finance, created);
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_policies_parse_and_cover_the_reference_municipalities() {
        let requests = policy_requests().expect("demo/policies.json");
        let parents: Vec<_> = requests.iter().map(|r| r.parent.as_str()).collect();
        assert_eq!(
            parents,
            [
                "municipalities/183",
                "municipalities/187",
                "municipalities/329"
            ]
        );
        let ringsted = requests[2].policy.as_ref().expect("policy");
        assert_eq!(ringsted.min_age_years, 12);
        assert_eq!(ringsted.max_minutes_per_week, 180);
        assert!(!ringsted.committee_required);
        let ishoj = requests[0].policy.as_ref().expect("policy");
        assert!(ishoj.committee_required && ishoj.plan_required);
    }

    #[test]
    fn the_demo_finance_data_parses_with_the_seeds_frame_and_split() {
        let finance = finance_requests().expect("demo/finance.json");
        let frame = finance.frames[0].frame.as_ref().expect("frame");
        assert_eq!(frame.base_amount.map(|m| m.ore), Some(400_000_000));
        assert_eq!(frame.base_year, 2017);
        let split: Vec<(i64, i64)> = frame
            .shares
            .iter()
            .map(|s| (s.numerator, s.denominator))
            .collect();
        assert_eq!(split, [(2, 3), (1, 3)]);
        let years: Vec<i32> = finance
            .indexation_rates
            .iter()
            .filter_map(|r| r.indexation_rate.as_ref().map(|r| r.year))
            .collect();
        assert_eq!(
            years,
            (2018..=2027).collect::<Vec<_>>(),
            "every year after 2017"
        );
        assert_eq!(finance.mileage_rates.len(), 3);
    }

    #[test]
    fn the_demo_people_parse_with_staff_hourly_hires_and_a_providers_employee() {
        let people = people_requests().expect("demo/people.json");
        assert_eq!(people.providers.len(), 1);
        assert_eq!(people.contracts.len(), 1);
        assert_eq!(people.contracts[0].parent, "providers/misbrugshjaelp-aps");
        let employments: std::collections::BTreeSet<i32> = people
            .contact_persons
            .iter()
            .filter_map(|p| p.contact_person.as_ref().map(|c| c.employment))
            .collect();
        assert_eq!(
            employments.len(),
            3,
            "staff, hourly hires and a provider's employee"
        );
    }
}
