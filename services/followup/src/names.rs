//! The resource names (AIP-122) this service answers with and puts in its events, built in one
//! place for the API, the consumers and the notice jobs.

/// The collection a grant's name ends in (the referral service's grants).
pub const GRANTS: &str = "grants";
pub const FOLLOW_UPS: &str = "followUps";
pub const SETTINGS: &str = "followUpSettings";
pub const FRAMES: &str = "frames";

/// `municipalities/{m}/grants/{id}`.
pub fn grant(m: &str, id: &str) -> String {
    format!("municipalities/{m}/{GRANTS}/{id}")
}

/// The grant's follow-up schedule (a singleton below the grant).
pub fn schedule(m: &str, grant_id: &str) -> String {
    format!("{}/followUpSchedule", grant(m, grant_id))
}

pub fn follow_up(m: &str, id: &str) -> String {
    format!("municipalities/{m}/{FOLLOW_UPS}/{id}")
}

/// A municipality's follow-up settings (a singleton below the municipality).
pub fn settings(m: &str) -> String {
    format!("municipalities/{m}/{SETTINGS}")
}

pub fn frame(id: &str) -> String {
    format!("{FRAMES}/{id}")
}

/// A frame's evaluation of `year`; time & cost's evaluation dataset has the same name.
pub fn evaluation(frame_id: &str, year: i32) -> String {
    format!("{}/evaluations/{year}", frame(frame_id))
}
