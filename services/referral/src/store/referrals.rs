//! SQL for the referral workflow: policies, cases, plans, referrals, assessments, committee
//! meetings, decisions and grants. Steps that change several rows take the caller's
//! transaction, so the api commits a whole step (with its audit rows and events) or nothing.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;

use super::Store;
use crate::domain::LegalBasisFacts;

pub type Tx = kontakt_platform::db::CallTx;

#[derive(Debug, sqlx::FromRow)]
pub struct PolicyRow {
    pub municipality: String,
    pub id: String,
    pub effective_from: NaiveDate,
    pub body: Vec<u8>,
    pub revision: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

#[derive(Debug, sqlx::FromRow)]
pub struct CaseRow {
    pub municipality: String,
    pub id: String,
    pub case_system: String,
    pub external_id: String,
    pub kle_number: String,
    pub person_id: String,
    pub counsellor: String,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

#[derive(Debug, sqlx::FromRow)]
pub struct ReferralRow {
    pub municipality: String,
    pub id: String,
    pub case_id: String,
    pub person_id: String,
    pub counsellor: String,
    pub state: String,
    pub body: Vec<u8>,
    pub request_id: String,
    pub committee_meeting: Option<String>,
    pub revision: i64,
    pub submit_time: Option<DateTime<Utc>>,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

#[derive(Debug, sqlx::FromRow)]
pub struct MeetingRow {
    pub municipality: String,
    pub id: String,
    pub committee: String,
    pub meeting_date: NaiveDate,
    pub state: String,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

/// ListReferrals' filters; `None` = any.
pub struct ReferralFilter<'a> {
    pub state: Option<&'a str>,
    pub counsellor: Option<&'a str>,
    pub case_id: Option<&'a str>,
}

const POLICY_COLUMNS: &str =
    "municipality, id, effective_from, body, revision, create_time, update_time";
const REFERRAL_COLUMNS: &str = "municipality, id, case_id, person_id, counsellor, state, body, request_id, committee_meeting, revision, submit_time, create_time, update_time";
const CASE_COLUMNS: &str = "municipality, id, case_system, external_id, kle_number, person_id, counsellor, create_time, update_time";
const MEETING_COLUMNS: &str =
    "municipality, id, committee, meeting_date, state, create_time, update_time";

impl Store {
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        Tx::begin(&self.pool).await
    }

    // Policies ---------------------------------------------------------------------------

    /// Inserts a policy version; `None` if the municipality has one from the same date.
    pub async fn insert_policy(
        &self,
        tx: &mut PgConnection,
        municipality: &str,
        id: &str,
        effective_from: NaiveDate,
        body: &[u8],
        created_by: &str,
    ) -> Result<Option<PolicyRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO policies (municipality, id, effective_from, body, created_by)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (municipality, effective_from) DO NOTHING
             RETURNING {POLICY_COLUMNS}"
        )))
        .bind(municipality)
        .bind(id)
        .bind(effective_from)
        .bind(body)
        .bind(created_by)
        .fetch_optional(tx)
        .await
    }

    /// A policy version, locked until the caller's transaction ends.
    pub async fn lock_policy(
        &self,
        tx: &mut PgConnection,
        municipality: &str,
        id: &str,
    ) -> Result<Option<PolicyRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {POLICY_COLUMNS} FROM policies
              WHERE municipality = $1 AND id = $2 FOR UPDATE"
        )))
        .bind(municipality)
        .bind(id)
        .fetch_optional(tx)
        .await
    }

    /// Replaces a locked version's content, keeping what it said as a revision.
    pub async fn correct_policy(
        &self,
        tx: &mut PgConnection,
        row: &PolicyRow,
        body: &[u8],
        by: &str,
    ) -> Result<PolicyRow, sqlx::Error> {
        sqlx::query(
            "INSERT INTO policy_revisions (municipality, policy_id, revision, body, replaced_by)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&row.municipality)
        .bind(&row.id)
        .bind(row.revision)
        .bind(&row.body)
        .bind(by)
        .execute(&mut *tx)
        .await?;
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE policies SET body = $3, revision = revision + 1, update_time = now()
              WHERE municipality = $1 AND id = $2
              RETURNING {POLICY_COLUMNS}"
        )))
        .bind(&row.municipality)
        .bind(&row.id)
        .bind(body)
        .fetch_one(tx)
        .await
    }

    /// Newest effective_from first, after the page cursor (an effective_from date).
    pub async fn list_policies(
        &self,
        municipality: &str,
        before: Option<NaiveDate>,
        limit: i64,
    ) -> Result<Vec<PolicyRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {POLICY_COLUMNS} FROM policies
              WHERE municipality = $1 AND ($2::date IS NULL OR effective_from < $2)
              ORDER BY effective_from DESC LIMIT $3"
        )))
        .bind(municipality)
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    /// The policy in force on `day`: the latest that took effect on or before it.
    pub async fn policy_on(
        &self,
        tx: &mut PgConnection,
        municipality: &str,
        day: NaiveDate,
    ) -> Result<Option<PolicyRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {POLICY_COLUMNS} FROM policies
              WHERE municipality = $1 AND effective_from <= $2
              ORDER BY effective_from DESC LIMIT 1"
        )))
        .bind(municipality)
        .bind(day)
        .fetch_optional(tx)
        .await
    }

    pub async fn legal_basis_facts(
        &self,
        tx: &mut PgConnection,
    ) -> Result<HashMap<String, LegalBasisFacts>, sqlx::Error> {
        let rows: Vec<super::LegalBasisRow> = sqlx::query_as(
            "SELECT code, law, citation, title, description, valid_from, valid_until, replaced_by,
                    min_age_years, max_age_years, without_consent, compulsory
               FROM legal_bases",
        )
        .fetch_all(tx)
        .await?;
        Ok(rows
            .iter()
            .map(|row| (row.code.clone(), row.facts()))
            .collect())
    }

    // Cases ------------------------------------------------------------------------------

    /// Inserts the case, or returns the one already registered under the same case-system
    /// reference (`false` = it existed).
    pub async fn insert_case(
        &self,
        tx: &mut PgConnection,
        row: &CaseRow,
    ) -> Result<(CaseRow, bool), sqlx::Error> {
        let inserted: Option<CaseRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO cases (municipality, id, case_system, external_id, kle_number, person_id, counsellor)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (municipality, case_system, external_id) DO NOTHING
             RETURNING {CASE_COLUMNS}"
        )))
        .bind(&row.municipality)
        .bind(&row.id)
        .bind(&row.case_system)
        .bind(&row.external_id)
        .bind(&row.kle_number)
        .bind(&row.person_id)
        .bind(&row.counsellor)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(case) = inserted {
            return Ok((case, true));
        }
        let existing = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {CASE_COLUMNS} FROM cases
              WHERE municipality = $1 AND case_system = $2 AND external_id = $3"
        )))
        .bind(&row.municipality)
        .bind(&row.case_system)
        .bind(&row.external_id)
        .fetch_one(tx)
        .await?;
        Ok((existing, false))
    }

    pub async fn get_case(
        &self,
        municipality: &str,
        id: &str,
    ) -> Result<Option<CaseRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE municipality = $1 AND id = $2"
        )))
        .bind(municipality)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    pub async fn person_exists(
        &self,
        municipality: &str,
        id: &str,
    ) -> Result<Option<NaiveDate>, sqlx::Error> {
        sqlx::query_scalar("SELECT birth_date FROM persons WHERE municipality = $1 AND id = $2")
            .bind(municipality)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    // Plans ------------------------------------------------------------------------------

    pub async fn insert_plan(
        &self,
        tx: &mut PgConnection,
        municipality: &str,
        case_id: &str,
        id: &str,
        body: &[u8],
    ) -> Result<DateTime<Utc>, sqlx::Error> {
        sqlx::query_scalar(
            "INSERT INTO plans (municipality, case_id, id, body) VALUES ($1, $2, $3, $4)
             RETURNING create_time",
        )
        .bind(municipality)
        .bind(case_id)
        .bind(id)
        .bind(body)
        .fetch_one(tx)
        .await
    }

    pub async fn get_plan(
        &self,
        tx: &mut PgConnection,
        municipality: &str,
        case_id: &str,
        id: &str,
    ) -> Result<Option<Vec<u8>>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT body FROM plans WHERE municipality = $1 AND case_id = $2 AND id = $3",
        )
        .bind(municipality)
        .bind(case_id)
        .bind(id)
        .fetch_optional(tx)
        .await
    }

    // Referrals --------------------------------------------------------------------------

    /// Inserts a draft. A retry with the same request id gets the referral it made (`false`);
    /// a second open referral on a case is `Err(OpenReferral(existing id))`.
    pub async fn insert_referral(
        &self,
        tx: &mut PgConnection,
        row: &ReferralRow,
    ) -> Result<Result<(ReferralRow, bool), String>, sqlx::Error> {
        if let Some(existing) =
            referral_by_request(&mut *tx, &row.municipality, &row.request_id).await?
        {
            return Ok(Ok((existing, false)));
        }
        let inserted: Option<ReferralRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO referrals (municipality, id, case_id, person_id, counsellor, state, body, request_id)
             VALUES ($1, $2, $3, $4, $5, 'DRAFT', $6, $7)
             ON CONFLICT DO NOTHING
             RETURNING {REFERRAL_COLUMNS}"
        )))
        .bind(&row.municipality)
        .bind(&row.id)
        .bind(&row.case_id)
        .bind(&row.person_id)
        .bind(&row.counsellor)
        .bind(&row.body)
        .bind(&row.request_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(created) = inserted {
            return Ok(Ok((created, true)));
        }
        // Lost a race: either the same request id or another open referral on the case.
        if let Some(existing) =
            referral_by_request(&mut *tx, &row.municipality, &row.request_id).await?
        {
            return Ok(Ok((existing, false)));
        }
        let open: String = sqlx::query_scalar(
            "SELECT id FROM referrals WHERE municipality = $1 AND case_id = $2
                AND state IN ('DRAFT', 'SUBMITTED', 'IN_COMMITTEE', 'RETURNED')",
        )
        .bind(&row.municipality)
        .bind(&row.case_id)
        .fetch_one(tx)
        .await?;
        Ok(Err(open))
    }

    pub async fn get_referral(
        &self,
        municipality: &str,
        id: &str,
    ) -> Result<Option<ReferralRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {REFERRAL_COLUMNS} FROM referrals WHERE municipality = $1 AND id = $2"
        )))
        .bind(municipality)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    /// Newest first, after the page cursor `(create_time, id)`; `None` filters match any.
    pub async fn list_referrals(
        &self,
        municipality: &str,
        filter: &ReferralFilter<'_>,
        after: Option<(DateTime<Utc>, &str)>,
        limit: i64,
    ) -> Result<Vec<ReferralRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {REFERRAL_COLUMNS} FROM referrals
              WHERE municipality = $1
                AND ($2::text IS NULL OR state = $2)
                AND ($3::text IS NULL OR counsellor = $3)
                AND ($4::text IS NULL OR case_id = $4)
                AND ($5::timestamptz IS NULL OR (create_time, id) < ($5, $6))
              ORDER BY create_time DESC, id DESC
              LIMIT $7"
        )))
        .bind(municipality)
        .bind(filter.state)
        .bind(filter.counsellor)
        .bind(filter.case_id)
        .bind(after.map(|(t, _)| t))
        .bind(after.map(|(_, id)| id))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    /// The referral, locked for the rest of the transaction (one step at a time per referral).
    pub async fn lock_referral(
        &self,
        tx: &mut PgConnection,
        municipality: &str,
        id: &str,
    ) -> Result<Option<ReferralRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {REFERRAL_COLUMNS} FROM referrals WHERE municipality = $1 AND id = $2 FOR UPDATE"
        )))
        .bind(municipality)
        .bind(id)
        .fetch_optional(tx)
        .await
    }

    /// Writes a locked referral's new body, state and meeting; bumps its revision.
    pub async fn save_referral(
        &self,
        tx: &mut PgConnection,
        row: &ReferralRow,
        submitted: bool,
    ) -> Result<ReferralRow, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE referrals
                SET body = $3, state = $4, committee_meeting = $5, revision = revision + 1,
                    update_time = now(),
                    submit_time = CASE WHEN $6 THEN now() ELSE submit_time END
              WHERE municipality = $1 AND id = $2
              RETURNING {REFERRAL_COLUMNS}"
        )))
        .bind(&row.municipality)
        .bind(&row.id)
        .bind(&row.body)
        .bind(&row.state)
        .bind(&row.committee_meeting)
        .bind(submitted)
        .fetch_one(tx)
        .await
    }

    pub async fn insert_assessment(
        &self,
        tx: &mut PgConnection,
        municipality: &str,
        referral_id: &str,
        id: &str,
        body: &[u8],
    ) -> Result<DateTime<Utc>, sqlx::Error> {
        sqlx::query_scalar(
            "INSERT INTO assessments (municipality, referral_id, id, body) VALUES ($1, $2, $3, $4)
             RETURNING create_time",
        )
        .bind(municipality)
        .bind(referral_id)
        .bind(id)
        .bind(body)
        .fetch_one(tx)
        .await
    }

    pub async fn assessments(
        &self,
        tx: &mut PgConnection,
        municipality: &str,
        referral_id: &str,
    ) -> Result<Vec<Vec<u8>>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT body FROM assessments WHERE municipality = $1 AND referral_id = $2 ORDER BY id",
        )
        .bind(municipality)
        .bind(referral_id)
        .fetch_all(tx)
        .await
    }

    pub async fn birth_date(
        &self,
        tx: &mut PgConnection,
        municipality: &str,
        person_id: &str,
    ) -> Result<NaiveDate, sqlx::Error> {
        sqlx::query_scalar("SELECT birth_date FROM persons WHERE municipality = $1 AND id = $2")
            .bind(municipality)
            .bind(person_id)
            .fetch_one(tx)
            .await
    }

    // Committee meetings -----------------------------------------------------------------

    pub async fn insert_meeting(
        &self,
        tx: &mut PgConnection,
        municipality: &str,
        id: &str,
        committee: &str,
        meeting_date: NaiveDate,
    ) -> Result<MeetingRow, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO committee_meetings (municipality, id, committee, meeting_date)
             VALUES ($1, $2, $3, $4) RETURNING {MEETING_COLUMNS}"
        )))
        .bind(municipality)
        .bind(id)
        .bind(committee)
        .bind(meeting_date)
        .fetch_one(tx)
        .await
    }

    pub async fn lock_meeting(
        &self,
        tx: &mut PgConnection,
        municipality: &str,
        id: &str,
    ) -> Result<Option<MeetingRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {MEETING_COLUMNS} FROM committee_meetings
              WHERE municipality = $1 AND id = $2 FOR UPDATE"
        )))
        .bind(municipality)
        .bind(id)
        .fetch_optional(tx)
        .await
    }

    /// The day of a meeting, read without a lock (a decision has the referral locked; the
    /// meeting's date never changes).
    pub async fn meeting_date(
        &self,
        tx: &mut PgConnection,
        municipality: &str,
        id: &str,
    ) -> Result<Option<NaiveDate>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT meeting_date FROM committee_meetings WHERE municipality = $1 AND id = $2",
        )
        .bind(municipality)
        .bind(id)
        .fetch_optional(tx)
        .await
    }

    /// The referrals on a meeting's agenda, by id.
    pub async fn agenda(
        &self,
        tx: &mut PgConnection,
        municipality: &str,
        meeting_id: &str,
    ) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT id FROM referrals WHERE municipality = $1 AND committee_meeting = $2 ORDER BY id",
        )
        .bind(municipality)
        .bind(meeting_id)
        .fetch_all(tx)
        .await
    }

    // Decisions and grants ---------------------------------------------------------------

    pub async fn insert_decision(
        &self,
        tx: &mut PgConnection,
        municipality: &str,
        referral_id: &str,
        id: &str,
        outcome: &str,
        body: &[u8],
    ) -> Result<DateTime<Utc>, sqlx::Error> {
        sqlx::query_scalar(
            "INSERT INTO decisions (municipality, referral_id, id, outcome, body)
             VALUES ($1, $2, $3, $4, $5) RETURNING create_time",
        )
        .bind(municipality)
        .bind(referral_id)
        .bind(id)
        .bind(outcome)
        .bind(body)
        .fetch_one(tx)
        .await
    }
}

/// The referral a create with this idempotency key made, if any.
async fn referral_by_request(
    tx: &mut PgConnection,
    municipality: &str,
    request_id: &str,
) -> Result<Option<ReferralRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {REFERRAL_COLUMNS} FROM referrals WHERE municipality = $1 AND request_id = $2"
    )))
    .bind(municipality)
    .bind(request_id)
    .fetch_optional(tx)
    .await
}
