//! The annual frame evaluation dataset (R-FU-5) and the CSV exports for payroll (approved hours
//! of hourly hires, R-TC-4) and invoice reconciliation (per provider and month), against
//! hand-computed figures.

use tokio_stream::StreamExt as _;

use super::*;

const KARIM_187: &str = "serviceUnits/vallensbaek/contactPersons/karim";
const RUSTAM: &str = "serviceUnits/misbrugshjaelp-aps/contactPersons/rustam";

async fn csv(stream: tonic::Streaming<CsvChunk>) -> (String, String, i64) {
    let chunks: Vec<CsvChunk> = stream.map(|c| c.expect("chunk")).collect::<Vec<_>>().await;
    let filename = chunks
        .first()
        .map(|c| c.filename.clone())
        .unwrap_or_default();
    let rows = chunks.last().map_or(0, |c| c.rows);
    let data: Vec<u8> = chunks.into_iter().flat_map(|c| c.data).collect();
    (filename, String::from_utf8(data).expect("utf-8"), rows)
}

fn december(from: i32, to: i32) -> Option<DateRange> {
    Some(DateRange {
        start: date(2026, 12, from),
        end: date(2026, 12, to),
    })
}

#[tokio::test]
async fn the_frame_evaluation_and_the_exports_match_hand_computed_figures() {
    let (db, service) = started().await;
    let both = [ISHOJ, super::VALLENSBAEK];
    // Ishøj: Anna (staff, DKK 300/h, 3 h a week) and Rustam from the provider (DKK 525/h,
    // 2 h a week); Vallensbæk: Karim (hourly hire, DKK 200 wage, 2 h a week). All from 1 Dec.
    let anna_a = arrangement(&db, "g-anna", ANNA, Employment::Staff, 180, 30_000).await;
    let rustam_a = arrangement(&db, "g-rustam", RUSTAM, Employment::Provider, 120, 52_500).await;
    let karim_a = arrangement_in(
        &db,
        super::VALLENSBAEK,
        "g-karim",
        KARIM_187,
        Employment::Hourly,
        120,
        20_000,
    )
    .await;
    let mut coordinator = as_role(&service, Role::Coordinator, &both);
    let mut finance = as_role(&service, Role::Finance, &both);
    for request in [
        register(&anna_a, 2, 120, "face-to-face", "r-1"),
        register(&rustam_a, 4, 90, "face-to-face", "r-2"),
        register(&karim_a, 3, 60, "face-to-face", "r-3"),
        register(&karim_a, 10, 30, "face-to-face", "r-4"),
    ] {
        coordinator.register_time(request).await.expect("time");
    }
    // Karim's first week is approved; the second only submitted: only the first is payroll's.
    let mut karim = contact_person_in(&service, super::VALLENSBAEK, KARIM_187);
    let mut sheets = Vec::new();
    for (from, to) in [(1, 7), (8, 14)] {
        let sheet = karim
            .create_timesheet(timesheet(KARIM_187, from, to))
            .await
            .expect("timesheet")
            .into_inner();
        let sheet = karim
            .submit_timesheet(submit(&sheet.name, ""))
            .await
            .expect("submit")
            .into_inner();
        sheets.push(sheet);
    }
    coordinator
        .approve_timesheet(approve(&sheets[0].name, ""))
        .await
        .expect("approve");

    // Base year 2026: no indexation needed for the year itself.
    let shared = frame(
        "Kontaktpersonramme Ishøj/Vallensbæk",
        400_000_000,
        2026,
        &[(ISHOJ, 2, 3), (super::VALLENSBAEK, 1, 3)],
    );
    let frame = create_frame(&mut finance, "ishoj-vallensbaek", shared).await;
    let evaluation = coordinator
        .get_frame_evaluation(GetFrameEvaluationRequest {
            name: format!("{}/evaluations/2026", frame.name),
        })
        .await
        .expect("evaluation")
        .into_inner();
    assert_eq!(evaluation.as_of, date(2026, 12, 20), "up to today");
    assert_eq!(evaluation.indexed_amount, Some(Money { ore: 400_000_000 }));
    // Anna 2 h × 300 = 600.00; Rustam 1.5 h × 525 = 787.50; Karim 1.5 h × 225 = 337.50.
    let by_category = evaluation.spent_by_category.expect("categories");
    assert_eq!(by_category.contact_person_pay, Some(Money { ore: 93_750 }));
    assert_eq!(by_category.external_purchases, Some(Money { ore: 78_750 }));
    assert_eq!(evaluation.spent, Some(Money { ore: 172_500 }));
    assert_eq!(evaluation.arrangements, 3);
    // 1–20 December = 20 days: (180 + 120 + 120) × 20 / 7 = 1,200 minutes granted.
    assert_eq!(evaluation.granted_minutes, 1_200);
    assert_eq!(evaluation.delivered_minutes, 300);
    let ishoj = &evaluation.municipalities[0];
    assert_eq!(ishoj.municipality, ISHOJ);
    assert_eq!(ishoj.expected, Some(Money { ore: 266_666_600 }));
    assert_eq!(ishoj.spent, Some(Money { ore: 138_750 }));
    assert_eq!(ishoj.arrangements, 2);
    assert_eq!(ishoj.granted_minutes, 857, "(180 + 120) × 20 / 7 = 857.14");
    assert_eq!(ishoj.delivered_minutes, 210);
    // Its categories add up to its spent; the coordinator function costs this frame nothing.
    let ishoj_categories = ishoj.spent_by_category.as_ref().expect("categories");
    assert_eq!(
        ishoj_categories.contact_person_pay,
        Some(Money { ore: 60_000 })
    );
    assert_eq!(
        ishoj_categories.external_purchases,
        Some(Money { ore: 78_750 })
    );
    assert_eq!(ishoj.months.len(), 1);
    assert_eq!(ishoj.months[0].spent, Some(Money { ore: 138_750 }));
    assert_eq!(ishoj.months[0].minutes, 210);
    // And by month and category: the evaluation's detail.
    let detail: Vec<(&str, i64, i64)> = ishoj
        .month_categories
        .iter()
        .map(|c| {
            (
                c.category.as_str(),
                c.spent.as_ref().map_or(0, |m| m.ore),
                c.minutes,
            )
        })
        .collect();
    assert_eq!(
        detail,
        [
            ("CONTACT_PERSON_PAY", 60_000, 120),
            ("EXTERNAL_PURCHASES", 78_750, 90)
        ]
    );
    assert!(
        ishoj
            .month_categories
            .iter()
            .all(|c| c.month == date(2026, 12, 1))
    );
    // Still to come on 20 December: 11 days of 3 h + 2 h a week in Ishøj, priced as the
    // budget status prices them (Anna 180 × 11 / 7 min at 300 = 1,414.29; Rustam 120 × 11 / 7
    // min at 525 = 1,650.00) and 11 days of 2 h in Vallensbæk (120 × 11 / 7 min at 225 = 707.14).
    assert_eq!(
        ishoj.committed,
        Some(Money {
            ore: 141_429 + 165_000
        })
    );
    let committed: i64 = evaluation
        .municipalities
        .iter()
        .map(|m| m.committed.as_ref().map_or(0, |c| c.ore))
        .sum();
    assert_eq!(evaluation.committed, Some(Money { ore: committed }));
    // What was bought, from whom and why (R-MP-2).
    assert_eq!(evaluation.purchases.len(), 1, "{:?}", evaluation.purchases);
    let purchase = &evaluation.purchases[0];
    assert_eq!(purchase.municipality, ISHOJ);
    assert_eq!(purchase.provider, "providers/misbrugshjaelp-aps");
    assert_eq!(purchase.reason, "SPECIAL_PROBLEM_AREA");
    assert_eq!((purchase.assignments, purchase.minutes), (1, 90));
    assert_eq!(purchase.amount, Some(Money { ore: 78_750 }));
    let vallensbaek = &evaluation.municipalities[1];
    assert_eq!(vallensbaek.expected, Some(Money { ore: 133_333_300 }));
    assert_eq!(vallensbaek.spent, Some(Money { ore: 33_750 }));
    assert_eq!(vallensbaek.granted_minutes, 343, "120 × 20 / 7 = 342.86");
    assert_eq!(vallensbaek.delivered_minutes, 90);
    let future = coordinator
        .get_frame_evaluation(GetFrameEvaluationRequest {
            name: format!("{}/evaluations/2027", frame.name),
        })
        .await
        .expect_err("2027 has not begun");
    assert_eq!(future.code(), Code::InvalidArgument);
    let hidden = as_role(&service, Role::Coordinator, &["329"])
        .get_frame_evaluation(GetFrameEvaluationRequest {
            name: evaluation.name.clone(),
        })
        .await
        .expect_err("Ringsted's coordinator");
    assert_eq!(hidden.code(), Code::NotFound);

    // Payroll: only Karim's approved week, wage + 12.5 % holiday pay.
    let (filename, text, rows) = csv(finance
        .export_payroll(ExportPayrollRequest {
            parent: format!("municipalities/{}", super::VALLENSBAEK),
            period: december(1, 31),
        })
        .await
        .expect("payroll")
        .into_inner())
    .await;
    assert_eq!(filename, "payroll-187-2026-12-01-2026-12-31.csv");
    assert_eq!(rows, 1);
    assert_eq!(
        text,
        format!(
            "contact_person,timesheet,period_start,period_end,hourly_wage_dkk,minutes,hours,wage_dkk,holiday_pay_dkk,total_dkk\n\
             {KARIM_187},{},2026-12-01,2026-12-07,200.00,60,1.00,200.00,25.00,225.00\n",
            sheets[0].name
        )
    );
    // Invoice reconciliation: Rustam's provider in December.
    let (_, text, rows) = csv(finance
        .export_provider_purchases(ExportProviderPurchasesRequest {
            parent: format!("municipalities/{ISHOJ}"),
            period: december(1, 31),
        })
        .await
        .expect("purchases")
        .into_inner())
    .await;
    assert_eq!(rows, 1);
    assert_eq!(
        text,
        format!(
            "provider,month,assignment,contact_person,hourly_price_dkk,minutes,hours,amount_dkk\n\
             providers/misbrugshjaelp-aps,2026-12,{rustam_a},{RUSTAM},525.00,90,1.50,787.50\n"
        )
    );
    // A period the wrong way round; someone else's municipality; a contact person.
    let backwards = finance
        .export_payroll(ExportPayrollRequest {
            parent: format!("municipalities/{ISHOJ}"),
            period: Some(DateRange {
                start: date(2026, 12, 31),
                end: date(2026, 12, 1),
            }),
        })
        .await
        .expect_err("backwards");
    assert_eq!(backwards.code(), Code::InvalidArgument);
    let elsewhere = finance
        .export_provider_purchases(ExportProviderPurchasesRequest {
            parent: "municipalities/329".into(),
            period: december(1, 31),
        })
        .await
        .expect_err("not theirs");
    assert_eq!(elsewhere.code(), Code::NotFound);
    let denied = contact_person(&service, ANNA)
        .export_payroll(ExportPayrollRequest {
            parent: format!("municipalities/{ISHOJ}"),
            period: december(1, 31),
        })
        .await
        .expect_err("not a contact person's");
    assert_eq!(denied.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn the_scheduled_check_warns_once_when_a_frame_runs_low_even_with_two_replicas() {
    let (db, service) = started().await;
    let staff = arrangement(&db, "g-low", ANNA, Employment::Staff, 180, 30_000).await;
    let mut finance = as_role(&service, Role::Finance, &[ISHOJ]);
    // A small frame (DKK 3,000) with a 90 % threshold: the forecast of 3 h a week at DKK 300
    // for the rest of the year (DKK 1,414) stays below it; 12 h more registered pass it.
    let small = frame("Small", 300_000, 2026, &[(ISHOJ, 1, 1)]);
    create_frame(&mut finance, "small", small).await;
    let (year, month, day, hour) = TODAY;
    let clock = clock_at(year, month, day, hour);
    let pool = kontakt_platform::db::pool(db.options.clone(), "timecost", &test_db_settings());
    let replica = |_| kontakt_timecost::threshold_check(pool.clone(), clock.clone());
    let (a, b) = (replica(1), replica(2));
    use kontakt_platform::schedule::run_once;
    assert_eq!(run_once(&pool, a.as_ref()).await.expect("run"), Some(0));
    contact_person(&service, ANNA)
        .registered(register(&staff, 2, 720, "face-to-face", "low-1"), "time")
        .await;
    // Both replicas' schedulers tick at once: at most one holds the lock, and the warning is
    // published exactly once however often they run afterwards.
    let (first, second) = tokio::join!(run_once(&pool, a.as_ref()), run_once(&pool, b.as_ref()));
    let ran: Vec<Option<usize>> = vec![first.expect("a"), second.expect("b")];
    assert_eq!(
        ran.iter().flatten().sum::<usize>(),
        1,
        "one published: {ran:?}"
    );
    for _ in 0..3 {
        run_once(&pool, b.as_ref()).await.expect("again");
        run_once(&pool, a.as_ref()).await.expect("again");
    }
    assert_eq!(outbox_count(&db, "FrameThresholdPassed").await, 1);
    pool.close().await;
}

#[tokio::test]
async fn the_committees_adjusted_frame_applies_from_the_coming_year_never_to_one_begun() {
    let (_db, service) = started().await;
    let both = [ISHOJ, super::VALLENSBAEK];
    let mut finance = as_role(&service, Role::Finance, &both);
    let shared = frame(
        "Kontaktpersonramme Ishøj/Vallensbæk",
        400_000_000,
        2026,
        &[(ISHOJ, 2, 3), (super::VALLENSBAEK, 1, 3)],
    );
    let frame = create_frame(&mut finance, "ishoj-vallensbaek", shared).await;
    let set = |from_year: i32, ore: i64| SetFrameAmountRequest {
        parent: frame.name.clone(),
        frame_amount: Some(FrameAmount {
            from_year,
            base_amount: Some(Money { ore }),
            base_year: from_year,
            decision: format!("{}/evaluations/2026", frame.name),
            ..FrameAmount::default()
        }),
    };
    // 20 December 2026: the committee's DKK 4.5M for 2027, in 2027 prices.
    let amount = finance
        .set_frame_amount(set(2027, 450_000_000))
        .await
        .expect("2027's amount")
        .into_inner();
    assert_eq!(amount.name, format!("{}/amounts/2027", frame.name));
    assert_eq!(amount.set_by, "test-finance");
    let again = finance
        .set_frame_amount(set(2027, 450_000_000))
        .await
        .expect("a retry")
        .into_inner();
    assert_eq!(
        again.etag, amount.etag,
        "the same decision again changes nothing"
    );
    let status = |finance: &mut TimeCost, day: Option<kontakt_proto::common::v1::Date>| {
        let mut f = finance.clone();
        let name = format!("{}/budgetStatus", frame.name);
        async move {
            f.get_budget_status(GetBudgetStatusRequest { name, as_of: day })
                .await
                .expect("status")
                .into_inner()
        }
    };
    // This year's figures stand; next year's use the new amount and split it.
    let now = status(&mut finance, None).await;
    assert_eq!(now.indexed_amount, Some(Money { ore: 400_000_000 }));
    let next = status(&mut finance, date(2027, 1, 5)).await;
    assert_eq!(next.indexed_amount, Some(Money { ore: 450_000_000 }));
    assert_eq!(
        next.municipalities[0].expected,
        Some(Money { ore: 300_000_000 })
    );
    assert_eq!(
        next.municipalities[1].expected,
        Some(Money { ore: 150_000_000 })
    );
    // Corrected before 2027 begins.
    let corrected = finance
        .set_frame_amount(set(2027, 460_000_000))
        .await
        .expect("corrected")
        .into_inner();
    assert_ne!(corrected.etag, amount.etag);
    let next = status(&mut finance, date(2027, 6, 1)).await;
    assert_eq!(next.indexed_amount, Some(Money { ore: 460_000_000 }));
    let shown = finance
        .get_frame(GetFrameRequest {
            name: frame.name.clone(),
        })
        .await
        .expect("frame")
        .into_inner();
    assert_eq!(shown.amounts.len(), 1);
    assert_eq!(
        shown.amounts[0].base_amount,
        Some(Money { ore: 460_000_000 })
    );
    assert_eq!(
        shown.base_amount,
        Some(Money { ore: 400_000_000 }),
        "its own stays"
    );

    // A year that has begun, a nonsense amount, no decision: each field named.
    let begun = finance
        .set_frame_amount(set(2026, 500_000_000))
        .await
        .expect_err("2026 has begun");
    assert_eq!(begun.code(), Code::InvalidArgument);
    assert_eq!(bad_request_fields(&begun), ["frame_amount.from_year"]);
    let bad = finance
        .set_frame_amount(SetFrameAmountRequest {
            frame_amount: Some(FrameAmount {
                from_year: 2027,
                base_year: 2027,
                ..FrameAmount::default()
            }),
            ..set(2027, 1)
        })
        .await
        .expect_err("no amount, no decision");
    assert_eq!(
        bad_request_fields(&bad),
        ["frame_amount.base_amount", "frame_amount.decision"]
    );
    // Finance's, and only for its own frames.
    let coordinator = as_role(&service, Role::Coordinator, &both)
        .set_frame_amount(set(2027, 1_000))
        .await
        .expect_err("coordinator");
    assert_eq!(coordinator.code(), Code::PermissionDenied);
    let ringsted = as_role(&service, Role::Finance, &["329"])
        .set_frame_amount(set(2027, 1_000))
        .await
        .expect_err("Ringsted's finance");
    assert_eq!(ringsted.code(), Code::NotFound);
}
