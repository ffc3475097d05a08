//! Who may call which method of this service (roles × methods). Tenant scoping happens
//! inside each method; this table only says which roles get in at all.

use kontakt_platform::auth::access::ANY_ROLE;
use kontakt_platform::auth::{AccessTable, Role};

pub static ACCESS: AccessTable = AccessTable {
    service: kontakt_proto::service_names::TIMECOST,
    methods: &[
        // The activity kinds describe no person: every authenticated caller may read it.
        ("ListActivityKinds", ANY_ROLE),
        ("GetActivityKind", ANY_ROLE),
        // Time is registered by the contact person, or the coordinator on their behalf
        // (R-TC-1); a contact person only on their own assignments (checked in the method).
        ("RegisterTime", REGISTRARS),
        ("ReverseTimeEntry", REGISTRARS),
        (
            "ListTimeEntries",
            &[Role::ContactPerson, Role::Coordinator, Role::Finance],
        ),
        // Overrun is the coordinator's to follow up (R-TC-2).
        ("ListOverruns", &[Role::Coordinator, Role::Finance]),
        // Timesheets: the contact person opens and submits; only the coordinator approves or
        // returns (R-TC-4, checked in the method); finance reads.
        ("CreateTimesheet", TIMESHEET_KEEPERS),
        ("SubmitTimesheet", TIMESHEET_KEEPERS),
        ("ApproveTimesheet", &[Role::Coordinator]),
        ("ReturnTimesheet", &[Role::Coordinator]),
        (
            "GetTimesheet",
            &[Role::ContactPerson, Role::Coordinator, Role::Finance],
        ),
        (
            "ListTimesheets",
            &[Role::ContactPerson, Role::Coordinator, Role::Finance],
        ),
        // Frames and PL rates are finance's data (R-BF-1); the coordinator reads the status.
        ("CreateFrame", FINANCE),
        // The committee's adjusted frame for a coming year (R-FU-5), set by finance.
        ("SetFrameAmount", FINANCE),
        ("CreateIndexationRate", FINANCE),
        ("GetFrame", BUDGET_READERS),
        ("ListIndexationRates", BUDGET_READERS),
        ("GetBudgetStatus", BUDGET_READERS),
        ("GetFrameEvaluation", BUDGET_READERS),
        // Expenses follow time registration (R-TC-5); mileage rates are finance's data.
        ("RegisterExpense", REGISTRARS),
        ("ReverseExpense", REGISTRARS),
        (
            "ListExpenses",
            &[Role::ContactPerson, Role::Coordinator, Role::Finance],
        ),
        ("CreateMileageRate", FINANCE),
        ("ListMileageRates", BUDGET_READERS),
        // Payroll takes approved hours (the coordinator approves them); invoice
        // reconciliation is finance's.
        ("ExportPayroll", &[Role::Finance, Role::Coordinator]),
        ("ExportProviderPurchases", FINANCE),
    ],
};

const FINANCE: &[Role] = &[Role::Finance, Role::Admin];
const BUDGET_READERS: &[Role] = &[Role::Finance, Role::Coordinator, Role::Admin];
const TIMESHEET_KEEPERS: &[Role] = &[Role::ContactPerson, Role::Coordinator];
const REGISTRARS: &[Role] = &[Role::ContactPerson, Role::Coordinator];
