//! Committee meetings: a meeting planned, and a referral put on its agenda.

use kontakt_platform::audit::{Action, Caller};
use kontakt_platform::auth;
use kontakt_platform::resource::{day, scoped, scoped_parent};
use kontakt_platform::{ApiError, Refusal};
use kontakt_proto::referral::v1::{
    CommitteeMeeting, CommitteeMeetingState, CreateCommitteeMeetingRequest, ReferralState,
    ScheduleReferralRequest,
};
use tonic::Request;

use super::ReferralApi;
use super::common::{MAX_SHORT, new_id, state_column, state_of, text_ok};
use crate::domain::decision;
use crate::store::MeetingRow;
use kontakt_proto::names;

pub(super) fn meeting_to_proto(row: MeetingRow, agenda: &[String]) -> CommitteeMeeting {
    CommitteeMeeting {
        name: names::committee_meeting(&row.municipality, &row.id),
        committee: row.committee,
        meeting_date: Some(row.meeting_date.into()),
        state: if row.state == "HELD" {
            CommitteeMeetingState::Held
        } else {
            CommitteeMeetingState::Scheduled
        } as i32,
        referrals: agenda
            .iter()
            .map(|r| names::referral(&row.municipality, r))
            .collect(),
        create_time: Some(kontakt_proto::timestamp(row.create_time)),
        update_time: Some(kontakt_proto::timestamp(row.update_time)),
        etag: format!("\"{}\"", row.update_time.timestamp_micros()),
    }
}

impl ReferralApi {
    pub(super) async fn plan_meeting(
        &self,
        request: Request<CreateCommitteeMeetingRequest>,
    ) -> Result<CommitteeMeeting, ApiError> {
        let principal = auth::caller(&request)?.clone();
        let request = request.into_inner();
        let municipality = scoped_parent(&principal, &request.parent)?;
        let meeting = request
            .committee_meeting
            .ok_or_else(|| ApiError::invalid("committee_meeting", "the meeting is required"))?;
        let committee = meeting.committee.trim();
        if committee.is_empty() || !text_ok(committee, MAX_SHORT) {
            return Err(ApiError::invalid(
                "committee_meeting.committee",
                "1 to 200 characters, e.g. Visitationsudvalget til Ishøjgård",
            ));
        }
        let date = day(
            meeting.meeting_date.as_ref(),
            "committee_meeting.meeting_date",
        )?
        .ok_or_else(|| {
            ApiError::invalid("committee_meeting.meeting_date", "the date is required")
        })?;
        let mut tx = self.store.begin().await?;
        let row = self
            .store
            .insert_meeting(
                &mut tx,
                &municipality.to_string(),
                &new_id("cm"),
                committee,
                date,
            )
            .await?;
        tx.commit().await?;
        Ok(meeting_to_proto(row, &[]))
    }

    pub(super) async fn put_on_agenda(
        &self,
        request: Request<ScheduleReferralRequest>,
    ) -> Result<CommitteeMeeting, ApiError> {
        let caller = Caller::of(&request, "putting a referral on a committee meeting")?;
        let principal = &caller.principal;
        let request = request.into_inner();
        let (municipality, meeting_id) = scoped(
            principal,
            &request.committee_meeting,
            "committeeMeetings",
            "committee_meeting",
        )?;
        let (referral_municipality, referral_id) =
            scoped(principal, &request.referral, "referrals", "referral")?;
        if referral_municipality != municipality {
            return Err(ApiError::invalid(
                "referral",
                "the referral and the meeting must be in the same municipality",
            ));
        }
        let m = municipality.to_string();
        let mut tx = self.store.begin().await?;
        let meeting = self
            .store
            .lock_meeting(&mut tx, &m, meeting_id)
            .await?
            .ok_or_else(|| ApiError::not_found(&request.committee_meeting))?;
        if meeting.state != "SCHEDULED" {
            return Err(Refusal::new("MEETING_HELD", "the meeting has been held").into());
        }
        let mut referral = self
            .store
            .lock_referral(&mut tx, &m, referral_id)
            .await?
            .ok_or_else(|| ApiError::not_found(&request.referral))?;
        let policy = self.policy_on(&mut tx, &m, self.clock.today()).await?;
        decision::may_schedule(state_of(&referral), &policy)
            .map_err(|v| Refusal::rules("the referral cannot go on the agenda", vec![v]))?;
        referral.state = state_column(ReferralState::InCommittee).into();
        referral.committee_meeting = Some(meeting_id.to_owned());
        let saved = self.store.save_referral(&mut tx, &referral, false).await?;
        let person = names::person(&m, &saved.person_id);
        caller
            .wrote(
                &mut tx,
                "ScheduleReferral",
                Action::Update,
                &request.referral,
                municipality,
                &person,
            )
            .await?;
        let agenda = self.store.agenda(&mut tx, &m, meeting_id).await?;
        tx.commit().await?;
        Ok(meeting_to_proto(meeting, &agenda))
    }
}
