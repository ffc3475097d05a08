//! A contact person as a coordinator writes it, checked whole and turned into stored values;
//! every wrong field is named (R-MP-1, R-MP-4, R-MP-6, R-TC-3).

use kontakt_platform::ApiError;
use kontakt_platform::resource::{day, valid_id};
use kontakt_proto::matching::v1::{
    CertificateResult, ContactPerson, ContactPersonState, Employment, Gender, OtherDutyKind,
};
use tonic_types::FieldViolation;

use super::MAX_WEEK_MINUTES;
use super::fields::{competence_codes, municipality_codes, period, price, text};
use crate::domain::people;
use crate::store::PersonValues;

fn stored_employment(e: Employment) -> &'static str {
    match e {
        Employment::Staff => "STAFF",
        Employment::Hourly => "HOURLY",
        _ => "PROVIDER",
    }
}

/// Checks a whole contact person and turns it into stored values; every wrong field is named.
pub(super) fn person_values(p: &ContactPerson) -> Result<PersonValues, ApiError> {
    let mut wrong = Vec::new();
    text(&p.display_name, "display_name", 200, true, &mut wrong);
    let employment = Employment::try_from(p.employment).unwrap_or(Employment::Unspecified);
    let provider_id = match employment {
        Employment::Unspecified => {
            wrong.push(FieldViolation::new(
                "employment",
                "STAFF, HOURLY or PROVIDER is required (R-MP-1)",
            ));
            None
        }
        Employment::Provider => match p.provider.strip_prefix("providers/") {
            Some(id) if valid_id(id) => Some(id.to_owned()),
            _ => {
                wrong.push(FieldViolation::new(
                    "provider",
                    "a provider's employee needs `providers/{provider}`",
                ));
                None
            }
        },
        _ => {
            if !p.provider.is_empty() {
                wrong.push(FieldViolation::new(
                    "provider",
                    "only a PROVIDER employee names a provider",
                ));
            }
            None
        }
    };
    let competences = competence_codes(&p.competences, "competences", &mut wrong);
    if Gender::try_from(p.gender).is_err() {
        wrong.push(FieldViolation::new("gender", "not a known gender"));
    }
    let municipalities = municipality_codes(&p.municipalities, "municipalities", false, &mut wrong);
    if !(0..=MAX_WEEK_MINUTES).contains(&p.weekly_capacity_minutes) {
        wrong.push(FieldViolation::new(
            "weekly_capacity_minutes",
            format!("0 to {MAX_WEEK_MINUTES} minutes"),
        ));
    }
    if p.other_duties.len() > 20 {
        wrong.push(FieldViolation::new("other_duties", "at most 20 duties"));
    }
    let mut duty_kinds = Vec::new();
    let mut duty_minutes = Vec::new();
    let mut duty_descriptions = Vec::new();
    for (i, duty) in p.other_duties.iter().take(20).enumerate() {
        if matches!(
            OtherDutyKind::try_from(duty.kind),
            Ok(OtherDutyKind::Unspecified) | Err(_)
        ) {
            wrong.push(FieldViolation::new(
                format!("other_duties[{i}].kind"),
                "SUPERVISED_CONTACT, PARENT_SUPPORT or OTHER is required",
            ));
        }
        if !(1..=MAX_WEEK_MINUTES).contains(&duty.minutes_per_week) {
            wrong.push(FieldViolation::new(
                format!("other_duties[{i}].minutes_per_week"),
                format!("1 to {MAX_WEEK_MINUTES} minutes"),
            ));
        }
        text(
            &duty.description,
            &format!("other_duties[{i}].description"),
            200,
            false,
            &mut wrong,
        );
        duty_kinds.push(duty.kind);
        duty_minutes.push(duty.minutes_per_week);
        duty_descriptions.push(duty.description.trim().to_owned());
    }
    if (0..=MAX_WEEK_MINUTES).contains(&p.weekly_capacity_minutes)
        && people::capacity_for_assignments(p.weekly_capacity_minutes, &duty_minutes) < 0
    {
        wrong.push(FieldViolation::new(
            "other_duties",
            "other duties take more than the weekly capacity (R-MP-4)",
        ));
    }
    let certificate = match &p.child_protection_certificate {
        None => None,
        Some(c) => {
            let issue = day(
                c.issue_date.as_ref(),
                "child_protection_certificate.issue_date",
            )
            .unwrap_or(None);
            let expiry = day(
                c.expiry_date.as_ref(),
                "child_protection_certificate.expiry_date",
            );
            let result = CertificateResult::try_from(c.result);
            if issue.is_none() {
                wrong.push(FieldViolation::new(
                    "child_protection_certificate.issue_date",
                    "a valid issue date is required (R-MP-6)",
                ));
            }
            if !matches!(
                result,
                Ok(CertificateResult::Clear | CertificateResult::Entries)
            ) {
                wrong.push(FieldViolation::new(
                    "child_protection_certificate.result",
                    "CLEAR or ENTRIES is required (R-MP-6)",
                ));
            }
            let expiry = match expiry {
                Ok(Some(e)) if issue.is_some_and(|i| e < i) => {
                    wrong.push(FieldViolation::new(
                        "child_protection_certificate.expiry_date",
                        "must not be before the issue date",
                    ));
                    None
                }
                Ok(e) => e,
                Err(_) => {
                    wrong.push(FieldViolation::new(
                        "child_protection_certificate.expiry_date",
                        "not a valid calendar date",
                    ));
                    None
                }
            };
            issue.map(|i| (i, c.result, expiry))
        }
    };
    let state = match ContactPersonState::try_from(p.state) {
        Ok(ContactPersonState::Unspecified | ContactPersonState::Active) => "ACTIVE",
        Ok(ContactPersonState::Inactive) => "INACTIVE",
        Err(_) => {
            wrong.push(FieldViolation::new("state", "not a known state"));
            "ACTIVE"
        }
    };
    if employment == Employment::Provider && !p.rates.is_empty() {
        wrong.push(FieldViolation::new(
            "rates",
            "a provider's employee is paid by contract or agreed price, not a rate",
        ));
    }
    if p.rates.len() > 50 {
        wrong.push(FieldViolation::new("rates", "at most 50 rates"));
    }
    let mut rates = Vec::new();
    let mut periods = Vec::new();
    for (i, rate) in p.rates.iter().take(50).enumerate() {
        let ore = price(
            rate.hourly_price.as_ref(),
            &format!("rates[{i}].hourly_price"),
            &mut wrong,
        );
        let valid = period(
            rate.validity.as_ref(),
            &format!("rates[{i}].validity"),
            &mut wrong,
        );
        periods.push(valid);
        rates.push((valid.from, valid.to, ore));
    }
    if let Some((a, b)) = people::first_overlap(&periods) {
        wrong.push(FieldViolation::new(
            format!("rates[{b}].validity"),
            format!("overlaps rates[{a}]: one rate per day"),
        ));
    }
    if !wrong.is_empty() {
        return Err(ApiError::InvalidArgument(wrong));
    }
    Ok(PersonValues {
        display_name: p.display_name.trim().to_owned(),
        employment: stored_employment(employment),
        provider_id,
        competences,
        gender: p.gender,
        municipalities,
        weekly_capacity_minutes: p.weekly_capacity_minutes,
        duty_kinds,
        duty_minutes,
        duty_descriptions,
        certificate,
        state,
        rates,
    })
}

#[cfg(test)]
mod tests {
    use kontakt_proto::common::v1::DateRange;
    use kontakt_proto::matching::v1::{ChildProtectionCertificate, HourlyRate, OtherDuty};

    use super::*;
    use crate::api::fields::money;

    fn valid() -> ContactPerson {
        ContactPerson {
            display_name: "Anna".into(),
            employment: Employment::Staff as i32,
            competences: vec!["competences/substance-abuse".into()],
            municipalities: vec!["183".into()],
            weekly_capacity_minutes: 1_200,
            ..ContactPerson::default()
        }
    }

    fn fields(err: ApiError) -> Vec<String> {
        match err {
            ApiError::InvalidArgument(v) => v.into_iter().map(|f| f.field).collect(),
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_person_is_accepted_and_every_wrong_field_is_named() {
        assert!(person_values(&valid()).is_ok());
        let wrong = ContactPerson {
            display_name: " ".into(),
            employment: 0,
            competences: vec!["substance-abuse".into()],
            municipalities: vec![],
            weekly_capacity_minutes: -1,
            other_duties: vec![OtherDuty {
                kind: 0,
                minutes_per_week: 0,
                description: String::new(),
            }],
            child_protection_certificate: Some(ChildProtectionCertificate::default()),
            ..ContactPerson::default()
        };
        assert_eq!(
            fields(person_values(&wrong).err().expect("invalid")),
            [
                "display_name",
                "employment",
                "competences[0]",
                "municipalities",
                "weekly_capacity_minutes",
                "other_duties[0].kind",
                "other_duties[0].minutes_per_week",
                "child_protection_certificate.issue_date",
                "child_protection_certificate.result",
            ]
        );
    }

    #[test]
    fn duties_beyond_capacity_and_overlapping_rates_are_refused() {
        let rate = |from: i32, to: Option<i32>| HourlyRate {
            hourly_price: money(30_000),
            validity: Some(DateRange {
                start: Some(kontakt_proto::common::v1::Date {
                    year: from,
                    month: 1,
                    day: 1,
                }),
                end: to.map(|y| kontakt_proto::common::v1::Date {
                    year: y,
                    month: 12,
                    day: 31,
                }),
            }),
        };
        let person = ContactPerson {
            other_duties: vec![OtherDuty {
                kind: OtherDutyKind::SupervisedContact as i32,
                minutes_per_week: 1_500,
                description: String::new(),
            }],
            rates: vec![
                rate(2025, Some(2025)),
                rate(2026, None),
                rate(2026, Some(2026)),
            ],
            ..valid()
        };
        assert_eq!(
            fields(person_values(&person).err().expect("invalid")),
            ["other_duties", "rates[2].validity"]
        );
    }

    #[test]
    fn only_a_providers_employee_names_a_provider_and_has_no_rate() {
        let staff_with_provider = ContactPerson {
            provider: "providers/p".into(),
            ..valid()
        };
        assert_eq!(
            fields(person_values(&staff_with_provider).err().expect("invalid")),
            ["provider"]
        );
        let provider_without = ContactPerson {
            employment: Employment::Provider as i32,
            ..valid()
        };
        assert_eq!(
            fields(person_values(&provider_without).err().expect("invalid")),
            ["provider"]
        );
        let ok = ContactPerson {
            employment: Employment::Provider as i32,
            provider: "providers/p".into(),
            ..valid()
        };
        assert_eq!(
            person_values(&ok).ok().and_then(|v| v.provider_id),
            Some("p".into())
        );
    }
}
