//! Kontakt's gRPC API: generated messages, clients and servers for every package under
//! `proto/kontakt`, and the encoded file descriptor set that reflection serves.
//!
//! Paths mirror the protobuf packages: `kontakt.referral.v1` is [`referral::v1`].

#![allow(clippy::all, missing_docs)]

pub mod api_docs;
mod convert;
pub mod names;

pub use convert::timestamp;

mod generated {
    include!(concat!(env!("OUT_DIR"), "/kontakt.rs"));
}

pub use generated::kontakt::{audit, common, events, followup, matching, referral, timecost};

/// Every Kontakt proto file as an encoded `FileDescriptorSet`, for `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/kontakt_descriptor.bin"));

/// The fully qualified gRPC service names, as health checks and reflection know them.
pub mod service_names {
    pub const REFERRAL: &str = "kontakt.referral.v1.ReferralService";
    pub const MATCHING: &str = "kontakt.matching.v1.MatchingService";
    pub const TIMECOST: &str = "kontakt.timecost.v1.TimeCostService";
    pub const FOLLOWUP: &str = "kontakt.followup.v1.FollowUpService";
    pub const ACCESS_LOG: &str = "kontakt.audit.v1.AccessLogService";
    pub const EVENT_FEED: &str = "kontakt.events.v1.EventFeedService";
    pub const CONSUMER_REJECTS: &str = "kontakt.events.v1.ConsumerRejectService";
}

/// The method names a service declares, read from the descriptor set (for tables that must
/// cover every method, such as each service's access table).
pub fn method_names(service: &str) -> Vec<String> {
    use prost::Message as _;
    let Ok(set) = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET) else {
        return Vec::new();
    };
    set.file
        .iter()
        .flat_map(|file| {
            let package = file.package().to_owned();
            file.service
                .iter()
                .map(move |s| (format!("{package}.{}", s.name()), s))
        })
        .filter(|(name, _)| name == service)
        .flat_map(|(_, s)| s.method.iter().map(|m| m.name().to_owned()))
        .collect()
}
