//! A municipality's reminder lead time (R-FU-4): its own row in `follow_up_settings`, else
//! the default row's.

use super::Store;

impl Store {
    /// The municipality's reminder lead time in days.
    pub async fn lead_days(&self, municipality: &str) -> Result<i32, sqlx::Error> {
        sqlx::query_scalar("SELECT due_lead_days($1)")
            .bind(municipality)
            .fetch_one(&self.pool)
            .await
    }

    /// A municipality's reminder lead time: (days, whether it is the default, revision).
    pub async fn settings(&self, municipality: &str) -> Result<(i32, bool, i64), sqlx::Error> {
        let own: Option<(i32, i64)> = sqlx::query_as(
            "SELECT due_lead_days, revision FROM follow_up_settings WHERE municipality = $1",
        )
        .bind(municipality)
        .fetch_optional(&self.pool)
        .await?;
        match own {
            Some((days, revision)) => Ok((days, false, revision)),
            None => Ok((self.lead_days(municipality).await?, true, 0)),
        }
    }

    /// Sets a municipality's lead time if its revision is still `revision` (0 = none yet);
    /// `false` when another change came first. Reminders not yet sent follow the new time.
    pub async fn set_lead_days(
        &self,
        municipality: &str,
        days: i32,
        revision: Option<i64>,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO follow_up_settings (municipality, due_lead_days) VALUES ($1, $2)
             ON CONFLICT (municipality) DO UPDATE
                SET due_lead_days = $2, revision = follow_up_settings.revision + 1
              WHERE $3::bigint IS NULL OR follow_up_settings.revision = $3",
        )
        .bind(municipality)
        .bind(days)
        .bind(revision)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
