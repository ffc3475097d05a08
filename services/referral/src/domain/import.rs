//! Bringing over an arrangement granted in the municipality's old system (DOMAIN.md's
//! "transition": a decision made under Serviceloven before 2024 continues, and an imported
//! arrangement keeps its SEL basis, mapped by `replaced_by`). What is checked is what the old
//! system holds, as it holds it: the terms' history, the follow-ups already held and the date
//! the last one set, the basis' age limit (R-RV-5). Every problem is named at once, by field.

use chrono::NaiveDate;

use super::decision::AgeLimit;

/// One version of the imported terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Terms {
    pub effective_from: NaiveDate,
    pub minutes_per_week: i32,
}

/// An arrangement as the old system holds it, its dates already read.
#[derive(Clone, Debug)]
pub struct Imported<'a> {
    pub today: NaiveDate,
    pub decision_date: NaiveDate,
    pub start: NaiveDate,
    pub expected_end: NaiveDate,
    pub terms: &'a [Terms],
    /// Days follow-ups were held, as given.
    pub held: &'a [NaiveDate],
    pub next_follow_up: Option<NaiveDate>,
    /// The policy's interval between follow-ups (R-FU-1), `None` when it states none.
    pub interval_months: Option<u32>,
    /// The last day the basis covers the person (R-RV-5), if it has an upper age.
    pub age_limit: Option<AgeLimit>,
}

/// A problem with one field of the import: the field and what it requires.
pub type Problem = (String, String);

/// Every problem of the arrangement; empty when it can be imported.
pub fn problems(a: &Imported<'_>) -> Vec<Problem> {
    let mut found: Vec<Problem> = Vec::new();
    let mut say = |field: &str, text: String| found.push((field.to_owned(), text));
    if a.decision_date > a.today {
        say("decision_date", "not in the future".into());
    }
    if a.expected_end < a.start {
        say("expected_end_date", "not before start_date".into());
    } else if a.expected_end < a.today {
        say(
            "expected_end_date",
            format!(
                "the arrangement ended on {}; only running arrangements are imported",
                a.expected_end
            ),
        );
    }
    if let Some(limit) = a.age_limit
        && a.expected_end > limit.last_day
    {
        say(
            "expected_end_date",
            format!(
                "the basis covers the person until {} (the day before they turn {}) (R-RV-5)",
                limit.last_day, limit.turns
            ),
        );
    }
    match a.terms.first() {
        None => say("terms", "at least one version of the terms".into()),
        Some(first) if first.effective_from != a.start => say(
            "terms[0].effective_from",
            format!("the first terms run from start_date, {}", a.start),
        ),
        Some(_) => {}
    }
    for (i, t) in a.terms.iter().enumerate() {
        if !(1..=kontakt_platform::units::MINUTES_IN_A_WEEK).contains(&t.minutes_per_week) {
            say(
                &format!("terms[{i}].minutes_per_week"),
                "1 to 10,080 minutes a week".into(),
            );
        }
        if i > 0 && t.effective_from <= a.terms[i - 1].effective_from {
            say(
                &format!("terms[{i}].effective_from"),
                "after the previous version's first day (R-RV-11)".into(),
            );
        }
        if t.effective_from > a.expected_end {
            say(
                &format!("terms[{i}].effective_from"),
                "not after expected_end_date".into(),
            );
        }
    }
    for (i, day) in a.held.iter().enumerate() {
        if *day < a.start || *day > a.today {
            say(
                &format!("follow_ups_held[{i}]"),
                format!("between start_date, {}, and today", a.start),
            );
        }
        if i > 0 && *day <= a.held[i - 1] {
            say(
                &format!("follow_ups_held[{i}]"),
                "after the previous one (oldest first)".into(),
            );
        }
    }
    if let Some(last) = a.held.iter().max() {
        let latest = a
            .interval_months
            .and_then(|m| last.checked_add_months(chrono::Months::new(m)));
        match (a.next_follow_up, latest) {
            (None, None) => say(
                "next_follow_up_date",
                "the policy states no interval, so the date the last follow-up set is required (R-FU-1)".into(),
            ),
            (Some(next), _) if next <= *last => say(
                "next_follow_up_date",
                format!("after the last follow-up held, {last}"),
            ),
            (Some(next), Some(latest)) if next > latest => say(
                "next_follow_up_date",
                format!("no later than the policy's interval allows, {latest} (R-FU-1)"),
            ),
            _ => {}
        }
    } else if a.next_follow_up.is_some_and(|next| next < a.start) {
        say("next_follow_up_date", "not before start_date".into());
    }
    found
}

/// The terms in force on `day`: the latest version that has begun, else the first.
pub fn terms_on(terms: &[Terms], day: NaiveDate) -> Option<&Terms> {
    terms
        .iter()
        .rev()
        .find(|t| t.effective_from <= day)
        .or_else(|| terms.first())
}

/// The basis a grant decided on `decided` rests on today: the decided one while it is in force,
/// else the one that replaced it, followed to the end of the chain. `replaced_by` gives each
/// code's successor; a chain longer than the catalogue is a defect and stops there.
pub fn basis_in_force<'a>(
    decided: &'a str,
    replaced_by: impl Fn(&str) -> Option<&'a str>,
) -> &'a str {
    let mut code = decided;
    for _ in 0..16 {
        match replaced_by(code) {
            Some(next) if next != code => code = next,
            _ => break,
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("a date")
    }

    fn terms() -> Vec<Terms> {
        vec![
            Terms {
                effective_from: d("2022-03-01"),
                minutes_per_week: 240,
            },
            Terms {
                effective_from: d("2023-06-01"),
                minutes_per_week: 180,
            },
        ]
    }

    fn imported<'a>(terms: &'a [Terms], held: &'a [NaiveDate]) -> Imported<'a> {
        Imported {
            today: d("2026-12-07"),
            decision_date: d("2022-02-15"),
            start: d("2022-03-01"),
            expected_end: d("2027-06-30"),
            terms,
            held,
            next_follow_up: None,
            interval_months: Some(6),
            age_limit: None,
        }
    }

    fn fields(found: &[Problem]) -> Vec<&str> {
        found.iter().map(|(f, _)| f.as_str()).collect()
    }

    #[test]
    fn transition_a_running_sel_arrangement_with_its_history_imports() {
        let terms = terms();
        let held = [d("2022-06-01"), d("2022-12-01"), d("2026-09-01")];
        assert!(problems(&imported(&terms, &held)).is_empty());
        assert_eq!(
            terms_on(&terms, d("2026-12-07"))
                .expect("terms")
                .minutes_per_week,
            180
        );
        assert_eq!(
            terms_on(&terms, d("2022-01-01"))
                .expect("terms")
                .minutes_per_week,
            240
        );
    }

    #[test]
    fn transition_an_ended_or_inconsistent_arrangement_is_refused_field_by_field() {
        let mut bad = terms();
        bad[0].effective_from = d("2022-04-01");
        bad[1].effective_from = d("2022-04-01");
        bad[1].minutes_per_week = 0;
        let held = [d("2022-06-01"), d("2022-05-01"), d("2027-01-01")];
        let mut a = imported(&bad, &held);
        a.decision_date = d("2027-01-01");
        a.expected_end = d("2026-01-31");
        assert_eq!(
            fields(&problems(&a)),
            [
                "decision_date",
                "expected_end_date",
                "terms[0].effective_from",
                "terms[1].minutes_per_week",
                "terms[1].effective_from",
                "follow_ups_held[1]",
                "follow_ups_held[2]",
            ]
        );
        assert_eq!(
            fields(&problems(&imported(&[], &[]))),
            ["terms"],
            "at least one version"
        );
    }

    #[test]
    fn r_rv_5_an_imported_child_grant_ends_before_the_18th_birthday() {
        let terms = terms();
        let mut a = imported(&terms, &[]);
        a.age_limit = Some(AgeLimit {
            last_day: d("2027-03-14"),
            turns: 18,
        });
        let found = problems(&a);
        assert_eq!(fields(&found), ["expected_end_date"]);
        assert!(found[0].1.contains("2027-03-14"), "{found:?}");
        a.expected_end = d("2027-03-14");
        assert!(problems(&a).is_empty());
    }

    #[test]
    fn r_fu_1_the_next_follow_up_after_those_held_keeps_to_the_policy() {
        let terms = terms();
        let held = [d("2026-09-01")];
        // Ringsted: an interval of 6 months; a date within it is taken, a later one refused.
        let mut a = imported(&terms, &held);
        a.next_follow_up = Some(d("2027-01-15"));
        assert!(problems(&a).is_empty());
        a.next_follow_up = Some(d("2027-03-02"));
        assert_eq!(fields(&problems(&a)), ["next_follow_up_date"]);
        a.next_follow_up = Some(d("2026-09-01"));
        assert_eq!(fields(&problems(&a)), ["next_follow_up_date"]);
        // Ishøj: no interval, so the date the last follow-up set is required.
        a.interval_months = None;
        a.next_follow_up = None;
        assert_eq!(fields(&problems(&a)), ["next_follow_up_date"]);
        a.next_follow_up = Some(d("2027-05-01"));
        assert!(problems(&a).is_empty());
    }

    #[test]
    fn transition_a_repealed_basis_maps_to_what_replaced_it() {
        let chain = |code: &str| match code {
            "sel-52-3-6" => Some("bl-32-1-3"),
            "old" => Some("sel-52-3-6"),
            "loop" => Some("loop"),
            _ => None,
        };
        assert_eq!(basis_in_force("sel-52-3-6", chain), "bl-32-1-3");
        assert_eq!(basis_in_force("old", chain), "bl-32-1-3");
        assert_eq!(basis_in_force("bl-32-1-3", chain), "bl-32-1-3");
        assert_eq!(basis_in_force("loop", chain), "loop");
    }
}
