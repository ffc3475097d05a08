//! Who can take a child, and in which order (R-MP-1, R-MP-3, R-MP-4, R-MP-6).
//!
//! First the hard rules exclude whoever cannot be assigned: inactive, no clear child-protection
//! certificate valid on the start date (R-MP-6), not serving the municipality, or too little
//! free capacity for the granted hours (R-MP-4). Every reason is kept, so the coordinator can
//! ask why someone is missing. Each hard rule is a function over exactly the facts it checks
//! ([`certificate_exclusions`], [`outside_area`], [`lacks_capacity`], [`ineligibility`]), so an
//! assignment applies the same rules to the stored person.
//!
//! The rest are scored factor by factor; each factor's points and a sentence explaining them
//! go with the proposal. Points:
//!
//! | factor | points | why |
//! |---|---|---|
//! | competences | +40 per needed competence held | the grant's needs come first (R-MP-3) |
//! | age group | +20 if an `age-{from}-{to}` competence covers the child's age | R-MP-3 |
//! | gender | +30 if it matches a stated preference, −30 if not | R-MP-3 |
//! | continuity | +60 if the person already knows the child | a known adult is worth more than a fit on paper (R-MP-3) |
//! | own people | +30 staff, +20 hourly hire, 0 provider | the municipality's own people first (R-MP-1) |
//! | free capacity | +1 per free hour left after the assignment, at most +10 | spreads the load |
//! | cost | −1 per DKK 25 of the hourly cost rate | cheaper, all else equal (R-MP-3) |
//!
//! Ties are broken by lower cost, then by id, so the same data always gives the same order.

use chrono::NaiveDate;
use kontakt_platform::Refusal;
use kontakt_proto::matching::v1::{CertificateResult, Employment, Gender};

/// What the grant needs.
pub struct Demand<'a> {
    /// 3-digit code of the municipality the child lives in.
    pub municipality: &'a str,
    /// Needed competence codes (e.g. `substance-abuse`, `language-arabic`).
    pub competences: &'a [String],
    /// `Unspecified` = no preference.
    pub preferred_gender: Gender,
    pub age_years: i32,
    pub minutes_per_week: i32,
    pub start_date: NaiveDate,
    /// The child's pseudonymous name, for continuity.
    pub person: &'a str,
    /// What the law and the municipality's policy ask of a certificate here (R-MP-6).
    pub certificate_rule: CertificateRule,
}

#[derive(Clone, Debug)]
pub struct Certificate {
    pub result: CertificateResult,
    /// The day it was issued, if on record.
    pub issued: Option<NaiveDate>,
    /// Last day it counts for new assignments; `None` = no expiry set.
    pub expiry: Option<NaiveDate>,
}

/// What R-MP-6 asks of a contact person's certificate for one grant: whether one is required
/// (by law for a child under 15 or a family; by the municipality's policy for older children)
/// and how often the municipality renews it. Decided by the referral service from the policy
/// in force and carried on the grant's event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CertificateRule {
    pub required: bool,
    /// A certificate issued longer ago than this many months no longer counts.
    pub renewal_months: Option<u32>,
}

impl Default for CertificateRule {
    /// Required, with no renewal beyond its own expiry: what holds when nothing says otherwise.
    fn default() -> Self {
        Self {
            required: true,
            renewal_months: None,
        }
    }
}

/// A contact person as ranking sees them.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub id: String,
    pub employment: Employment,
    pub competences: Vec<String>,
    pub gender: Gender,
    pub municipalities: Vec<String>,
    pub active: bool,
    pub weekly_capacity_minutes: i32,
    /// Minutes per week used by other duties (R-MP-4).
    pub other_duties_minutes: i32,
    /// Minutes per week booked by active assignments.
    pub booked_minutes: i32,
    pub certificate: Option<Certificate>,
    /// Children (pseudonymous names) the person has had assignments with.
    pub known_persons: Vec<String>,
    /// Hourly cost rate in øre valid on the start date, if one is on record.
    pub hourly_cost_ore: Option<i64>,
}

impl Candidate {
    fn free_minutes(&self) -> i32 {
        self.weekly_capacity_minutes - self.other_duties_minutes - self.booked_minutes
    }
}

/// Why someone cannot be assigned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exclusion {
    Inactive,
    NoCertificate,
    CertificateEntries,
    CertificateExpired(NaiveDate),
    /// Issued on the first day; the municipality's policy wanted it renewed by the second.
    CertificateNotRenewed {
        issued: NaiveDate,
        renew_by: NaiveDate,
        months: u32,
    },
    OutsideArea,
    NoCapacity {
        free: i32,
        needed: i32,
    },
}

impl Exclusion {
    pub fn rule(&self) -> &'static str {
        match self {
            Exclusion::Inactive | Exclusion::OutsideArea => "R-MP-3",
            Exclusion::NoCertificate
            | Exclusion::CertificateEntries
            | Exclusion::CertificateExpired(_)
            | Exclusion::CertificateNotRenewed { .. } => "R-MP-6",
            Exclusion::NoCapacity { .. } => "R-MP-4",
        }
    }

    pub fn explain(&self) -> String {
        match self {
            Exclusion::Inactive => "no longer takes assignments".into(),
            Exclusion::NoCertificate => "no child-protection certificate on record".into(),
            Exclusion::CertificateEntries => "the child-protection certificate has entries".into(),
            Exclusion::CertificateExpired(day) => {
                format!("the child-protection certificate expired on {day}")
            }
            Exclusion::CertificateNotRenewed {
                issued,
                renew_by,
                months,
            } => format!(
                "the child-protection certificate of {issued} was to be renewed by {renew_by} \
                 (the municipality's policy: every {months} months)"
            ),
            Exclusion::OutsideArea => "does not work in the child's municipality".into(),
            Exclusion::NoCapacity { free, needed } => {
                format!("{free} free minutes a week, {needed} needed")
            }
        }
    }
}

/// One factor of a score, with its explanation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Factor {
    pub name: &'static str,
    pub points: i32,
    pub explanation: String,
}

#[derive(Clone, Debug)]
pub struct Proposal {
    pub candidate: String,
    pub score: i32,
    pub factors: Vec<Factor>,
    /// Needed competences the candidate lacks (R-MP-5: what to hire for).
    pub missing_competences: Vec<String>,
    cost_ore: i64,
}

#[derive(Clone, Debug, Default)]
pub struct Ranking {
    /// Best first.
    pub proposals: Vec<Proposal>,
    /// Everyone who cannot be assigned, with every reason, by id.
    pub excluded: Vec<(String, Vec<Exclusion>)>,
}

/// What the hard rules other than capacity look at in a person (R-MP-3, R-MP-6): exactly these
/// facts, so an assignment checks them on the stored person without making up a candidate.
#[derive(Clone, Copy, Debug)]
pub struct Eligibility<'a> {
    pub active: bool,
    pub certificate: Option<&'a Certificate>,
    /// 3-digit codes of the municipalities the person works in.
    pub municipalities: &'a [String],
}

/// R-MP-6: where `rule` asks for one, no clear child-protection certificate on record, one
/// expired before `start`, or one the municipality's renewal period has run out on by `start`.
/// None asked (a child of 15 or more, and a policy that keeps to the law): nothing to check.
pub fn certificate_exclusions(
    certificate: Option<&Certificate>,
    rule: CertificateRule,
    start: NaiveDate,
) -> Vec<Exclusion> {
    let mut found = Vec::new();
    if !rule.required {
        return found;
    }
    match certificate {
        None => found.push(Exclusion::NoCertificate),
        Some(cert) => {
            if cert.result != CertificateResult::Clear {
                found.push(if cert.result == CertificateResult::Entries {
                    Exclusion::CertificateEntries
                } else {
                    Exclusion::NoCertificate
                });
            }
            if let Some(expiry) = cert.expiry
                && expiry < start
            {
                found.push(Exclusion::CertificateExpired(expiry));
            }
            if let (Some(months), Some(issued)) = (rule.renewal_months, cert.issued)
                && let Some(renew_by) = issued.checked_add_months(chrono::Months::new(months))
                && renew_by < start
            {
                found.push(Exclusion::CertificateNotRenewed {
                    issued,
                    renew_by,
                    months,
                });
            }
        }
    }
    found
}

/// R-MP-3: the person does not work in the child's municipality.
pub fn outside_area(municipalities: &[String], municipality: &str) -> Option<Exclusion> {
    (!municipalities.iter().any(|m| m == municipality)).then_some(Exclusion::OutsideArea)
}

/// R-MP-4: fewer free minutes a week than the assignment needs (never overbooked).
pub fn lacks_capacity(free_minutes: i32, needed: i32) -> Option<Exclusion> {
    (free_minutes < needed).then_some(Exclusion::NoCapacity {
        free: free_minutes.max(0),
        needed,
    })
}

/// Every reason but capacity that `person` cannot be assigned to a child of `municipality` from
/// `start`: inactive, the certificate (R-MP-6), the area (R-MP-3). Empty if none.
pub fn ineligibility(
    person: &Eligibility<'_>,
    municipality: &str,
    certificate_rule: CertificateRule,
    start: NaiveDate,
) -> Vec<Exclusion> {
    let mut found = Vec::new();
    if !person.active {
        found.push(Exclusion::Inactive);
    }
    found.extend(certificate_exclusions(
        person.certificate,
        certificate_rule,
        start,
    ));
    found.extend(outside_area(person.municipalities, municipality));
    found
}

/// Every reason `c` cannot take this demand; empty if it can.
pub fn exclusions(demand: &Demand<'_>, c: &Candidate) -> Vec<Exclusion> {
    let person = Eligibility {
        active: c.active,
        certificate: c.certificate.as_ref(),
        municipalities: &c.municipalities,
    };
    let mut found = ineligibility(
        &person,
        demand.municipality,
        demand.certificate_rule,
        demand.start_date,
    );
    found.extend(lacks_capacity(c.free_minutes(), demand.minutes_per_week));
    found
}

/// The refusal of an assignment to `who` for these reasons (none empty): every rule, each
/// explained.
pub fn cannot_be_assigned(who: &str, reasons: &[Exclusion]) -> Refusal {
    let explained: Vec<String> = reasons.iter().map(Exclusion::explain).collect();
    let mut refusal = Refusal::new(
        "CANNOT_BE_ASSIGNED",
        format!("{who} cannot be assigned: {}", explained.join("; ")),
    );
    for (reason, explanation) in reasons.iter().zip(explained) {
        refusal = refusal.and(reason.rule(), "contact_person", explanation);
    }
    refusal
}

/// `age-{from}-{to}` covering `age` (the catalogue's naming of age-group competences).
fn covers_age(code: &str, age: i32) -> bool {
    let Some(range) = code.strip_prefix("age-") else {
        return false;
    };
    let mut bounds = range.splitn(2, '-').map(str::parse::<i32>);
    matches!((bounds.next(), bounds.next()), (Some(Ok(from)), Some(Ok(to))) if from <= age && age <= to)
}

fn factor(name: &'static str, points: i32, explanation: String) -> Factor {
    Factor {
        name,
        points,
        explanation,
    }
}

/// The score of a candidate who can be assigned, factor by factor.
pub fn score(demand: &Demand<'_>, c: &Candidate) -> Proposal {
    let mut factors = Vec::new();
    let missing: Vec<String> = demand
        .competences
        .iter()
        .filter(|need| !c.competences.contains(need))
        .cloned()
        .collect();
    if !demand.competences.is_empty() {
        let held = demand.competences.len() - missing.len();
        let mut why = format!(
            "has {held} of the {} needed competences",
            demand.competences.len()
        );
        if !missing.is_empty() {
            why.push_str(&format!(" (missing: {})", missing.join(", ")));
        }
        factors.push(factor("competences", 40 * held as i32, why));
    }
    if c.competences
        .iter()
        .any(|code| covers_age(code, demand.age_years))
    {
        factors.push(factor(
            "age group",
            20,
            format!("works with children of {}", demand.age_years),
        ));
    }
    if demand.preferred_gender != Gender::Unspecified {
        let (points, why) = if c.gender == demand.preferred_gender {
            (30, "matches the preferred gender")
        } else {
            (-30, "not the preferred gender")
        };
        factors.push(factor("gender", points, why.into()));
    }
    if c.known_persons.iter().any(|p| p == demand.person) {
        factors.push(factor(
            "continuity",
            60,
            "already knows the child or family".into(),
        ));
    }
    let (points, why) = match c.employment {
        Employment::Staff => (30, "the municipality's own staff"),
        Employment::Hourly => (20, "the municipality's own hourly hire"),
        _ => (0, "an external provider's employee"),
    };
    factors.push(factor("own people", points, why.into()));
    let free_after = c.free_minutes() - demand.minutes_per_week;
    factors.push(factor(
        "free capacity",
        (free_after / 60).clamp(0, 10),
        format!("{free_after} minutes a week free after this assignment"),
    ));
    let cost_ore = c.hourly_cost_ore.unwrap_or(i64::MAX);
    match c.hourly_cost_ore {
        Some(ore) => factors.push(factor(
            "cost",
            -i32::try_from(ore / 2_500).unwrap_or(i32::MAX),
            format!("DKK {}.{:02} an hour", ore / 100, ore % 100),
        )),
        None => factors.push(factor(
            "cost",
            0,
            "no cost rate on record for the start date".into(),
        )),
    }
    Proposal {
        candidate: c.id.clone(),
        score: factors.iter().map(|f| f.points).sum(),
        factors,
        missing_competences: missing,
        cost_ore,
    }
}

/// Ranks `candidates` for `demand`: those who can be assigned, best first, and the others with
/// their reasons.
pub fn rank(demand: &Demand<'_>, candidates: &[Candidate]) -> Ranking {
    let mut ranking = Ranking::default();
    for c in candidates {
        let reasons = exclusions(demand, c);
        if reasons.is_empty() {
            ranking.proposals.push(score(demand, c));
        } else {
            ranking.excluded.push((c.id.clone(), reasons));
        }
    }
    ranking.proposals.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then(a.cost_ore.cmp(&b.cost_ore))
            .then_with(|| a.candidate.cmp(&b.candidate))
    });
    ranking.excluded.sort_by(|a, b| a.0.cmp(&b.0));
    ranking
}

/// What a request lacks when nobody suitable can take it (R-MP-5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unmet {
    /// Needed competences nobody who can be assigned has: what to hire for.
    pub missing_competences: Vec<String>,
    /// People who could be assigned but lack a needed competence.
    pub partial_candidates: usize,
}

/// `None` when someone can be assigned with every needed competence; otherwise what is missing.
/// Suitable means both: assignable (no exclusion) and holding every needed competence.
pub fn unmet(demand: &Demand<'_>, ranking: &Ranking) -> Option<Unmet> {
    if ranking
        .proposals
        .iter()
        .any(|p| p.missing_competences.is_empty())
    {
        return None;
    }
    let missing_competences = demand
        .competences
        .iter()
        .filter(|need| {
            ranking
                .proposals
                .iter()
                .all(|p| p.missing_competences.contains(need))
        })
        .cloned()
        .collect();
    Some(Unmet {
        missing_competences,
        partial_candidates: ranking.proposals.len(),
    })
}

/// [`unmet`] of the whole ranking, answered in one pass over `candidates` without scoring,
/// explaining or sorting anyone: what the unmet-demand list asks of every open request at once
/// (R-MP-5). The same answer as `unmet(demand, &rank(demand, candidates))`.
pub fn unmet_among(demand: &Demand<'_>, candidates: &[Candidate]) -> Option<Unmet> {
    let mut covered = vec![false; demand.competences.len()];
    let mut partial_candidates = 0;
    for c in candidates {
        if !exclusions(demand, c).is_empty() {
            continue;
        }
        let mut holds_all = true;
        for (need, seen) in demand.competences.iter().zip(covered.iter_mut()) {
            if c.competences.contains(need) {
                *seen = true;
            } else {
                holds_all = false;
            }
        }
        if holds_all {
            return None;
        }
        partial_candidates += 1;
    }
    Some(Unmet {
        missing_competences: demand
            .competences
            .iter()
            .zip(&covered)
            .filter(|(_, seen)| !**seen)
            .map(|(need, _)| need.clone())
            .collect(),
        partial_candidates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    const CHILD: &str = "municipalities/183/persons/p-1";

    fn needs() -> Vec<String> {
        vec!["substance-abuse".into()]
    }

    fn demand(competences: &[String]) -> Demand<'_> {
        Demand {
            municipality: "183",
            competences,
            preferred_gender: Gender::Unspecified,
            age_years: 15,
            minutes_per_week: 180,
            start_date: day(2026, 12, 1),
            person: CHILD,
            certificate_rule: CertificateRule::default(),
        }
    }

    /// A staff member who can take the child, with the needed competence, at DKK 300 an hour.
    fn staff(id: &str) -> Candidate {
        Candidate {
            id: id.into(),
            employment: Employment::Staff,
            competences: vec!["substance-abuse".into()],
            gender: Gender::Female,
            municipalities: vec!["183".into(), "187".into()],
            active: true,
            weekly_capacity_minutes: 1_200,
            other_duties_minutes: 0,
            booked_minutes: 600,
            certificate: Some(Certificate {
                result: CertificateResult::Clear,
                issued: Some(day(2025, 1, 1)),
                expiry: Some(day(2028, 1, 1)),
            }),
            known_persons: Vec::new(),
            hourly_cost_ore: Some(30_000),
        }
    }

    fn order(ranking: &Ranking) -> Vec<&str> {
        ranking
            .proposals
            .iter()
            .map(|p| p.candidate.as_str())
            .collect()
    }

    #[test]
    fn each_factor_is_explained_and_the_score_is_their_sum() {
        let needs = needs();
        let ranking = rank(&demand(&needs), &[staff("a")]);
        let p = &ranking.proposals[0];
        let names: Vec<_> = p.factors.iter().map(|f| f.name).collect();
        assert_eq!(
            names,
            ["competences", "own people", "free capacity", "cost"]
        );
        assert_eq!(p.score, p.factors.iter().map(|f| f.points).sum::<i32>());
        assert_eq!(p.score, 40 + 30 + 7 - 12);
        assert_eq!(p.factors[3].explanation, "DKK 300.00 an hour");
        assert_eq!(
            p.factors[2].explanation,
            "420 minutes a week free after this assignment"
        );
    }

    #[test]
    fn the_needed_competence_moves_a_candidate_up() {
        let needs = needs();
        let mut without = staff("a");
        without.competences.clear();
        let ranking = rank(&demand(&needs), &[without, staff("b")]);
        assert_eq!(order(&ranking), ["b", "a"]);
        assert_eq!(
            ranking.proposals[1].missing_competences,
            ["substance-abuse"]
        );
        assert!(
            ranking.proposals[1].factors[0]
                .explanation
                .contains("missing: substance-abuse")
        );
    }

    #[test]
    fn continuity_outweighs_a_missing_competence() {
        let needs = needs();
        let mut known = staff("b");
        known.competences.clear();
        known.known_persons = vec![CHILD.into()];
        let ranking = rank(&demand(&needs), &[staff("a"), known]);
        assert_eq!(order(&ranking), ["b", "a"]);
    }

    #[test]
    fn own_people_come_before_a_provider_r_mp_1() {
        let needs = needs();
        let mut provider = staff("a");
        provider.employment = Employment::Provider;
        provider.hourly_cost_ore = Some(30_000);
        let mut hourly = staff("b");
        hourly.employment = Employment::Hourly;
        let ranking = rank(&demand(&needs), &[provider, hourly, staff("c")]);
        assert_eq!(order(&ranking), ["c", "b", "a"]);
    }

    #[test]
    fn the_cheaper_one_wins_when_all_else_is_equal() {
        let needs = needs();
        let mut dear = staff("a");
        dear.hourly_cost_ore = Some(54_300);
        let mut cheap = staff("b");
        cheap.hourly_cost_ore = Some(42_500);
        assert_eq!(order(&rank(&demand(&needs), &[dear, cheap])), ["b", "a"]);
    }

    #[test]
    fn a_gender_preference_and_the_age_group_count() {
        let needs = needs();
        let mut wanted = demand(&needs);
        wanted.preferred_gender = Gender::Male;
        let mut male = staff("b");
        male.gender = Gender::Male;
        assert_eq!(order(&rank(&wanted, &[staff("a"), male])), ["b", "a"]);
        let mut teen = staff("d");
        teen.competences.push("age-15-17".into());
        let mut younger = staff("c");
        younger.competences.push("age-6-11".into());
        assert_eq!(order(&rank(&demand(&needs), &[younger, teen])), ["d", "c"]);
    }

    #[test]
    fn more_free_capacity_ranks_higher_and_ties_go_by_id() {
        let needs = needs();
        let mut busy = staff("a");
        busy.booked_minutes = 900;
        assert_eq!(
            order(&rank(&demand(&needs), &[busy, staff("b")])),
            ["b", "a"]
        );
        assert_eq!(
            order(&rank(&demand(&needs), &[staff("z"), staff("m")])),
            ["m", "z"]
        );
    }

    #[test]
    fn those_who_cannot_be_assigned_are_excluded_with_every_reason() {
        let needs = needs();
        let mut none = staff("a");
        none.certificate = None;
        let mut entries = staff("b");
        entries.certificate = Some(Certificate {
            result: CertificateResult::Entries,
            issued: None,
            expiry: None,
        });
        let mut expired = staff("c");
        expired.certificate = Some(Certificate {
            result: CertificateResult::Clear,
            issued: None,
            expiry: Some(day(2026, 11, 30)),
        });
        let mut elsewhere = staff("d");
        elsewhere.municipalities = vec!["329".into()];
        let mut full = staff("e");
        full.other_duties_minutes = 300;
        full.booked_minutes = 780;
        let mut everything = staff("f");
        everything.active = false;
        everything.certificate = None;
        everything.municipalities.clear();
        let ranking = rank(
            &demand(&needs),
            &[
                none,
                entries,
                expired,
                elsewhere,
                full,
                everything,
                staff("g"),
            ],
        );
        assert_eq!(order(&ranking), ["g"]);
        let excluded: Vec<(&str, Vec<Exclusion>)> = ranking
            .excluded
            .iter()
            .map(|(id, r)| (id.as_str(), r.clone()))
            .collect();
        assert_eq!(
            excluded,
            [
                ("a", vec![Exclusion::NoCertificate]),
                ("b", vec![Exclusion::CertificateEntries]),
                ("c", vec![Exclusion::CertificateExpired(day(2026, 11, 30))]),
                ("d", vec![Exclusion::OutsideArea]),
                (
                    "e",
                    vec![Exclusion::NoCapacity {
                        free: 120,
                        needed: 180
                    }]
                ),
                (
                    "f",
                    vec![
                        Exclusion::Inactive,
                        Exclusion::NoCertificate,
                        Exclusion::OutsideArea
                    ]
                ),
            ]
        );
        assert_eq!(
            Exclusion::NoCapacity {
                free: 120,
                needed: 180
            }
            .rule(),
            "R-MP-4"
        );
        assert_eq!(Exclusion::CertificateEntries.rule(), "R-MP-6");
    }

    #[test]
    fn the_hard_rules_look_only_at_the_facts_they_check_r_mp_3_r_mp_4_r_mp_6() {
        let start = day(2026, 12, 1);
        let clear = Certificate {
            result: CertificateResult::Clear,
            issued: Some(day(2024, 6, 1)),
            expiry: Some(day(2026, 12, 1)),
        };
        let law = CertificateRule::default();
        assert_eq!(certificate_exclusions(Some(&clear), law, start), []);
        assert_eq!(
            certificate_exclusions(Some(&clear), law, day(2026, 12, 2)),
            [Exclusion::CertificateExpired(day(2026, 12, 1))]
        );
        assert_eq!(
            certificate_exclusions(None, law, start),
            [Exclusion::NoCertificate]
        );
        let area = ["183".to_owned(), "187".to_owned()];
        assert_eq!(outside_area(&area, "187"), None);
        assert_eq!(outside_area(&area, "329"), Some(Exclusion::OutsideArea));
        assert_eq!(lacks_capacity(180, 180), None);
        assert_eq!(
            lacks_capacity(-20, 180),
            Some(Exclusion::NoCapacity {
                free: 0,
                needed: 180
            })
        );
        let nobody = Eligibility {
            active: false,
            certificate: None,
            municipalities: &[],
        };
        assert_eq!(
            ineligibility(&nobody, "183", law, start),
            [
                Exclusion::Inactive,
                Exclusion::NoCertificate,
                Exclusion::OutsideArea
            ]
        );
        let fit = Eligibility {
            active: true,
            certificate: Some(&clear),
            municipalities: &area,
        };
        assert_eq!(ineligibility(&fit, "183", law, start), []);
    }

    #[test]
    fn r_mp_6_the_certificate_asked_is_the_law_s_under_15_and_the_policy_s_renewal() {
        let start = day(2026, 12, 1);
        let issued_2024 = Certificate {
            result: CertificateResult::Clear,
            issued: Some(day(2024, 6, 1)),
            expiry: None,
        };
        // Renewed every 24 months: issued 1 June 2024, due by 1 June 2026, so not on 1 December.
        let every_two_years = CertificateRule {
            required: true,
            renewal_months: Some(24),
        };
        let refused = certificate_exclusions(Some(&issued_2024), every_two_years, start);
        assert_eq!(
            refused,
            [Exclusion::CertificateNotRenewed {
                issued: day(2024, 6, 1),
                renew_by: day(2026, 6, 1),
                months: 24
            }]
        );
        assert_eq!(refused[0].rule(), "R-MP-6");
        assert!(
            refused[0].explain().contains("every 24 months"),
            "the exclusion names the policy: {}",
            refused[0].explain()
        );
        // Every 36 months: still good.
        let every_three_years = CertificateRule {
            renewal_months: Some(36),
            ..every_two_years
        };
        assert_eq!(
            certificate_exclusions(Some(&issued_2024), every_three_years, start),
            []
        );
        // A child of 15 or more under a policy that keeps to the law: no certificate asked.
        let none_asked = CertificateRule {
            required: false,
            renewal_months: Some(24),
        };
        assert_eq!(certificate_exclusions(None, none_asked, start), []);
        let needs = needs();
        let mut sixteen = demand(&needs);
        sixteen.certificate_rule = none_asked;
        let mut without = staff("a");
        without.certificate = None;
        assert_eq!(order(&rank(&sixteen, &[without.clone()])), ["a"]);
        assert_eq!(
            order(&rank(&demand(&needs), &[without])),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn a_refused_assignment_names_every_rule_it_breaks_r_mp_6() {
        let refusal = cannot_be_assigned(
            "serviceUnits/u/contactPersons/a",
            &[Exclusion::NoCertificate, Exclusion::OutsideArea],
        );
        assert_eq!(refusal.reason, "CANNOT_BE_ASSIGNED");
        assert_eq!(
            refusal.message,
            "serviceUnits/u/contactPersons/a cannot be assigned: no child-protection certificate \
             on record; does not work in the child's municipality"
        );
        let rules: Vec<(&str, &str)> = refusal
            .violations
            .iter()
            .map(|v| (v.rule.as_str(), v.subject.as_str()))
            .collect();
        assert_eq!(
            rules,
            [("R-MP-6", "contact_person"), ("R-MP-3", "contact_person")]
        );
    }

    #[test]
    fn demand_is_unmet_when_nobody_assignable_has_every_needed_competence_r_mp_5() {
        let needs: Vec<String> = vec!["language-arabic".into(), "substance-abuse".into()];
        let demand = demand(&needs);
        // b has substance abuse, c has Arabic but no capacity: nobody suitable, and Arabic is
        // what to hire for.
        let mut a = staff("a");
        a.competences.clear();
        let b = staff("b");
        let mut c = staff("c");
        c.competences = vec!["language-arabic".into(), "substance-abuse".into()];
        c.booked_minutes = 1_200;
        let ranking = rank(&demand, &[a, b, c.clone()]);
        assert_eq!(
            unmet(&demand, &ranking),
            Some(Unmet {
                missing_competences: vec!["language-arabic".into()],
                partial_candidates: 2,
            })
        );
        // Once c has room, the demand is met.
        c.booked_minutes = 0;
        assert_eq!(unmet(&demand, &rank(&demand, &[c])), None);
        // Nobody at all: every need is missing.
        assert_eq!(
            unmet(&demand, &rank(&demand, &[])).map(|u| u.missing_competences),
            Some(needs.clone())
        );
    }

    #[test]
    fn the_same_data_gives_the_same_order_whatever_order_it_comes_in() {
        let needs = needs();
        let candidates: Vec<Candidate> = (0..50)
            .map(|i| {
                let mut c = staff(&format!("cp-{i:02}"));
                c.booked_minutes = (i % 7) * 60;
                c.hourly_cost_ore = Some(20_000 + i64::from(i % 5) * 5_000);
                c
            })
            .collect();
        let forwards = order(&rank(&demand(&needs), &candidates))
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        let mut reversed = candidates.clone();
        reversed.reverse();
        let backwards = order(&rank(&demand(&needs), &reversed))
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        assert_eq!(forwards, backwards);
    }

    #[test]
    fn r_mp_5_unmet_demand_in_one_pass_is_what_the_whole_ranking_says() {
        // Pools made from a fixed seed: people with some of four competences, some full, some
        // without a certificate, some elsewhere; demands needing none to three of them.
        let codes = ["a", "b", "c", "d"].map(String::from);
        let mut seed: u64 = 0x5eed;
        let mut next = move || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            seed >> 33
        };
        for round in 0..200 {
            let pool: Vec<Candidate> = (0..(next() % 12))
                .map(|i| {
                    let mut c = staff(&format!("p{i}"));
                    c.competences = codes.iter().filter(|_| next() % 2 == 0).cloned().collect();
                    if next() % 5 == 0 {
                        c.certificate = None;
                    }
                    if next() % 6 == 0 {
                        c.booked_minutes = c.weekly_capacity_minutes;
                    }
                    if next() % 7 == 0 {
                        c.municipalities = vec!["329".into()];
                    }
                    c
                })
                .collect();
            let needs: Vec<String> = codes.iter().filter(|_| next() % 3 == 0).cloned().collect();
            let d = demand(&needs);
            assert_eq!(
                unmet_among(&d, &pool),
                unmet(&d, &rank(&d, &pool)),
                "round {round}: needs {needs:?}"
            );
        }
    }
}
