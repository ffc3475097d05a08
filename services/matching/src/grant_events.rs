//! The referral service's grant events, as matching applies them: GrantApproved opens a
//! matching request; GrantChanged gives it the new weekly hours and the active assignment with
//! it (if the person has the time: otherwise the shortfall shows as unmet demand, R-MP-4/5);
//! GrantEnded closes it, ends the assignment and cancels purchases in progress. Each is applied
//! in the consumer's transaction and is harmless when replayed.

use kontakt_platform::consumer::{HandleError, Handler, event_date, payload};
use kontakt_proto::events::v1::Envelope;
use kontakt_proto::matching::v1::Gender;
use kontakt_proto::referral::v1::{
    GenderPreference, GrantApproved, GrantChanged, GrantEnded, Needs,
};
use prost::Name as _;
use sqlx::PgConnection;

use crate::assignments;
use crate::store::{NewRequest, RequestTerms, Store};

/// The event types this handler applies (full protobuf names), for the subscription.
pub fn types() -> Vec<String> {
    vec![
        GrantApproved::full_name(),
        GrantChanged::full_name(),
        GrantEnded::full_name(),
    ]
}

pub struct GrantEvents {
    store: Store,
}

impl GrantEvents {
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

/// `municipalities/{m}/grants/{id}` → (m, id): the request has the grant's id.
fn grant_key(grant: &str) -> Result<(&str, &str), HandleError> {
    match grant.split('/').collect::<Vec<_>>().as_slice() {
        ["municipalities", m, "grants", id] if !m.is_empty() && !id.is_empty() => Ok((m, id)),
        _ => Err(HandleError::reject(format!("not a grant name: {grant:?}"))),
    }
}

/// The referral's gender preference in matching's terms.
pub fn preferred_gender(needs: Option<&Needs>) -> Gender {
    match needs.map(|n| n.gender_preference()) {
        Some(GenderPreference::Female) => Gender::Female,
        Some(GenderPreference::Male) => Gender::Male,
        _ => Gender::Unspecified,
    }
}

/// `competences/{code}` names → codes; anything else is dropped (the referral checked them).
pub fn competence_codes(needs: Option<&Needs>) -> Vec<String> {
    let mut codes: Vec<String> = needs
        .map(|n| {
            n.competences
                .iter()
                .filter_map(|c| c.strip_prefix("competences/"))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    codes.sort();
    codes.dedup();
    codes
}

#[tonic::async_trait]
impl Handler for GrantEvents {
    async fn handle(&self, tx: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        let kind = event.r#type.as_str();
        if kind == GrantApproved::full_name() {
            let approved: GrantApproved = payload(event)?;
            let (m, id) = grant_key(&approved.grant)?;
            let needs = approved.needs.as_ref();
            self.store
                .open_request(
                    tx,
                    &NewRequest {
                        municipality: m,
                        id,
                        person: &approved.person,
                        recipient: approved.recipient,
                        competences: &competence_codes(needs),
                        preferred_gender: preferred_gender(needs) as i32,
                        age_years: approved.age_years_at_start,
                        description: needs.map_or("", |n| n.description.as_str()),
                        minutes_per_week: approved.minutes_per_week,
                        start_date: event_date(approved.start_date.as_ref(), "start_date")?,
                        expected_end_date: event_date(
                            approved.expected_end_date.as_ref(),
                            "expected_end_date",
                        )?,
                        grant_version: &approved.version,
                        certificate_required: !approved.certificate_not_required,
                        certificate_renewal_months: approved
                            .certificate_renewal_months
                            .clamp(0, 60),
                    },
                )
                .await?;
        } else if kind == GrantChanged::full_name() {
            let changed: GrantChanged = payload(event)?;
            let (m, id) = grant_key(&changed.grant)?;
            let found = self
                .store
                .change_request(
                    tx,
                    m,
                    id,
                    &RequestTerms {
                        minutes_per_week: changed.minutes_per_week,
                        minutes_from: event_date(
                            changed.effective_from.as_ref(),
                            "effective_from",
                        )?,
                        expected_end_date: event_date(
                            changed.expected_end_date.as_ref(),
                            "expected_end_date",
                        )?,
                        grant_version: &changed.version,
                    },
                )
                .await?;
            if !found {
                return Err(HandleError::reject(format!(
                    "no matching request for {}: its GrantApproved was never seen",
                    changed.grant
                )));
            }
            if let Some(assignment) = self.store.active_assignment_of(tx, m, id).await? {
                let from = event_date(changed.effective_from.as_ref(), "effective_from")?
                    .max(assignment.start_date);
                assignments::resize(&self.store, tx, &assignment, changed.minutes_per_week, from)
                    .await?;
            }
        } else if kind == GrantEnded::full_name() {
            let ended: GrantEnded = payload(event)?;
            let (m, id) = grant_key(&ended.grant)?;
            let end = event_date(ended.end_date.as_ref(), "end_date")?;
            // The request first, as every writer locks it (no deadlock with the coordinator).
            self.store.lock_request(tx, m, id).await?;
            if let Some(assignment) = self.store.active_assignment_of(tx, m, id).await? {
                let last = end.max(assignment.start_date);
                assignments::finish(&self.store, tx, &assignment, last, "the grant ended", false)
                    .await?;
            }
            self.store.cancel_open_procurements(tx, m, id).await?;
            let found = self.store.close_request(tx, m, id, end).await?;
            if !found {
                return Err(HandleError::reject(format!(
                    "no matching request for {}: its GrantApproved was never seen",
                    ended.grant
                )));
            }
        }
        // Other types are not subscribed to; should one arrive, it has nothing to do here.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_become_codes_and_a_gender() {
        let needs = Needs {
            competences: vec![
                "competences/substance-abuse".into(),
                "competences/language-arabic".into(),
                "competences/substance-abuse".into(),
            ],
            gender_preference: GenderPreference::Female as i32,
            description: String::new(),
        };
        assert_eq!(
            competence_codes(Some(&needs)),
            ["language-arabic", "substance-abuse"]
        );
        assert_eq!(preferred_gender(Some(&needs)), Gender::Female);
        assert_eq!(preferred_gender(None), Gender::Unspecified);
        let no_preference = Needs {
            gender_preference: GenderPreference::None as i32,
            ..needs
        };
        assert_eq!(preferred_gender(Some(&no_preference)), Gender::Unspecified);
    }

    #[test]
    fn only_grant_names_are_keys() {
        assert_eq!(
            grant_key("municipalities/183/grants/g-1").ok(),
            Some(("183", "g-1"))
        );
        for bad in [
            "municipalities/183/grants/",
            "grants/g-1",
            "municipalities/183/referrals/r",
        ] {
            assert!(grant_key(bad).is_err(), "{bad}");
        }
    }
}
