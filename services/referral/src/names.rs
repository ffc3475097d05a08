//! Resource names the API, the operations and the outcome consumer all write.

pub(crate) fn person_name(m: &str, id: &str) -> String {
    format!("municipalities/{m}/persons/{id}")
}

pub(crate) fn case_name(m: &str, id: &str) -> String {
    format!("municipalities/{m}/cases/{id}")
}

pub(crate) fn referral_name(m: &str, id: &str) -> String {
    format!("municipalities/{m}/referrals/{id}")
}

pub(crate) fn meeting_name(m: &str, id: &str) -> String {
    format!("municipalities/{m}/committeeMeetings/{id}")
}

pub(crate) fn grant_name(m: &str, id: &str) -> String {
    format!("municipalities/{m}/grants/{id}")
}
