//! A frame's amount from a coming year on (R-BF-1): the committee's adjusted frame after the
//! yearly evaluation (R-FU-5), set by finance. A year's figures use the amount in force in it
//! (`frame::amount_in_force`), so a year that has begun never changes under its readers.

use chrono::Datelike as _;
use kontakt_platform::ApiError;
use kontakt_platform::resource::{self, etag};
use kontakt_proto::timecost::v1::{FrameAmount, SetFrameAmountRequest};
use tonic::Request;
use tonic_types::FieldViolation;

use super::TimeCostApi;
use super::frames::{FRAMES, may_see, money};
use crate::domain::frame;
use crate::store::AmountRow;

pub(super) fn amount_to_proto(row: AmountRow) -> FrameAmount {
    FrameAmount {
        name: format!("{FRAMES}/{}/amounts/{}", row.frame_id, row.from_year),
        from_year: row.from_year,
        base_amount: money(row.base_ore),
        base_year: row.base_year,
        decision: row.decision,
        set_by: row.set_by,
        create_time: Some(kontakt_proto::timestamp(row.create_time)),
        update_time: Some(kontakt_proto::timestamp(row.update_time)),
        etag: etag(row.revision),
    }
}

impl TimeCostApi {
    pub(super) async fn set_frame_amount(
        &self,
        request: Request<SetFrameAmountRequest>,
    ) -> Result<FrameAmount, ApiError> {
        let principal = kontakt_platform::auth::caller(&request)?.clone();
        let body = request.into_inner();
        let id = resource::parse_top_level(&body.parent, FRAMES, "parent")?;
        let input = body
            .frame_amount
            .ok_or_else(|| ApiError::invalid("frame_amount", "required"))?;
        let mut wrong = Vec::new();
        let base = input.base_amount.map_or(0, |m| m.ore);
        if base <= 0 {
            wrong.push(FieldViolation::new(
                "frame_amount.base_amount",
                "a positive amount in øre, in base_year prices (R-BF-1)",
            ));
        }
        let decision = input.decision.trim();
        if decision.is_empty() || input.decision.chars().count() > 200 {
            wrong.push(FieldViolation::new(
                "frame_amount.decision",
                "the decision it carries out, 1 to 200 characters",
            ));
        }
        let mut tx = self.store.begin().await?;
        let (row, _) = self
            .store
            .get_frame(&mut tx, id)
            .await?
            .filter(|(_, shares)| may_see(&principal, shares))
            .ok_or_else(|| ApiError::not_found(&body.parent))?;
        if let Err((field, why)) = frame::check_amount_year(
            input.from_year,
            input.base_year,
            self.clock.today().year(),
            (row.period_start, row.period_end),
        ) {
            wrong.push(FieldViolation::new(field, why));
        }
        if !wrong.is_empty() {
            return Err(ApiError::InvalidArgument(wrong));
        }
        let set = self
            .store
            .set_frame_amount(
                &mut tx,
                &AmountRow {
                    frame_id: id.to_owned(),
                    from_year: input.from_year,
                    base_ore: base,
                    base_year: input.base_year,
                    decision: decision.to_owned(),
                    set_by: principal.subject.clone(),
                    revision: 1,
                    create_time: self.clock.now(),
                    update_time: self.clock.now(),
                },
            )
            .await?;
        tx.commit().await?;
        Ok(amount_to_proto(set))
    }
}
