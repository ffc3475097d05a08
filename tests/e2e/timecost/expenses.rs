//! Expenses against the grant's supplementary allowances (R-TC-5): mileage at the rate of the
//! day, activity money and interpreter, flagged above the allowance — also when several arrive
//! at once — and corrected by reversal.

use kontakt_proto::referral::v1::{Allowance, AllowanceKind, AllowancePeriod};

use super::*;
use kontakt_harness::bad_request_fields as violated_fields;

fn allowance(kind: AllowanceKind, ore: i64, period: AllowancePeriod) -> Allowance {
    Allowance {
        kind: kind as i32,
        amount: Some(Money { ore }),
        period: period as i32,
        justification: "granted by the committee".into(),
        end_date: None,
    }
}

fn expense(
    assignment: &str,
    kind: ExpenseKind,
    day: i32,
    amount_ore: i64,
    metres: i32,
    request_id: &str,
) -> RegisterExpenseRequest {
    RegisterExpenseRequest {
        parent: assignment.into(),
        expense: Some(Expense {
            kind: kind as i32,
            expense_date: date(2026, 12, day),
            distance_metres: metres,
            amount: (amount_ore > 0).then_some(Money { ore: amount_ore }),
            note: "cinema and a snack".into(),
            ..Expense::default()
        }),
        request_id: request_id.into(),
    }
}

#[tokio::test]
async fn expenses_draw_on_the_grants_allowances_and_are_flagged_above_them() {
    let (db, service) = started().await;
    // Activity money DKK 600 a quarter (R-RV-9) and mileage DKK 200 a month; no interpreter.
    let staff = arrangement_with(
        &db,
        ISHOJ,
        "g-exp",
        ANNA,
        Employment::Staff,
        180,
        30_000,
        vec![
            allowance(AllowanceKind::Activity, 60_000, AllowancePeriod::Quarter),
            allowance(AllowanceKind::Mileage, 20_000, AllowancePeriod::Month),
        ],
    )
    .await;
    let mut finance = as_role(&service, Role::Finance, &[ISHOJ]);
    let mut anna = contact_person(&service, ANNA);

    // Mileage needs the municipality's rate of the day: none before 3 December.
    let rate = finance
        .create_mileage_rate(CreateMileageRateRequest {
            parent: format!("municipalities/{ISHOJ}"),
            mileage_rate: Some(MileageRate {
                valid_from: date(2026, 12, 3),
                amount_per_km: Some(Money { ore: 381 }),
                source: "example value for the test".into(),
                ..MileageRate::default()
            }),
        })
        .await
        .expect("rate")
        .into_inner();
    let no_rate = anna
        .register_expense(expense(&staff, ExpenseKind::Mileage, 2, 0, 5_000, "e-0"))
        .await
        .expect_err("no rate on 2 December");
    assert_eq!(no_rate.code(), Code::FailedPrecondition);
    assert_eq!(rules(&no_rate), ["R-TC-5"]);

    let first = anna
        .register_expense(expense(&staff, ExpenseKind::Activity, 5, 40_000, 0, "e-1"))
        .await
        .expect("activity")
        .into_inner();
    assert!(!first.exceeds_allowance);
    let used = first.allowance.expect("allowance");
    assert!(used.granted);
    assert_eq!(used.limit.map(|m| m.ore), Some(60_000));
    assert_eq!(used.used.map(|m| m.ore), Some(40_000));
    assert_eq!(
        used.period,
        Some(DateRange {
            start: date(2026, 10, 1),
            end: date(2026, 12, 31)
        }),
        "a calendar quarter"
    );
    let retry = anna
        .register_expense(expense(&staff, ExpenseKind::Activity, 5, 40_000, 0, "e-1"))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(retry.name, first.name, "a retry returns the same expense");

    let over = anna
        .register_expense(expense(&staff, ExpenseKind::Activity, 10, 25_000, 0, "e-2"))
        .await
        .expect("registered, flagged")
        .into_inner();
    assert!(over.exceeds_allowance, "DKK 650 of DKK 600");
    assert_eq!(
        over.allowance.and_then(|a| a.used).map(|m| m.ore),
        Some(65_000)
    );

    let reversal = anna
        .reverse_expense(ReverseExpenseRequest {
            name: first.name.clone(),
            note: "paid by the family after all".into(),
            request_id: "e-1-rev".into(),
        })
        .await
        .expect("reversal")
        .into_inner();
    assert_eq!(reversal.reverses, first.name);
    assert_eq!(reversal.amount.map(|m| m.ore), Some(40_000));
    assert!(!reversal.exceeds_allowance);
    assert_eq!(
        reversal.allowance.and_then(|a| a.used).map(|m| m.ore),
        Some(25_000)
    );
    let twice = anna
        .reverse_expense(ReverseExpenseRequest {
            name: first.name.clone(),
            note: String::new(),
            request_id: "e-1-rev-again".into(),
        })
        .await
        .expect_err("reversed once");
    assert_eq!(twice.code(), Code::FailedPrecondition);

    // 12.3 km at DKK 3.81 = DKK 46.863 → 46.86, priced once.
    let trip = anna
        .register_expense(expense(&staff, ExpenseKind::Mileage, 6, 0, 12_300, "e-3"))
        .await
        .expect("mileage")
        .into_inner();
    assert_eq!(trip.amount.map(|m| m.ore), Some(4_686));
    assert_eq!(trip.mileage_rate, rate.name);
    assert!(!trip.exceeds_allowance);

    // No interpreter allowance: registered, flagged.
    let interpreter = anna
        .register_expense(expense(
            &staff,
            ExpenseKind::Interpreter,
            7,
            50_000,
            0,
            "e-4",
        ))
        .await
        .expect("interpreter")
        .into_inner();
    assert!(interpreter.exceeds_allowance);
    assert!(!interpreter.allowance.expect("use").granted);

    // Bad input names every wrong field; outside the assignment, or someone else's, is refused.
    let bad = anna
        .register_expense(RegisterExpenseRequest {
            parent: staff.clone(),
            expense: Some(Expense::default()),
            request_id: "e-bad".into(),
        })
        .await
        .expect_err("nothing set");
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&bad),
        ["expense.kind", "expense.expense_date"]
    );
    let no_distance = anna
        .register_expense(expense(&staff, ExpenseKind::Mileage, 6, 0, 0, "e-bad-2"))
        .await
        .expect_err("no distance");
    assert_eq!(violated_fields(&no_distance), ["expense.distance_metres"]);
    let before = anna
        .register_expense(RegisterExpenseRequest {
            expense: Some(Expense {
                expense_date: date(2026, 11, 20),
                ..expense(&staff, ExpenseKind::Activity, 1, 100, 0, "x")
                    .expense
                    .expect("set")
            }),
            ..expense(&staff, ExpenseKind::Activity, 1, 100, 0, "e-before")
        })
        .await
        .expect_err("before the assignment");
    assert_eq!(before.code(), Code::FailedPrecondition);
    assert_eq!(rules(&before), ["R-TC-1"]);
    let not_hers = contact_person(&service, LEYLA)
        .register_expense(expense(&staff, ExpenseKind::Activity, 5, 100, 0, "e-leyla"))
        .await
        .expect_err("not her assignment");
    assert_eq!(not_hers.code(), Code::NotFound);

    let listed = anna
        .list_expenses(ListExpensesRequest {
            parent: staff.clone(),
            ..ListExpensesRequest::default()
        })
        .await
        .expect("list")
        .into_inner();
    let names: Vec<&str> = listed.expenses.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            first.name.as_str(),
            over.name.as_str(),
            reversal.name.as_str(),
            trip.name.as_str(),
            interpreter.name.as_str()
        ]
    );
    assert_eq!(outbox_count(&db, "ExpenseRegistered").await, 5);
    let rates = finance
        .list_mileage_rates(ListMileageRatesRequest {
            parent: format!("municipalities/{ISHOJ}"),
        })
        .await
        .expect("rates")
        .into_inner();
    assert_eq!(rates.mileage_rates, [rate]);

    // Budget status counts them as their own category (the reversed one cancelled).
    let ishoj = frame("Ishøj", 100_000_000, 2026, &[(ISHOJ, 1, 1)]);
    let frame = create_frame(&mut finance, "ishoj", ishoj).await;
    let status = finance
        .get_budget_status(GetBudgetStatusRequest {
            name: format!("{}/budgetStatus", frame.name),
            as_of: date(2026, 12, 20),
        })
        .await
        .expect("status")
        .into_inner();
    let categories = status.spent_by_category.expect("categories");
    assert_eq!(
        categories.expenses,
        Some(Money {
            ore: 25_000 + 4_686 + 50_000
        })
    );
    assert_eq!(categories.contact_person_pay, Some(Money { ore: 0 }));
    assert_eq!(status.spent, Some(Money { ore: 79_686 }));
}

#[tokio::test]
async fn expenses_arriving_at_once_never_exceed_the_allowance_unflagged() {
    let (db, service) = started().await;
    let staff = arrangement_with(
        &db,
        ISHOJ,
        "g-race",
        ANNA,
        Employment::Staff,
        180,
        30_000,
        vec![allowance(
            AllowanceKind::Activity,
            60_000,
            AllowancePeriod::Quarter,
        )],
    )
    .await;
    // Six DKK 150 expenses at once against DKK 600: exactly four fit.
    let calls = (0..6).map(|i| {
        let mut anna = contact_person(&service, ANNA);
        let request = expense(
            &staff,
            ExpenseKind::Activity,
            2 + i,
            15_000,
            0,
            &format!("race-{i}"),
        );
        async move { anna.register_expense(request).await }
    });
    let results = futures_util::future::join_all(calls).await;
    let flagged = results
        .iter()
        .map(|r| r.as_ref().expect("registered").get_ref().exceeds_allowance)
        .filter(|f| *f)
        .count();
    assert_eq!(flagged, 2);
    let mut used: Vec<i64> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .filter_map(|r| r.get_ref().allowance.as_ref()?.used.as_ref().map(|m| m.ore))
        .collect();
    used.sort_unstable();
    assert_eq!(used, [15_000, 30_000, 45_000, 60_000, 75_000, 90_000]);
}
