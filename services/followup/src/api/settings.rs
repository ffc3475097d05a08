//! A municipality's follow-up settings: the reminder lead time (R-FU-4), read by those who
//! work with follow-ups and set by an administrator.

use kontakt_platform::ApiError;
use kontakt_platform::auth::{MunicipalityCode, Principal};
use kontakt_platform::resource::{check_etag, etag, scoped_parent};
use kontakt_proto::followup::v1::{
    FollowUpSettings, GetFollowUpSettingsRequest, UpdateFollowUpSettingsRequest,
};
use tonic::Request;

use super::FollowUpApi;
use crate::domain::due;
use kontakt_proto::names;

impl FollowUpApi {
    pub(super) async fn read_settings(
        &self,
        request: Request<GetFollowUpSettingsRequest>,
    ) -> Result<FollowUpSettings, ApiError> {
        let principal = kontakt_platform::auth::caller(&request)?;
        let name = &request.get_ref().name;
        let m = settings_owner(principal, name, "name")?;
        self.settings_of(&m.to_string()).await
    }

    /// The settings in force for the municipality `code`, as they are shown.
    async fn settings_of(&self, code: &str) -> Result<FollowUpSettings, ApiError> {
        let (days, is_default, revision) = self.store.settings(code).await?;
        Ok(FollowUpSettings {
            name: names::follow_up_settings(code),
            due_lead_days: days,
            is_default,
            etag: etag(revision),
        })
    }

    pub(super) async fn change_settings(
        &self,
        request: Request<UpdateFollowUpSettingsRequest>,
    ) -> Result<FollowUpSettings, ApiError> {
        let principal = kontakt_platform::auth::caller(&request)?.clone();
        let input = request
            .into_inner()
            .settings
            .ok_or_else(|| ApiError::invalid("settings", "required"))?;
        let m = settings_owner(&principal, &input.name, "settings.name")?;
        if !due::LEAD_DAYS.contains(&input.due_lead_days) {
            return Err(ApiError::invalid(
                "settings.due_lead_days",
                "0 to 90 days before the due date",
            ));
        }
        let code = m.to_string();
        let (_, _, revision) = self.store.settings(&code).await?;
        check_etag(&input.etag, revision)?;
        let expected = (!input.etag.is_empty()).then_some(revision);
        if !self
            .store
            .set_lead_days(&code, input.due_lead_days, expected)
            .await?
        {
            return Err(ApiError::Aborted {
                reason: "ETAG_MISMATCH",
                message: "the settings changed since they were read; read them again".into(),
            });
        }
        self.settings_of(&code).await
    }
}

/// `municipalities/{code}/followUpSettings` for a municipality the caller acts for.
fn settings_owner(
    principal: &Principal,
    name: &str,
    field: &str,
) -> Result<MunicipalityCode, ApiError> {
    let parent = name
        .strip_suffix(&format!("/{}", names::FOLLOW_UP_SETTINGS))
        .ok_or_else(|| {
            ApiError::invalid(field, "must be `municipalities/{code}/followUpSettings`")
        })?;
    scoped_parent(principal, parent)
}
