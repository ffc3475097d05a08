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
mod tests;
