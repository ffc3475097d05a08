#!/usr/bin/env bash
# A referral from draft to an active grant, changed and ended, in Ringsted (the counsellor
# decides) and Ishøj (the committee decides), on the demo policies `kontakt dev` loads. Needs
# `kontakt dev` running (fresh: the CPR numbers must be new), grpcurl and jq; run from the
# repository root. KONTAKT and REFERRAL override the binary and the address.
K=${KONTAKT:-"cargo run -q --release -p kontakt --"}
R=${REFERRAL:-localhost:50051}
call() { grpcurl -plaintext -H "authorization: Bearer $TOKEN" -d "$2" $R kontakt.referral.v1.ReferralService/$1; }

# --- Ringsted (329): no committee, at most 3 hours a week without a justification, age 12+.
TOKEN=$($K token --role counsellor --municipality 329 --subject anne.r)
PERSON=$(call CreatePerson '{"parent": "municipalities/329", "cpr": "010114-4234", "display_name": "Ali"}' | jq -r .name)
CASE=$(call CreateCase '{"parent": "municipalities/329", "case": {"case_system": "nexus", "external_id": "R-4711",
  "kle_number": "27.27.24", "person": "'$PERSON'"}}' | jq -r .name)
REFERRAL=$(call CreateReferral '{"parent": "municipalities/329", "request_id": "nexus-R-4711",
  "referral": {"case": "'$CASE'"}}' | jq -r .name)
call SubmitReferral '{"name": "'$REFERRAL'"}'           # every broken rule at once
call UpdateReferral '{"referral": {"name": "'$REFERRAL'", "recipient": "RECIPIENT_CHILD",
  "target_groups": ["TARGET_GROUP_CRIME_RISK"], "needs": {"description": "a calm adult; football"},
  "requested_minutes_per_week": 240, "purpose": "stable school attendance", "expected_duration_months": 12,
  "legal_basis": "legalBases/bl-32-1-3", "network_statement": "no family nearby",
  "consent": {"custody_holder_consented": true, "consent_date": {"year": 2026, "month": 11, "day": 2},
              "child_view": "wants someone to talk to"}},
  "update_mask": "*"}' | jq -c '{state, etag}'
call CreateAssessment '{"parent": "'$REFERRAL'", "assessment": {"kind": "ASSESSMENT_KIND_CHILD_ASSESSMENT",
  "need_known_date": {"year": 2026, "month": 9, "day": 1}, "completion_date": {"year": 2026, "month": 10, "day": 20},
  "conclusion": "needs a fixed adult outside the family"}}' | jq -c '{name}'
call SubmitReferral '{"name": "'$REFERRAL'"}'           # R-RV-6: 4 hours needs a justification
call UpdateReferral '{"referral": {"name": "'$REFERRAL'", "hours_justification": "school and home both need support"},
  "update_mask": "hoursJustification"}' | jq -c '{state}'
call SubmitReferral '{"name": "'$REFERRAL'"}' | jq -c '{state, submitTime}'
GRANT=$(call DecideReferral '{"name": "'$REFERRAL'", "outcome": "DECISION_OUTCOME_APPROVE",
  "approval_level": "APPROVAL_LEVEL_OWN_AUTHORITY", "minutes_per_week": 240,
  "start_date": {"year": 2026, "month": 12, "day": 1}, "expected_end_date": {"year": 2027, "month": 11, "day": 30}}' | jq -r .grant)
call GetGrant '{"name": "'$GRANT'"}'
# Fewer hours from March (a new version; the first ends the day before), then the end.
call ChangeGrant '{"name": "'$GRANT'", "request_id": "fu-2027-02", "effective_from": {"year": 2027, "month": 3, "day": 1},
  "update_mask": "minutesPerWeek", "minutes_per_week": 120, "approval_level": "APPROVAL_LEVEL_OWN_AUTHORITY",
  "justification": "follow-up: attendance stable"}' | jq -c '{currentVersion, minutesPerWeek, etag}'
call ListGrantVersions '{"parent": "'$GRANT'"}' | jq -c '.versions[] | {name, minutesPerWeek, effective}'
call EndGrant '{"name": "'$GRANT'", "end_date": {"year": 2027, "month": 6, "day": 30}, "reason": "GRANT_END_REASON_PURPOSE_MET"}' \
  | jq -c '{state, endDate, endReason, endedBy}'
call ListGrantVersions '{"parent": "'$GRANT'"}' | jq -c '.versions[] | {name, minutesPerWeek, effective}'

# --- Ishøj (183): a plan is required and the visitation committee decides.
TOKEN=$($K token --role counsellor --municipality 183 --subject bo.i)
PERSON=$(call CreatePerson '{"parent": "municipalities/183", "cpr": "020312-4321", "display_name": "Sara"}' | jq -r .name)
CASE=$(call CreateCase '{"parent": "municipalities/183", "case": {"case_system": "dubu", "external_id": "I-17",
  "kle_number": "27.27.24", "person": "'$PERSON'"}}' | jq -r .name)
PLAN=$(call CreatePlan '{"parent": "'$CASE'", "plan": {"kind": "PLAN_KIND_BARNETS_PLAN",
  "plan_date": {"year": 2026, "month": 10, "day": 15}, "goals": [{"description": "attends school four days a week"}]}}' | jq -r .name)
REFERRAL=$(call CreateReferral '{"parent": "municipalities/183", "request_id": "dubu-I-17", "referral": {"case": "'$CASE'",
  "plan": "'$PLAN'", "recipient": "RECIPIENT_CHILD", "target_groups": ["TARGET_GROUP_SUBSTANCE_USE"],
  "needs": {"description": "experience with cannabis use"}, "requested_minutes_per_week": 300,
  "purpose": "out of the drug milieu", "expected_duration_months": 12, "legal_basis": "legalBases/bl-32-1-3",
  "consent": {"custody_holder_consented": true, "consent_date": {"year": 2026, "month": 11, "day": 2}, "child_view": "ok"}}}' | jq -r .name)
call CreateAssessment '{"parent": "'$REFERRAL'", "assessment": {"kind": "ASSESSMENT_KIND_CHILD_ASSESSMENT",
  "need_known_date": {"year": 2026, "month": 9, "day": 1}, "completion_date": {"year": 2026, "month": 10, "day": 1},
  "conclusion": "substance use; needs an adult"}}' | jq -c '{name}'
call SubmitReferral '{"name": "'$REFERRAL'"}' | jq -c '{state}'
call DecideReferral '{"name": "'$REFERRAL'", "outcome": "DECISION_OUTCOME_APPROVE", "approval_level": "APPROVAL_LEVEL_COMMITTEE",
  "minutes_per_week": 300, "start_date": {"year": 2026, "month": 12, "day": 1},
  "expected_end_date": {"year": 2027, "month": 11, "day": 30}}'   # R-RV-8: the committee decides here
TOKEN=$($K token --role committee --municipality 183 --subject visitationsudvalget)
MEETING=$(call CreateCommitteeMeeting '{"parent": "municipalities/183", "committee_meeting": {
  "committee": "Visitationsudvalget til Ishøjgård", "meeting_date": {"year": 2026, "month": 11, "day": 26}}}' | jq -r .name)
call ScheduleReferral '{"committee_meeting": "'$MEETING'", "referral": "'$REFERRAL'"}' | jq -c '{name, referrals}'
GRANT=$(call DecideReferral '{"name": "'$REFERRAL'", "outcome": "DECISION_OUTCOME_APPROVE", "approval_level": "APPROVAL_LEVEL_COMMITTEE",
  "minutes_per_week": 300, "start_date": {"year": 2026, "month": 12, "day": 1}, "review_date": {"year": 2027, "month": 3, "day": 1},
  "expected_end_date": {"year": 2027, "month": 11, "day": 30}, "goals_realistic": true}' | jq -r .grant)
call ChangeGrant '{"name": "'$GRANT'", "request_id": "committee-2027-03", "effective_from": {"year": 2027, "month": 3, "day": 1},
  "update_mask": "minutesPerWeek", "minutes_per_week": 240, "approval_level": "APPROVAL_LEVEL_COMMITTEE"}' | jq -c '{currentVersion, minutesPerWeek}'
call EndGrant '{"name": "'$GRANT'", "end_date": {"year": 2027, "month": 8, "day": 31}, "reason": "GRANT_END_REASON_MOVED"}' | jq -c '{state, endDate, endReason}'

# The events a case system of Ishøj sees on the referral feed.
TOKEN=$($K token --role case_system --municipality 183)
timeout 3 grpcurl -plaintext -H "authorization: Bearer $TOKEN" -d '{"after_sequence": 0}' $R kontakt.events.v1.EventFeedService/Subscribe \
  | jq -c 'select(.event) | .event.type'
