//! The gRPC surface: proto <-> rows and the steps of each method; the rules live in `domain`.

mod expenses;
mod frame_amounts;
mod frames;
mod reports;

pub use frames::ThresholdCheck;
mod time;
mod timesheets;

use kontakt_platform::audit::AuditLog;
use kontakt_platform::clock::SharedClock;
use kontakt_platform::error::answer;
use kontakt_platform::{ApiError, pagination, resource};
use kontakt_proto::timecost::v1::time_cost_service_server::TimeCostService;
use kontakt_proto::timecost::v1::*;
use tonic::{Request, Response, Status};

use crate::store::{ActivityKindRow, Store};

const ACTIVITY_KINDS: &str = "activityKinds";
/// The schema whose outbox this service's events go to.
const SCHEMA: &str = "timecost";

pub struct TimeCostApi {
    store: Store,
    clock: SharedClock,
    audit: AuditLog,
}

impl TimeCostApi {
    pub fn new(store: Store, clock: SharedClock, audit: AuditLog) -> Self {
        Self {
            store,
            clock,
            audit,
        }
    }
}

#[tonic::async_trait]
impl TimeCostService for TimeCostApi {
    async fn register_time(
        &self,
        request: Request<RegisterTimeRequest>,
    ) -> Result<Response<TimeEntry>, Status> {
        answer(self.register_time(request).await)
    }

    async fn reverse_time_entry(
        &self,
        request: Request<ReverseTimeEntryRequest>,
    ) -> Result<Response<TimeEntry>, Status> {
        answer(self.reverse_time_entry(request).await)
    }

    async fn list_time_entries(
        &self,
        request: Request<ListTimeEntriesRequest>,
    ) -> Result<Response<ListTimeEntriesResponse>, Status> {
        answer(self.list_time_entries(request).await)
    }

    async fn register_expense(
        &self,
        request: Request<RegisterExpenseRequest>,
    ) -> Result<Response<Expense>, Status> {
        answer(self.register_expense(request).await)
    }

    async fn reverse_expense(
        &self,
        request: Request<ReverseExpenseRequest>,
    ) -> Result<Response<Expense>, Status> {
        answer(self.reverse_expense(request).await)
    }

    async fn list_expenses(
        &self,
        request: Request<ListExpensesRequest>,
    ) -> Result<Response<ListExpensesResponse>, Status> {
        answer(self.list_expenses(request).await)
    }

    async fn create_mileage_rate(
        &self,
        request: Request<CreateMileageRateRequest>,
    ) -> Result<Response<MileageRate>, Status> {
        answer(self.create_mileage_rate(request).await)
    }

    async fn list_mileage_rates(
        &self,
        request: Request<ListMileageRatesRequest>,
    ) -> Result<Response<ListMileageRatesResponse>, Status> {
        answer(self.list_mileage_rates(request).await)
    }

    async fn create_timesheet(
        &self,
        request: Request<CreateTimesheetRequest>,
    ) -> Result<Response<Timesheet>, Status> {
        answer(self.create_timesheet(request).await)
    }

    async fn get_timesheet(
        &self,
        request: Request<GetTimesheetRequest>,
    ) -> Result<Response<Timesheet>, Status> {
        answer(self.get_timesheet(request).await)
    }

    async fn list_timesheets(
        &self,
        request: Request<ListTimesheetsRequest>,
    ) -> Result<Response<ListTimesheetsResponse>, Status> {
        answer(self.list_timesheets(request).await)
    }

    async fn submit_timesheet(
        &self,
        request: Request<SubmitTimesheetRequest>,
    ) -> Result<Response<Timesheet>, Status> {
        answer(self.submit_timesheet(request).await)
    }

    async fn approve_timesheet(
        &self,
        request: Request<ApproveTimesheetRequest>,
    ) -> Result<Response<Timesheet>, Status> {
        answer(self.approve_timesheet(request).await)
    }

    async fn return_timesheet(
        &self,
        request: Request<ReturnTimesheetRequest>,
    ) -> Result<Response<Timesheet>, Status> {
        answer(self.return_timesheet(request).await)
    }

    async fn create_frame(
        &self,
        request: Request<CreateFrameRequest>,
    ) -> Result<Response<Frame>, Status> {
        answer(self.create_frame(request).await)
    }

    async fn get_frame(
        &self,
        request: Request<GetFrameRequest>,
    ) -> Result<Response<Frame>, Status> {
        answer(self.get_frame(request).await)
    }

    async fn create_indexation_rate(
        &self,
        request: Request<CreateIndexationRateRequest>,
    ) -> Result<Response<IndexationRate>, Status> {
        answer(self.create_indexation_rate(request).await)
    }

    async fn list_indexation_rates(
        &self,
        request: Request<ListIndexationRatesRequest>,
    ) -> Result<Response<ListIndexationRatesResponse>, Status> {
        answer(self.list_indexation_rates(request).await)
    }

    async fn get_budget_status(
        &self,
        request: Request<GetBudgetStatusRequest>,
    ) -> Result<Response<BudgetStatus>, Status> {
        answer(self.get_budget_status(request).await)
    }

    async fn set_frame_amount(
        &self,
        request: Request<SetFrameAmountRequest>,
    ) -> Result<Response<FrameAmount>, Status> {
        answer(self.set_frame_amount(request).await)
    }

    async fn get_frame_evaluation(
        &self,
        request: Request<GetFrameEvaluationRequest>,
    ) -> Result<Response<FrameEvaluation>, Status> {
        answer(self.get_frame_evaluation(request).await)
    }

    type ExportPayrollStream = reports::CsvStream;

    async fn export_payroll(
        &self,
        request: Request<ExportPayrollRequest>,
    ) -> Result<Response<Self::ExportPayrollStream>, Status> {
        answer(self.export_payroll(request).await)
    }

    type ExportProviderPurchasesStream = reports::CsvStream;

    async fn export_provider_purchases(
        &self,
        request: Request<ExportProviderPurchasesRequest>,
    ) -> Result<Response<Self::ExportProviderPurchasesStream>, Status> {
        answer(self.export_provider_purchases(request).await)
    }

    async fn list_overruns(
        &self,
        request: Request<ListOverrunsRequest>,
    ) -> Result<Response<ListOverrunsResponse>, Status> {
        answer(self.list_overruns(request).await)
    }

    async fn list_activity_kinds(
        &self,
        request: Request<ListActivityKindsRequest>,
    ) -> Result<Response<ListActivityKindsResponse>, Status> {
        let request = request.into_inner();
        let page_size = pagination::page_size(request.page_size)?;
        let after = pagination::decode_token(ACTIVITY_KINDS, &request.page_token)?;
        let rows = self
            .store
            .list_activity_kinds(after.as_deref(), page_size + 1)
            .await
            .map_err(ApiError::from)?;
        let (rows, next_page_token) =
            pagination::finish_page(rows, page_size, ACTIVITY_KINDS, |r| r.code.clone());
        Ok(Response::new(ListActivityKindsResponse {
            activity_kinds: rows.into_iter().map(to_proto).collect(),
            next_page_token,
        }))
    }

    async fn get_activity_kind(
        &self,
        request: Request<GetActivityKindRequest>,
    ) -> Result<Response<ActivityKind>, Status> {
        let name = request.into_inner().name;
        let code = resource::parse_top_level(&name, ACTIVITY_KINDS, "name")?;
        let row = self
            .store
            .get_activity_kind(code)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::not_found(&name))?;
        Ok(Response::new(to_proto(row)))
    }
}

fn to_proto(row: ActivityKindRow) -> ActivityKind {
    ActivityKind {
        name: format!("{ACTIVITY_KINDS}/{}", row.code),
        code: row.code,
        display_name: row.display_name,
        description: row.description,
        counts_toward_granted_hours: row.counts_toward_granted_hours,
    }
}
