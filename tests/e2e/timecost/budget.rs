//! The shared frame's budget status against a recomputation from the entries.

use super::*;

const KARIM: &str = "serviceUnits/ishoejgaard/contactPersons/karim";

/// A deterministic stream of pseudo-random numbers (no seed file, the same run every time).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

#[tokio::test]
async fn the_shared_frames_budget_status_matches_a_recomputation_from_the_entries() {
    let (db, service) = started().await;
    let both = [ISHOJ, VALLENSBAEK];
    let mut finance = as_role(&service, Role::Finance, &both);
    let shared = frame(
        "Kontaktpersonramme Ishøj/Vallensbæk",
        400_000_000,
        2017,
        &[(ISHOJ, 2, 3), (VALLENSBAEK, 1, 3)],
    );
    let frame = create_frame(
        &mut finance,
        "ishoj-vallensbaek",
        Frame {
            // Warn as soon as anything is spent, to see the event fire once.
            warning_threshold_basis_points: 1,
            ..shared
        },
    )
    .await;
    let wrong_split = finance
        .create_frame(CreateFrameRequest {
            frame_id: "bad".into(),
            frame: Some(Frame {
                shares: vec![MunicipalityShare {
                    municipality: ISHOJ.into(),
                    numerator: 6_667,
                    denominator: 10_000,
                }],
                ..frame.clone()
            }),
        })
        .await
        .expect_err("shares must sum to one");
    assert_eq!(wrong_split.code(), Code::InvalidArgument);
    let status_request = || GetBudgetStatusRequest {
        name: format!("{}/budgetStatus", frame.name),
        as_of: date(2026, 12, 20),
    };
    // Example PL rates (2.00 % a year, not real figures), entered as data; 2026 is missing.
    for year in 2018..=2025 {
        finance
            .create_indexation_rate(example_rate(year))
            .await
            .expect("rate");
    }
    let missing = finance
        .get_budget_status(status_request())
        .await
        .expect_err("2026 has no rate");
    assert_eq!(missing.code(), Code::FailedPrecondition);
    assert!(missing.message().contains("2026"), "{}", missing.message());
    finance
        .create_indexation_rate(example_rate(2026))
        .await
        .expect("2026");

    // Anna (staff, DKK 320) in Ishøj; Karim (provider, DKK 525 agreed) in Vallensbæk.
    let anna = arrangement_in(&db, ISHOJ, "g-1", ANNA, Employment::Staff, 180, 32_000).await;
    let karim = arrangement_in(
        &db,
        VALLENSBAEK,
        "g-2",
        KARIM,
        Employment::Provider,
        240,
        52_500,
    )
    .await;
    let mut coordinator = as_role(&service, Role::Coordinator, &both);
    let kinds = ["face-to-face", "phone-online", "transport", "documentation"];
    let mut random = Lcg(7);
    let mut registered = Vec::new();
    for i in 0..80 {
        let assignment = if random.below(3) == 0 { &karim } else { &anna };
        let entry = coordinator
            .register_time(register(
                assignment,
                1 + random.below(20) as i32,
                1 + random.below(240) as i32,
                kinds[random.below(4) as usize],
                &format!("r-{i}"),
            ))
            .await
            .expect("registered")
            .into_inner();
        registered.push(entry);
    }
    for (i, entry) in registered.iter().enumerate().filter(|(i, _)| i % 9 == 0) {
        coordinator
            .reverse_time_entry(reverse(&entry.name, "corrected", &format!("x-{i}")))
            .await
            .expect("reversed");
    }

    let status = finance
        .get_budget_status(status_request())
        .await
        .expect("status")
        .into_inner();
    // 4,000,000 × 1.02^9 = 4,780,370.27 (rounded once); split 2/3–1/3 in whole kroner.
    assert_eq!(status.indexed_amount.map(|m| m.ore), Some(478_037_027));
    let by_m = |m: &str| {
        status
            .municipalities
            .iter()
            .find(|b| b.municipality == m)
            .expect("municipality")
            .clone()
    };
    assert_eq!(by_m(ISHOJ).expected.map(|m| m.ore), Some(318_691_300));
    assert_eq!(by_m(VALLENSBAEK).expected.map(|m| m.ore), Some(159_345_600));

    // From scratch: every entry's exact cost, summed, rounded once.
    let mut conn = db.connect().await.expect("connect");
    let recomputed: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT municipality, sum(cost_units)::bigint, sum(minutes)::bigint
           FROM timecost.time_entries GROUP BY municipality ORDER BY municipality",
    )
    .fetch_all(&mut conn)
    .await
    .expect("recompute");
    use kontakt_timecost::domain::pricing::to_ore;
    let total_units: i64 = recomputed.iter().map(|r| r.1).sum();
    assert_eq!(status.spent.map(|m| m.ore), Some(to_ore(total_units)));
    for (m, units, _) in &recomputed {
        assert_eq!(by_m(m).spent.map(|s| s.ore), Some(to_ore(*units)), "{m}");
    }
    let month_minutes: i64 = status.months.iter().map(|m| m.minutes).sum();
    assert_eq!(month_minutes, recomputed.iter().map(|r| r.2).sum::<i64>());
    // Committed: the rest of the year at the weekly hours — Anna 180 min × 11 days / 7 at
    // DKK 320 = 1,508.57; Karim 240 min × 11 / 7 at DKK 525 = 3,300.00.
    assert_eq!(by_m(ISHOJ).committed.map(|m| m.ore), Some(150_857));
    assert_eq!(by_m(VALLENSBAEK).committed.map(|m| m.ore), Some(330_000));
    assert_eq!(status.committed.map(|m| m.ore), Some(480_857));
    let spent = status.spent.map_or(0, |m| m.ore);
    assert_eq!(
        status.free.map(|m| m.ore),
        Some(478_037_027 - spent - 480_857)
    );
    let categories = status.spent_by_category.expect("categories");
    let by_category = categories.contact_person_pay.map_or(0, |m| m.ore)
        + categories.external_purchases.map_or(0, |m| m.ore);
    // Each figure is rounded once, so two rounded parts may differ from the rounded whole by
    // at most one øre.
    assert!((by_category - spent).abs() <= 1, "{by_category} vs {spent}");
    assert!(status.threshold_passed);
    finance
        .get_budget_status(status_request())
        .await
        .expect("again");
    assert_eq!(
        outbox_count(&db, "FrameThresholdPassed").await,
        1,
        "once a year"
    );

    // Ringsted's finance does not see the frame.
    let outsider = as_role(&service, Role::Finance, &["329"])
        .get_budget_status(status_request())
        .await
        .expect_err("not theirs");
    assert_eq!(outsider.code(), Code::NotFound);
    service.stop().await.expect("stop");
}
