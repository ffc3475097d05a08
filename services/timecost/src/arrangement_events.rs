//! The events time & cost prices from: the referral service's grants (hours per week by
//! effective date, for overrun, R-TC-2) and the matching service's assignments and hourly rates
//! (who may register, inside which dates, at which rate, R-TC-1, R-TC-3), and the grants'
//! supplementary allowances expenses are checked against (R-TC-5). Each is applied in the
//! consumer's transaction and is harmless when replayed.

use chrono::NaiveDate;
use kontakt_platform::consumer::{HandleError, Handler, event_date, payload};
use kontakt_proto::events::v1::Envelope;
use kontakt_proto::matching::v1::{
    AssignmentChanged, AssignmentEnded, AssignmentStarted, ContactPersonRatesChanged, Employment,
    HourlyRate, ProcurementReason,
};
use kontakt_proto::referral::v1::{
    Allowance, AllowanceKind, AllowancePeriod, GrantApproved, GrantChanged, GrantEnded,
};
use prost::Name as _;
use sqlx::PgConnection;

/// Grant event types (follow the referral service with these).
pub fn grant_types() -> Vec<String> {
    vec![
        GrantApproved::full_name(),
        GrantChanged::full_name(),
        GrantEnded::full_name(),
    ]
}

/// Assignment and rate event types (follow the matching service with these).
pub fn assignment_types() -> Vec<String> {
    vec![
        AssignmentStarted::full_name(),
        AssignmentChanged::full_name(),
        AssignmentEnded::full_name(),
        ContactPersonRatesChanged::full_name(),
    ]
}

pub struct ArrangementEvents;

/// `municipalities/{m}/{collection}/{id}` → (m, id).
fn key<'a>(name: &'a str, collection: &str) -> Result<(&'a str, &'a str), HandleError> {
    match name.split('/').collect::<Vec<_>>().as_slice() {
        ["municipalities", m, c, id] if *c == collection && !m.is_empty() && !id.is_empty() => {
            Ok((m, id))
        }
        _ => Err(HandleError::reject(format!(
            "not a {collection} name: {name:?}"
        ))),
    }
}

/// `serviceUnits/{unit}/contactPersons/{id}` → (unit, id).
fn person_key(name: &str) -> Result<(String, String), HandleError> {
    kontakt_platform::resource::parse_contact_person(name, "contact_person")
        .map_err(|_| HandleError::reject(format!("not a contact person name: {name:?}")))
}

fn employment(value: i32) -> Result<&'static str, HandleError> {
    match Employment::try_from(value) {
        Ok(Employment::Staff) => Ok("STAFF"),
        Ok(Employment::Hourly) => Ok("HOURLY"),
        Ok(Employment::Provider) => Ok("PROVIDER"),
        _ => Err(HandleError::reject("the event has no employment")),
    }
}

/// Why a provider's person was bought (R-MP-2), as kept: `NO_CAPACITY`, or empty when not said.
fn procurement_reason(value: i32) -> &'static str {
    match ProcurementReason::try_from(value) {
        Ok(ProcurementReason::Unspecified) | Err(_) => "",
        Ok(reason) => reason
            .as_str_name()
            .strip_prefix("PROCUREMENT_REASON_")
            .unwrap_or(""),
    }
}

/// Sets `column` of the row `(m, id)` of `table` to `value`: a grant's or an assignment's end,
/// a grant's expected end, an assignment's minutes a week.
async fn set<'q, T>(
    tx: &mut PgConnection,
    table: &str,
    column: &str,
    (m, id): (&'q str, &'q str),
    value: T,
) -> Result<(), HandleError>
where
    T: 'q + Send + sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {table} SET {column} = $3 WHERE municipality = $1 AND id = $2"
    )))
    .bind(m)
    .bind(id)
    .bind(value)
    .execute(tx)
    .await?;
    Ok(())
}

/// Replaces a person's rates with `rates` (the whole set).
async fn replace_rates(
    tx: &mut PgConnection,
    unit: &str,
    id: &str,
    rates: &[HourlyRate],
) -> Result<(), HandleError> {
    let mut from = Vec::new();
    let mut to = Vec::new();
    let mut ore = Vec::new();
    for rate in rates {
        let validity = rate.validity.as_ref();
        from.push(event_date(
            validity.and_then(|v| v.start.as_ref()),
            "rate start",
        )?);
        to.push(
            validity
                .and_then(|v| v.end.as_ref())
                .and_then(|d| d.to_naive()),
        );
        ore.push(rate.hourly_price.as_ref().map_or(0, |m| m.ore));
    }
    sqlx::query("DELETE FROM person_rates WHERE unit = $1 AND person_id = $2")
        .bind(unit)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO person_rates (unit, person_id, valid_from, valid_to, hourly_ore)
         SELECT $1, $2, f, t, o FROM unnest($3::date[], $4::date[], $5::bigint[]) AS r(f, t, o)
          WHERE o > 0",
    )
    .bind(unit)
    .bind(id)
    .bind(from)
    .bind(to)
    .bind(ore)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[tonic::async_trait]
impl Handler for ArrangementEvents {
    async fn handle(&self, tx: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        let kind = event.r#type.as_str();
        if kind == GrantApproved::full_name() {
            let e: GrantApproved = payload(event)?;
            let (m, id) = key(&e.grant, "grants")?;
            let start = event_date(e.start_date.as_ref(), "start_date")?;
            sqlx::query(
                "INSERT INTO grants (municipality, id, person, start_date, expected_end_date)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(m)
            .bind(id)
            .bind(&e.person)
            .bind(start)
            .bind(event_date(
                e.expected_end_date.as_ref(),
                "expected_end_date",
            )?)
            .execute(&mut *tx)
            .await?;
            add_term(tx, m, id, start, e.minutes_per_week, &e.version).await?;
            replace_allowances(tx, m, id, start, &e.allowances).await?;
        } else if kind == GrantChanged::full_name() {
            let e: GrantChanged = payload(event)?;
            let (m, id) = key(&e.grant, "grants")?;
            let from = event_date(e.effective_from.as_ref(), "effective_from")?;
            add_term(tx, m, id, from, e.minutes_per_week, &e.version).await?;
            replace_allowances(tx, m, id, from, &e.allowances).await?;
            let end = event_date(e.expected_end_date.as_ref(), "expected_end_date")?;
            set(tx, "grants", "expected_end_date", (m, id), end).await?;
        } else if kind == GrantEnded::full_name() {
            let e: GrantEnded = payload(event)?;
            let (m, id) = key(&e.grant, "grants")?;
            let end = event_date(e.end_date.as_ref(), "end_date")?;
            set(tx, "grants", "end_date", (m, id), end).await?;
        } else if kind == AssignmentStarted::full_name() {
            let e: AssignmentStarted = payload(event)?;
            let (m, id) = key(&e.assignment, "assignments")?;
            let (_, grant) = key(&e.grant, "grants")?;
            let (unit, person) = person_key(&e.contact_person)?;
            sqlx::query(
                "INSERT INTO assignments
                        (municipality, id, grant_id, unit, contact_person_id, employment,
                         agreed_hourly_ore, minutes_per_week, start_date, provider_id,
                         procurement_reason)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
            )
            .bind(m)
            .bind(id)
            .bind(grant)
            .bind(&unit)
            .bind(&person)
            .bind(employment(e.employment)?)
            .bind(e.agreed_hourly_price.as_ref().map(|p| p.ore))
            .bind(e.minutes_per_week)
            .bind(event_date(e.start_date.as_ref(), "start_date")?)
            .bind(
                e.provider
                    .strip_prefix("providers/")
                    .filter(|p| !p.is_empty()),
            )
            .bind(procurement_reason(e.procurement_reason))
            .execute(&mut *tx)
            .await?;
            replace_rates(tx, &unit, &person, &e.rates).await?;
        } else if kind == AssignmentChanged::full_name() {
            let e: AssignmentChanged = payload(event)?;
            let (m, id) = key(&e.assignment, "assignments")?;
            set(
                tx,
                "assignments",
                "minutes_per_week",
                (m, id),
                e.minutes_per_week,
            )
            .await?;
        } else if kind == AssignmentEnded::full_name() {
            let e: AssignmentEnded = payload(event)?;
            let (m, id) = key(&e.assignment, "assignments")?;
            let end = event_date(e.end_date.as_ref(), "end_date")?;
            set(tx, "assignments", "end_date", (m, id), end).await?;
        } else if kind == ContactPersonRatesChanged::full_name() {
            let e: ContactPersonRatesChanged = payload(event)?;
            let (unit, person) = person_key(&e.contact_person)?;
            replace_rates(tx, &unit, &person, &e.rates).await?;
        }
        // Other types are not subscribed to; should one arrive, it has nothing to do here.
        Ok(())
    }
}

/// The grant version's allowances from `from` (the whole set: a kind missing from it is no
/// longer granted from that day, R-RV-13).
async fn replace_allowances(
    tx: &mut PgConnection,
    m: &str,
    grant: &str,
    from: NaiveDate,
    allowances: &[Allowance],
) -> Result<(), HandleError> {
    sqlx::query(
        "DELETE FROM grant_allowances WHERE municipality = $1 AND grant_id = $2 AND effective_from = $3",
    )
    .bind(m)
    .bind(grant)
    .bind(from)
    .execute(&mut *tx)
    .await?;
    for a in allowances {
        let kind = match AllowanceKind::try_from(a.kind) {
            Ok(AllowanceKind::Mileage) => "MILEAGE",
            Ok(AllowanceKind::Activity) => "ACTIVITY",
            Ok(AllowanceKind::Interpreter) => "INTERPRETER",
            _ => return Err(HandleError::reject("an allowance has no kind")),
        };
        let period = match AllowancePeriod::try_from(a.period) {
            Ok(AllowancePeriod::Month) => "MONTH",
            Ok(AllowancePeriod::Quarter) => "QUARTER",
            Ok(AllowancePeriod::Year) => "YEAR",
            Ok(AllowancePeriod::Grant) => "GRANT",
            _ => return Err(HandleError::reject("an allowance has no period")),
        };
        sqlx::query(
            "INSERT INTO grant_allowances
                    (municipality, grant_id, effective_from, kind, amount_ore, period, end_date)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (municipality, grant_id, effective_from, kind) DO UPDATE
                SET amount_ore = EXCLUDED.amount_ore, period = EXCLUDED.period,
                    end_date = EXCLUDED.end_date",
        )
        .bind(m)
        .bind(grant)
        .bind(from)
        .bind(kind)
        .bind(a.amount.as_ref().map_or(0, |x| x.ore).max(0))
        .bind(period)
        .bind(a.end_date.as_ref().and_then(|d| d.to_naive()))
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// The granted minutes from `from` (a replay of the same version changes nothing).
async fn add_term(
    tx: &mut PgConnection,
    m: &str,
    grant: &str,
    from: NaiveDate,
    minutes: i32,
    version: &str,
) -> Result<(), HandleError> {
    sqlx::query(
        "INSERT INTO grant_terms (municipality, grant_id, effective_from, minutes_per_week, version)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (municipality, grant_id, effective_from)
         DO UPDATE SET minutes_per_week = EXCLUDED.minutes_per_week, version = EXCLUDED.version",
    )
    .bind(m)
    .bind(grant)
    .bind(from)
    .bind(minutes)
    .bind(version)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_keys_and_others_are_refused() {
        assert_eq!(
            key("municipalities/183/assignments/a1", "assignments").ok(),
            Some(("183", "a1"))
        );
        assert!(key("municipalities/183/grants/g", "assignments").is_err());
        assert_eq!(
            person_key("serviceUnits/u/contactPersons/anna").ok(),
            Some(("u".to_owned(), "anna".to_owned()))
        );
        assert!(person_key("serviceUnits/u/persons/anna").is_err());
        assert!(employment(0).is_err());
    }
}
