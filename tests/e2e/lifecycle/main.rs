//! The whole life of an arrangement under each reference policy (DOMAIN.md §10), with all four
//! services running as separate servers, each on its own schema of one database, following
//! each other's feeds and driven only over gRPC: the demo data (policies, people, the provider,
//! the shared frame) is loaded the way `kontakt dev` loads it, then a referral goes to a grant,
//! a contact person, hours, money and follow-ups. One service is restarted in the middle of each
//! scenario; nothing it was owed may be lost.

mod ishoj;
mod ringsted;

use std::net::SocketAddr;
use std::sync::Arc;

use kontakt::Service;
use kontakt_harness::{
    AuthedChannel, Start, StartTogether, TestDatabase, TestService, admin_token,
    contact_person_token, eventually, fixtures, fresh_database, token, violations,
};
use kontakt_platform::auth::Role;
use kontakt_platform::clock::ManualClock;
use kontakt_proto::common::v1::Date;
use kontakt_proto::followup::v1::follow_up_service_client::FollowUpServiceClient;
use kontakt_proto::matching::v1 as matching;
use kontakt_proto::matching::v1::matching_service_client::MatchingServiceClient;
use kontakt_proto::referral::v1 as referral;
use kontakt_proto::referral::v1::referral_service_client::ReferralServiceClient;
use kontakt_proto::timecost::v1::time_cost_service_client::TimeCostServiceClient;

type Referrals = ReferralServiceClient<AuthedChannel>;
type Matching = MatchingServiceClient<AuthedChannel>;
type TimeCost = TimeCostServiceClient<AuthedChannel>;
type FollowUps = FollowUpServiceClient<AuthedChannel>;

const ALL: [Service; 4] = [
    Service::Referral,
    Service::Matching,
    Service::Timecost,
    Service::Followup,
];

use kontakt_harness::messages::date;

/// The four services on one fresh database and one clock, with the demo data loaded.
struct Suite {
    db: TestDatabase,
    clock: Arc<ManualClock>,
    running: Vec<TestService>,
}

impl Suite {
    async fn start(today: &str) -> Suite {
        let db = fresh_database().await.expect("database");
        let clock = Arc::new(ManualClock::new(today.parse().expect("timestamp")));
        let running = StartTogether::new(&ALL, &db)
            .clock(clock.clone())
            .run()
            .await
            .expect("services");
        let suite = Suite { db, clock, running };
        let url = |s| format!("http://{}", suite.addr(s));
        let loaded = kontakt::demo::load(
            &url(Service::Referral),
            &url(Service::Matching),
            &url(Service::Timecost),
            &admin_token(),
        )
        .await
        .expect("the demo data loads");
        assert_eq!(loaded.policies, (3, 0), "{loaded:?}");
        suite
    }

    fn service(&self, service: Service) -> &TestService {
        self.running
            .iter()
            .find(|r| r.service == service)
            .expect("running")
    }

    fn addr(&self, service: Service) -> SocketAddr {
        self.service(service).addr
    }

    fn set_today(&self, at: &str) {
        self.clock.set(at.parse().expect("timestamp"));
    }

    /// Stops `service` (draining it), as a rolling update or a crashed pod would; the others
    /// keep running and retry their subscriptions to it.
    async fn stop_one(&mut self, service: Service) -> Stopped {
        let at = self
            .running
            .iter()
            .position(|r| r.service == service)
            .expect("running");
        let addrs = self.running.iter().map(|r| (r.service, r.addr)).collect();
        let old = self.running.remove(at);
        let addr = old.addr;
        old.stop().await.expect("stop");
        Stopped {
            service,
            addr,
            addrs,
        }
    }

    /// Starts a stopped service again where it was, so that its followers find it and it
    /// resumes its own subscriptions from its stored cursors.
    async fn start_again(&mut self, stopped: Stopped) {
        let again = Start::new(stopped.service, &self.db)
            .on(stopped.addr)
            .following(&stopped.addrs)
            .clock(self.clock.clone())
            .run()
            .await
            .expect("restart");
        self.running.push(again);
    }

    fn channel(&self, service: Service, roles: &[Role], municipalities: &[&str]) -> AuthedChannel {
        self.service(service)
            .with_token(&token(roles, municipalities))
    }

    fn referral(&self, role: Role, municipality: &str) -> Referrals {
        ReferralServiceClient::new(self.channel(Service::Referral, &[role], &[municipality]))
    }

    fn matching(&self, role: Role, municipalities: &[&str]) -> Matching {
        MatchingServiceClient::new(self.channel(Service::Matching, &[role], municipalities))
    }

    fn timecost(&self, role: Role, municipalities: &[&str]) -> TimeCost {
        TimeCostServiceClient::new(self.channel(Service::Timecost, &[role], municipalities))
    }

    fn followup(&self, role: Role, municipality: &str) -> FollowUps {
        FollowUpServiceClient::new(self.channel(Service::Followup, &[role], &[municipality]))
    }

    /// Time & cost as the contact person `person` (`serviceUnits/{unit}/contactPersons/{id}`).
    fn contact_person(&self, person: &str, municipalities: &[&str]) -> TimeCost {
        let token = contact_person_token(person, municipalities);
        TimeCostServiceClient::new(self.service(Service::Timecost).with_token(&token))
    }

    async fn stop(self) {
        for running in self.running {
            running.stop().await.expect("stop");
        }
    }
}

/// A service stopped mid-scenario: where it ran and whom it followed.
struct Stopped {
    service: Service,
    addr: SocketAddr,
    addrs: Vec<(Service, SocketAddr)>,
}

/// What a counsellor writes about one child; the rest of a referral is the same for all.
struct Child<'a> {
    municipality: &'a str,
    cpr: &'a str,
    case_id: &'a str,
    target: referral::TargetGroup,
    competences: &'a [&'a str],
    minutes: i32,
}

/// A person, a case and a referral with every field R-RV-2/3 asks for, an assessment (R-RV-1)
/// and, where `plan_goal` is given, an action plan with that goal. Not yet submitted.
async fn refer(counsellor: &mut Referrals, child: &Child<'_>, plan_goal: Option<&str>) -> String {
    let parent = format!("municipalities/{}", child.municipality);
    let person = counsellor
        .create_person(referral::CreatePersonRequest {
            parent: parent.clone(),
            cpr: child.cpr.into(),
            display_name: format!("Barn {}", child.case_id),
        })
        .await
        .expect("person")
        .into_inner();
    let case = counsellor
        .create_case(referral::CreateCaseRequest {
            parent: parent.clone(),
            case: Some(referral::Case {
                case_system: "nexus".into(),
                external_id: child.case_id.into(),
                kle_number: "27.27.24".into(),
                person: person.name.clone(),
                ..referral::Case::default()
            }),
        })
        .await
        .expect("case")
        .into_inner();
    let plan = match plan_goal {
        None => String::new(),
        Some(goal) => {
            counsellor
                .create_plan(fixtures::plan_request(&case.name, goal))
                .await
                .expect("plan")
                .into_inner()
                .name
        }
    };
    let referral = counsellor
        .create_referral(referral::CreateReferralRequest {
            parent,
            referral: Some(referral::Referral {
                case: case.name.clone(),
                recipient: referral::Recipient::Child as i32,
                target_groups: vec![child.target as i32],
                needs: Some(referral::Needs {
                    competences: child
                        .competences
                        .iter()
                        .map(|c| format!("competences/{c}"))
                        .collect(),
                    description: "a steady adult outside the family".into(),
                    ..referral::Needs::default()
                }),
                requested_minutes_per_week: child.minutes,
                purpose: "back in school and away from the street".into(),
                expected_duration_months: 12,
                legal_basis: "legalBases/bl-32-1-3".into(),
                consent: Some(referral::Consent {
                    custody_holder_consented: true,
                    consent_date: date(2026, 11, 2),
                    child_view: "wants someone to talk to".into(),
                    ..referral::Consent::default()
                }),
                plan,
                network_statement: "the family's network cannot take it on".into(),
                ..referral::Referral::default()
            }),
            request_id: format!("ref-{}", child.case_id),
        })
        .await
        .expect("referral")
        .into_inner();
    counsellor
        .create_assessment(fixtures::assessment_request(&referral.name))
        .await
        .expect("assessment");
    referral.name
}

/// The rules and fields the submission of `name` is refused with.
async fn refused(counsellor: &mut Referrals, name: &str, what: &str) -> Vec<(String, String)> {
    let refused = submit(counsellor, name).await.expect_err(what);
    violations(&refused)
}

async fn submit(
    counsellor: &mut Referrals,
    name: &str,
) -> Result<referral::Referral, tonic::Status> {
    counsellor
        .submit_referral(referral::SubmitReferralRequest {
            name: name.into(),
            etag: String::new(),
            validate_only: false,
        })
        .await
        .map(tonic::Response::into_inner)
}

/// The coordinator's assignment of `person` to `request` from 1 December 2026, for the grant's
/// hours.
fn assign(request: &str, person: &str, request_id: &str) -> matching::AssignContactPersonRequest {
    matching::AssignContactPersonRequest {
        matching_request: request.into(),
        contact_person: person.into(),
        start_date: date(2026, 12, 1),
        minutes_per_week: 0,
        request_id: request_id.into(),
    }
}

/// Whether everyone a proposal considered (ranked or excluded) is of the unit `unit`: people
/// who do not serve the child's municipality are not considered at all (R-MP-3).
fn considers_only(proposal: &matching::ProposeCandidatesResponse, unit: &str) -> bool {
    let prefix = format!("serviceUnits/{unit}/");
    proposal
        .candidates
        .iter()
        .map(|c| &c.contact_person)
        .chain(proposal.excluded.iter().map(|e| &e.contact_person))
        .all(|p| p.starts_with(&prefix))
}

// An approval of `minutes` a week from 1 December 2026 for a year, at `level`.
use kontakt_harness::fixtures::approve;
