//! Kontakt's gRPC API: generated messages, clients and servers for every package under
//! `proto/kontakt`, and the encoded file descriptor set that reflection serves.
//!
//! Paths mirror the protobuf packages: `kontakt.referral.v1` is [`referral::v1`].

#![allow(clippy::all, missing_docs)]

mod convert;

mod generated {
    include!(concat!(env!("OUT_DIR"), "/kontakt.rs"));
}

pub use generated::kontakt::{common, events, followup, matching, referral, timecost};

/// Every Kontakt proto file as an encoded `FileDescriptorSet`, for `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/kontakt_descriptor.bin"));

/// The fully qualified gRPC service names, as health checks and reflection know them.
pub mod service_names {
    pub const REFERRAL: &str = "kontakt.referral.v1.ReferralService";
    pub const MATCHING: &str = "kontakt.matching.v1.MatchingService";
    pub const TIMECOST: &str = "kontakt.timecost.v1.TimeCostService";
    pub const FOLLOWUP: &str = "kontakt.followup.v1.FollowUpService";
}
