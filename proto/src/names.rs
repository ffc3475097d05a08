//! Resource names (AIP-122): part of the wire contract, so they are built and parsed here, once,
//! for every service, the console, the command line and the tests.
//!
//! Every municipal resource lives below `municipalities/{code}`; contact persons below
//! `serviceUnits/{unit}`; frames at the top level. Builders take the ids as stored; parsers
//! return `None` for a name of another shape, and the caller says which field was wrong.
//!
//! ```
//! use kontakt_proto::names;
//! assert_eq!(names::grant("183", "g-1"), "municipalities/183/grants/g-1");
//! assert_eq!(
//!     names::parse_contact_person("serviceUnits/kbh/contactPersons/anna"),
//!     Some(("kbh", "anna"))
//! );
//! ```

/// The longest id we accept (AIP-122 recommends at most 63 characters).
pub const MAX_ID_LEN: usize = 63;

pub const MUNICIPALITIES: &str = "municipalities";
pub const PERSONS: &str = "persons";
pub const CASES: &str = "cases";
pub const REFERRALS: &str = "referrals";
pub const COMMITTEE_MEETINGS: &str = "committeeMeetings";
pub const GRANTS: &str = "grants";
pub const POLICIES: &str = "policies";
pub const MATCHING_REQUESTS: &str = "matchingRequests";
pub const ASSIGNMENTS: &str = "assignments";
pub const PROCUREMENTS: &str = "procurements";
pub const TIME_ENTRIES: &str = "timeEntries";
pub const EXPENSES: &str = "expenses";
pub const MILEAGE_RATES: &str = "mileageRates";
pub const FOLLOW_UPS: &str = "followUps";
pub const FOLLOW_UP_SETTINGS: &str = "followUpSettings";
pub const DEADLINES: &str = "deadlines";
pub const FRAMES: &str = "frames";
pub const SERVICE_UNITS: &str = "serviceUnits";
pub const CONTACT_PERSONS: &str = "contactPersons";

/// An id as names carry it: 1 to 63 of `a-z`, `0-9` and `-`.
pub fn valid_id(id: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `municipalities/{m}`.
pub fn municipality(m: &str) -> String {
    format!("{MUNICIPALITIES}/{m}")
}

/// `municipalities/{m}/{collection}/{id}`: a resource of a municipality.
pub fn in_municipality(m: &str, collection: &str, id: &str) -> String {
    format!("{MUNICIPALITIES}/{m}/{collection}/{id}")
}

pub fn person(m: &str, id: &str) -> String {
    in_municipality(m, PERSONS, id)
}

pub fn case(m: &str, id: &str) -> String {
    in_municipality(m, CASES, id)
}

pub fn referral(m: &str, id: &str) -> String {
    in_municipality(m, REFERRALS, id)
}

pub fn committee_meeting(m: &str, id: &str) -> String {
    in_municipality(m, COMMITTEE_MEETINGS, id)
}

pub fn grant(m: &str, id: &str) -> String {
    in_municipality(m, GRANTS, id)
}

pub fn policy(m: &str, id: &str) -> String {
    in_municipality(m, POLICIES, id)
}

/// A grant's follow-up schedule (a singleton below the grant).
pub fn follow_up_schedule(m: &str, grant_id: &str) -> String {
    format!("{}/followUpSchedule", grant(m, grant_id))
}

/// A matching request has its grant's id.
pub fn matching_request(m: &str, id: &str) -> String {
    in_municipality(m, MATCHING_REQUESTS, id)
}

pub fn assignment(m: &str, id: &str) -> String {
    in_municipality(m, ASSIGNMENTS, id)
}

pub fn procurement(m: &str, id: &str) -> String {
    in_municipality(m, PROCUREMENTS, id)
}

pub fn time_entry(m: &str, assignment_id: &str, id: &str) -> String {
    format!("{}/{TIME_ENTRIES}/{id}", assignment(m, assignment_id))
}

pub fn expense(m: &str, assignment_id: &str, id: &str) -> String {
    format!("{}/{EXPENSES}/{id}", assignment(m, assignment_id))
}

pub fn mileage_rate(m: &str, id: &str) -> String {
    in_municipality(m, MILEAGE_RATES, id)
}

pub fn follow_up(m: &str, id: &str) -> String {
    in_municipality(m, FOLLOW_UPS, id)
}

pub fn deadline(m: &str, id: &str) -> String {
    in_municipality(m, DEADLINES, id)
}

/// A municipality's follow-up settings (a singleton below the municipality).
pub fn follow_up_settings(m: &str) -> String {
    format!("{MUNICIPALITIES}/{m}/{FOLLOW_UP_SETTINGS}")
}

pub fn frame(id: &str) -> String {
    format!("{FRAMES}/{id}")
}

/// A frame's evaluation of `year`.
pub fn frame_evaluation(frame_id: &str, year: i32) -> String {
    format!("{}/evaluations/{year}", frame(frame_id))
}

/// `serviceUnits/{unit}/contactPersons/{id}`: a contact person's name, in every service.
pub fn contact_person(unit: &str, id: &str) -> String {
    format!("{SERVICE_UNITS}/{unit}/{CONTACT_PERSONS}/{id}")
}

/// (unit, id) from `serviceUnits/{unit}/contactPersons/{id}`.
pub fn parse_contact_person(name: &str) -> Option<(&str, &str)> {
    match name.split('/').collect::<Vec<_>>().as_slice() {
        [SERVICE_UNITS, unit, CONTACT_PERSONS, id] if valid_id(unit) && valid_id(id) => {
            Some((unit, id))
        }
        _ => None,
    }
}

/// `legalBases/{code}`: a basis in the legal-basis catalogue (DOMAIN.md §3).
pub fn legal_basis(code: &str) -> String {
    format!("legalBases/{code}")
}

/// The code from `legalBases/{code}`.
pub fn legal_basis_code(name: &str) -> Option<&str> {
    name.strip_prefix("legalBases/")
        .filter(|code| !code.is_empty())
}

/// The id from `municipalities/{m}/{collection}/{id}`, for this `m` and `collection`.
pub fn id_in<'a>(name: &'a str, m: &str, collection: &str) -> Option<&'a str> {
    let id = name
        .strip_prefix(MUNICIPALITIES)?
        .strip_prefix('/')?
        .strip_prefix(m)?
        .strip_prefix('/')?
        .strip_prefix(collection)?
        .strip_prefix('/')?;
    valid_id(id).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_name_parses_back_to_its_ids() {
        let name = contact_person("kbh-ost", "anna-1");
        assert_eq!(parse_contact_person(&name), Some(("kbh-ost", "anna-1")));
        let name = grant("183", "g-7");
        assert_eq!(id_in(&name, "183", GRANTS), Some("g-7"));
    }

    #[test]
    fn a_name_of_another_shape_is_none() {
        for name in [
            "",
            "serviceUnits/kbh/contactPersons",
            "serviceUnits/kbh/contactPersons/Anna",
            "serviceUnits/kbh/providers/anna",
            "serviceUnits/kbh/contactPersons/anna/extra",
        ] {
            assert_eq!(parse_contact_person(name), None, "{name}");
        }
        assert_eq!(id_in("municipalities/183/grants/g-7", "187", GRANTS), None);
        assert_eq!(id_in("municipalities/183/cases/g-7", "183", GRANTS), None);
        assert_eq!(id_in("municipalities/183/grants/g/7", "183", GRANTS), None);
        assert_eq!(id_in("municipalities/1830/grants/g", "183", GRANTS), None);
    }

    #[test]
    fn ids_are_lowercase_letters_digits_and_dashes_up_to_63() {
        assert!(valid_id("a"));
        assert!(valid_id(&"a".repeat(63)));
        assert!(!valid_id(&"a".repeat(64)));
        assert!(!valid_id("A"));
        assert!(!valid_id("a_b"));
        assert!(!valid_id(""));
    }
}
