"""A case system not written in Rust: Python grpcio stubs generated from Kontakt's `proto/`
drive a reduced scenario against a running suite, as a municipal case system would.

Ringsted (counsellor decides, no committee): register a child and a case, create a referral,
complete and submit it, decide it, read the grant, receive GrantApproved on the referral feed
as the municipality's case system, and see the follow-up schedule the follow-up service made
from that event. Exits non-zero on the first thing that is not as expected.

    python scenario.py --kontakt target/debug/kontakt --referral 127.0.0.1:50051 \
        --followup 127.0.0.1:50054            # with KONTAKT_DEV_DATA_DIR set for tokens
"""

import argparse
import subprocess
import sys
import time
import uuid

import grpc
from google.protobuf import field_mask_pb2

from kontakt.common.v1 import types_pb2 as common
from kontakt.events.v1 import feed_pb2, feed_pb2_grpc
from kontakt.followup.v1 import followup_service_pb2 as fs
from kontakt.followup.v1 import followup_service_pb2_grpc as fg
from kontakt.referral.v1 import events_pb2 as referral_events
from kontakt.referral.v1 import referral_service_pb2 as rs
from kontakt.referral.v1 import referral_service_pb2_grpc as rg
from kontakt.referral.v1 import resources_pb2 as rr

RINGSTED = "329"
CPR = "020312-4321"  # a valid test CPR; the child is 14 on the start date


def token(kontakt, role, municipality):
    out = subprocess.check_output(
        [kontakt, "token", "--role", role, "--municipality", municipality], text=True
    )
    return out.strip().split()[-1]


def auth(tok):
    return [("authorization", f"Bearer {tok}")]


def day(y, m, d):
    return common.Date(year=y, month=m, day=d)


def check(condition, what):
    if not condition:
        sys.exit(f"FAILED: {what}")
    print(f"ok  {what}")


def main():
    args = argparse.ArgumentParser()
    args.add_argument("--kontakt", required=True)
    args.add_argument("--referral", required=True)
    args.add_argument("--followup", required=True)
    opts = args.parse_args()

    referral = rg.ReferralServiceStub(grpc.insecure_channel(opts.referral))
    feed = feed_pb2_grpc.EventFeedServiceStub(grpc.insecure_channel(opts.referral))
    followup = fg.FollowUpServiceStub(grpc.insecure_channel(opts.followup))
    counsellor = auth(token(opts.kontakt, "counsellor", RINGSTED))
    case_system = auth(token(opts.kontakt, "case_system", RINGSTED))
    parent = f"municipalities/{RINGSTED}"
    run = uuid.uuid4().hex[:8]

    try:
        person = referral.CreatePerson(
            rs.CreatePersonRequest(parent=parent, cpr=CPR, display_name="Python Barn"),
            metadata=counsellor,
        )
    except grpc.RpcError as err:
        # Run again on the same data: the person is already there.
        check(err.code() == grpc.StatusCode.ALREADY_EXISTS, f"CreatePerson: {err.code()}")
        person = referral.LookupPerson(
            rs.LookupPersonRequest(parent=parent, cpr=CPR), metadata=counsellor
        )
    check(CPR not in person.name, f"person {person.name} is named without the CPR number")

    case = referral.CreateCase(
        rs.CreateCaseRequest(
            parent=parent,
            case=rr.Case(
                case_system="python-case-system",
                external_id=f"PY-{run}",
                kle_number="27.27.24",
                person=person.name,
            ),
        ),
        metadata=counsellor,
    )
    request_id = f"py-{run}"
    draft = referral.CreateReferral(
        rs.CreateReferralRequest(
            parent=parent, referral=rr.Referral(case=case.name), request_id=request_id
        ),
        metadata=counsellor,
    )
    retried = referral.CreateReferral(
        rs.CreateReferralRequest(
            parent=parent, referral=rr.Referral(case=case.name), request_id=request_id
        ),
        metadata=counsellor,
    )
    check(retried.name == draft.name, "a retried CreateReferral gives the same referral (R-RV-10)")

    # Submitting the empty draft names every broken rule.
    try:
        referral.SubmitReferral(rs.SubmitReferralRequest(name=draft.name), metadata=counsellor)
        check(False, "an empty draft is refused")
    except grpc.RpcError as err:
        check(
            err.code() == grpc.StatusCode.FAILED_PRECONDITION,
            f"an empty draft is refused: {err.details()[:80]}...",
        )

    referral.UpdateReferral(
        rs.UpdateReferralRequest(
            referral=rr.Referral(
                name=draft.name,
                recipient=rr.RECIPIENT_CHILD,
                target_groups=[rr.TARGET_GROUP_CRIME_RISK],
                needs=rr.Needs(description="a calm adult who likes football"),
                requested_minutes_per_week=180,
                purpose="stable school attendance",
                expected_duration_months=12,
                legal_basis="legalBases/bl-32-1-3",
                consent=rr.Consent(
                    custody_holder_consented=True,
                    consent_date=day(2026, 11, 1),
                    child_view="wants someone to talk to",
                ),
                network_statement="no family nearby",
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["*"]),
        ),
        metadata=counsellor,
    )
    referral.CreateAssessment(
        rs.CreateAssessmentRequest(
            parent=draft.name,
            assessment=rr.Assessment(
                kind=rr.ASSESSMENT_KIND_CHILD_ASSESSMENT,
                need_known_date=day(2026, 9, 1),
                completion_date=day(2026, 10, 1),
                conclusion="needs a fixed adult",
            ),
        ),
        metadata=counsellor,
    )
    submitted = referral.SubmitReferral(
        rs.SubmitReferralRequest(name=draft.name), metadata=counsellor
    )
    check(submitted.state == rr.REFERRAL_STATE_SUBMITTED, "the referral is submitted")

    decision = referral.DecideReferral(
        rs.DecideReferralRequest(
            name=draft.name,
            outcome=rr.DECISION_OUTCOME_APPROVE,
            approval_level=rr.APPROVAL_LEVEL_OWN_AUTHORITY,
            minutes_per_week=180,
            start_date=day(2026, 12, 1),
            expected_end_date=day(2027, 11, 30),
        ),
        metadata=counsellor,
    )
    grant = referral.GetGrant(rs.GetGrantRequest(name=decision.grant), metadata=counsellor)
    check(
        grant.state == rr.GRANT_STATE_ACTIVE and grant.minutes_per_week == 180,
        f"GetGrant {grant.name}: active, 180 minutes a week",
    )

    # The case system's subscription: its municipality's GrantApproved for this grant.
    stream = feed.Subscribe(
        feed_pb2.SubscribeRequest(types=["kontakt.referral.v1.GrantApproved"]),
        metadata=case_system,
        timeout=30,
    )
    approved = None
    for item in stream:
        if item.HasField("event"):
            event = referral_events.GrantApproved()
            item.event.payload.Unpack(event)
            if event.municipality != RINGSTED:
                sys.exit(f"FAILED: a case system of {RINGSTED} got {event.municipality}'s event")
            if event.grant == grant.name:
                approved = event
                break
    stream.cancel()
    check(approved is not None, "GrantApproved arrived on the feed")
    check(approved.follow_up_interval_months == 6, "with Ringsted's 6-month follow-up interval")

    # The follow-up service made the schedule from that event.
    schedule = None
    for _ in range(100):
        try:
            schedule = followup.GetSchedule(
                fs.GetScheduleRequest(name=f"{grant.name}/followUpSchedule"),
                metadata=counsellor,
            )
            break
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.NOT_FOUND:
                raise
            time.sleep(0.2)
    check(schedule is not None, "the follow-up schedule exists")
    first = schedule.first_due_date
    check(
        (first.year, first.month, first.day) == (2027, 3, 1),
        "first follow-up due 2027-03-01 (BL §95's 3 months beat the policy's 6)",
    )
    print("python client: the scenario passed")


if __name__ == "__main__":
    main()
