//! Budget status of a frame for a year (R-BF-2..4): spent, committed and free, overall, per
//! municipality against its expected split, per month and per category. Every sum is taken of
//! exact figures and rounded to øre once (see `pricing` and `frame`).

use chrono::NaiveDate;

use super::frame::{self, FrameError, Share};
use super::pricing::{self, Basis};

/// What the frame covers (R-BF-3): time costs by who delivers, and the expenses under the
/// grants' allowances (R-TC-5). The coordinator function is a yearly cost line, not a spend row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    ContactPersonPay,
    ExternalPurchases,
    Expenses,
}

impl Category {
    /// As kept in the monthly aggregates.
    pub fn code(self) -> &'static str {
        match self {
            Category::ContactPersonPay => "CONTACT_PERSON_PAY",
            Category::ExternalPurchases => "EXTERNAL_PURCHASES",
            Category::Expenses => "EXPENSES",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        [
            Category::ContactPersonPay,
            Category::ExternalPurchases,
            Category::Expenses,
        ]
        .into_iter()
        .find(|c| c.code() == code)
    }
}

/// Registered cost of one municipality, month and category, in exact units.
pub struct Spend {
    pub municipality: String,
    pub month: NaiveDate,
    pub category: Category,
    pub cost_units: i64,
    pub minutes: i64,
}

/// The remaining time in the year of the active assignments that share a municipality, a
/// pricing basis and an hourly rate: the forecast is linear in minutes × days, so a group
/// prices exactly as its assignments one by one would (R-BF-4).
pub struct Forecast {
    pub municipality: String,
    pub basis: Basis,
    /// Σ minutes per week × days each still runs after the status day, within the year and the
    /// frame's period.
    pub minute_days: i64,
    /// The hourly rate; `None` when none is on record (counted, not priced).
    pub rate_ore: Option<i64>,
    /// How many assignments the group holds.
    pub assignments: i64,
}

pub struct Inputs<'a> {
    pub indexed_ore: i64,
    pub shares: &'a [(String, Share)],
    pub spend: &'a [Spend],
    pub forecast: &'a [Forecast],
    pub coordinator_per_year_ore: i64,
    /// Days of the year up to and including the status day, and the year's length.
    pub days_elapsed: i64,
    pub days_in_year: i64,
    pub threshold_basis_points: i32,
}

#[derive(Debug, PartialEq, Eq)]
pub struct MunicipalityStatus {
    pub municipality: String,
    pub share: Share,
    pub expected_ore: i64,
    pub spent_ore: i64,
    pub committed_ore: i64,
    pub free_ore: i64,
    /// What `spent_ore` is made of (R-BF-3); the four add up to it.
    pub categories: Categories,
    /// The municipality's own spend per month, in month order (its coordinator share is a
    /// yearly line, not a month's).
    pub months: Vec<(NaiveDate, i64, i64)>,
}

/// Spent by what the frame covers (R-BF-3), in øre.
#[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
pub struct Categories {
    pub contact_person_pay_ore: i64,
    pub external_purchases_ore: i64,
    pub expenses_ore: i64,
    pub coordinator_ore: i64,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Status {
    pub spent_ore: i64,
    pub committed_ore: i64,
    pub free_ore: i64,
    pub threshold_passed: bool,
    pub municipalities: Vec<MunicipalityStatus>,
    /// (first day of the month, spent øre, net minutes), in month order.
    pub months: Vec<(NaiveDate, i64, i64)>,
    /// Spent by category; the frame's coordinator line is the year's pro rata cost.
    pub categories: Categories,
    /// Active assignments with no rate on record: their time is not in `committed`.
    pub unpriced_assignments: usize,
}

/// Exact forecast units ×7 (a week's minutes spread over its 7 days).
fn forecast_units_times_7(f: &Forecast) -> i128 {
    let eighths = pricing::eighths_per_hour(f.basis, f.rate_ore.unwrap_or(0));
    i128::from(f.minute_days) * i128::from(eighths)
}

/// Units ×7 to øre, half up, once.
fn ore_from_units_times_7(units: i128) -> i64 {
    let per_ore = i128::from(pricing::UNITS_PER_ORE) * 7;
    let magnitude = (units.abs() * 2 + per_ore) / (per_ore * 2);
    let signed = if units < 0 { -magnitude } else { magnitude };
    i64::try_from(signed).unwrap_or(i64::MAX)
}

pub fn status(i: &Inputs<'_>) -> Result<Status, FrameError> {
    let shares: Vec<Share> = i.shares.iter().map(|(_, s)| *s).collect();
    let expected = frame::split_ore(i.indexed_ore, &shares)?;
    let spent_units = |pred: &dyn Fn(&Spend) -> bool| -> i64 {
        i.spend
            .iter()
            .filter(|s| pred(s))
            .map(|s| s.cost_units)
            .sum()
    };
    let committed_units = |m: Option<&str>| -> i128 {
        i.forecast
            .iter()
            .filter(|f| m.is_none_or(|m| f.municipality == m))
            .map(forecast_units_times_7)
            .sum()
    };
    let coordinator_ore = i
        .coordinator_per_year_ore
        .saturating_mul(i.days_elapsed)
        .checked_div(i.days_in_year)
        .unwrap_or(0);
    let coordinator_rest = i.coordinator_per_year_ore - coordinator_ore;
    // R-BF-3: the coordinator function is charged to the municipalities by the frame's split,
    // to the øre, so their figures add up to the frame's.
    let coordinator_spent_parts = frame::apportion_ore(coordinator_ore, &shares)?;
    let coordinator_rest_parts = frame::apportion_ore(coordinator_rest, &shares)?;
    let pay = pricing::to_ore(spent_units(&|s| s.category == Category::ContactPersonPay));
    let external = pricing::to_ore(spent_units(&|s| s.category == Category::ExternalPurchases));
    let expenses = pricing::to_ore(spent_units(&|s| s.category == Category::Expenses));
    let municipalities: Vec<MunicipalityStatus> = i
        .shares
        .iter()
        .zip(expected)
        .zip(coordinator_spent_parts.iter().zip(&coordinator_rest_parts))
        .map(
            |(((m, share), expected_ore), (coordinator_spent, coordinator_left))| {
                let own = |category: Category| {
                    pricing::to_ore(spent_units(&|s| {
                        s.municipality == *m && s.category == category
                    }))
                };
                let spent =
                    pricing::to_ore(spent_units(&|s| s.municipality == *m)) + coordinator_spent;
                let committed = ore_from_units_times_7(committed_units(Some(m))) + coordinator_left;
                let (pay, external) = (
                    own(Category::ContactPersonPay),
                    own(Category::ExternalPurchases),
                );
                MunicipalityStatus {
                    municipality: m.clone(),
                    share: *share,
                    expected_ore,
                    spent_ore: spent,
                    committed_ore: committed,
                    free_ore: expected_ore - spent - committed,
                    // Each category is rounded once; expenses take what rounding leaves, so
                    // the four add up to the spent figure to the øre.
                    categories: Categories {
                        contact_person_pay_ore: pay,
                        external_purchases_ore: external,
                        expenses_ore: spent - coordinator_spent - pay - external,
                        coordinator_ore: *coordinator_spent,
                    },
                    months: months_of(i.spend.iter().filter(|s| s.municipality == *m)),
                }
            },
        )
        .collect();
    // The frame's figures are the municipalities' added up (each rounded to øre once), plus
    // anything registered for a municipality outside the split (none, when the data is right).
    let outside = |m: &str| !i.shares.iter().any(|(s, _)| s == m);
    let spent_ore = municipalities.iter().map(|m| m.spent_ore).sum::<i64>()
        + pricing::to_ore(spent_units(&|s| outside(&s.municipality)));
    let committed_ore = municipalities.iter().map(|m| m.committed_ore).sum::<i64>()
        + ore_from_units_times_7(
            i.forecast
                .iter()
                .filter(|f| outside(&f.municipality))
                .map(forecast_units_times_7)
                .sum(),
        );
    let months = months_of(i.spend.iter());
    let used = i128::from(spent_ore) + i128::from(committed_ore);
    Ok(Status {
        spent_ore,
        committed_ore,
        free_ore: i.indexed_ore - spent_ore - committed_ore,
        threshold_passed: used * 10_000
            >= i128::from(i.indexed_ore) * i128::from(i.threshold_basis_points),
        municipalities,
        months,
        categories: Categories {
            contact_person_pay_ore: pay,
            external_purchases_ore: external,
            expenses_ore: expenses,
            coordinator_ore,
        },
        unpriced_assignments: i
            .forecast
            .iter()
            .filter(|f| f.rate_ore.is_none())
            .map(|f| usize::try_from(f.assignments).unwrap_or(0))
            .sum(),
    })
}

/// (first day of the month, spent øre, net minutes) of `spend`, each month rounded once, in
/// month order.
fn months_of<'a>(spend: impl Iterator<Item = &'a Spend>) -> Vec<(NaiveDate, i64, i64)> {
    let mut months: Vec<(NaiveDate, i64, i64)> = Vec::new();
    for s in spend {
        match months.iter_mut().find(|(m, _, _)| *m == s.month) {
            Some(entry) => {
                entry.1 += s.cost_units;
                entry.2 += s.minutes;
            }
            None => months.push((s.month, s.cost_units, s.minutes)),
        }
    }
    months.sort_by_key(|m| m.0);
    months
        .into_iter()
        .map(|(m, units, minutes)| (m, pricing::to_ore(units), minutes))
        .collect()
}

/// Granted minutes over a span of days from "minute-days" (minutes per week × days in force):
/// a week's minutes spread over its 7 days, rounded half up once, on the sum (R-FU-5 dataset).
pub fn granted_minutes(minute_days: i64) -> i64 {
    (minute_days * 2 + 7) / 14
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    fn shares() -> Vec<(String, Share)> {
        vec![
            (
                "183".into(),
                Share {
                    numerator: 2,
                    denominator: 3,
                },
            ),
            (
                "187".into(),
                Share {
                    numerator: 1,
                    denominator: 3,
                },
            ),
        ]
    }

    #[test]
    fn r_bf_4_the_forecast_summed_by_municipality_basis_and_rate_is_each_assignments_to_the_ore() {
        // 2,000 generated assignments (a fixed linear congruential sequence), priced one by
        // one and as the store sums them: the same status to the øre.
        let mut seed: u64 = 0x5eed;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        let bases = [Basis::StaffCost, Basis::HourlyWage, Basis::ProviderPrice];
        let rates = [None, Some(21_750), Some(30_000), Some(52_513)];
        let each: Vec<Forecast> = (0..2_000)
            .map(|_| {
                let minutes = 15 + next(2_400) as i64;
                let days = next(366) as i64;
                Forecast {
                    municipality: ["183", "187", "999"][next(3) as usize].into(),
                    basis: bases[next(3) as usize],
                    minute_days: minutes * days,
                    rate_ore: rates[next(4) as usize],
                    assignments: 1,
                }
            })
            .collect();
        let mut summed: Vec<Forecast> = Vec::new();
        for f in &each {
            match summed.iter_mut().find(|g| {
                g.municipality == f.municipality && g.basis == f.basis && g.rate_ore == f.rate_ore
            }) {
                Some(group) => {
                    group.minute_days += f.minute_days;
                    group.assignments += 1;
                }
                None => summed.push(Forecast {
                    municipality: f.municipality.clone(),
                    basis: f.basis,
                    minute_days: f.minute_days,
                    rate_ore: f.rate_ore,
                    assignments: 1,
                }),
            }
        }
        assert!(summed.len() <= 3 * 3 * 4);
        let shares = shares();
        let inputs = |forecast: &[Forecast]| {
            status(&Inputs {
                indexed_ore: 4_000_000_000,
                shares: &shares,
                spend: &[],
                forecast,
                coordinator_per_year_ore: 1_000_000,
                days_elapsed: 200,
                days_in_year: 365,
                threshold_basis_points: 9_000,
            })
            .expect("status")
        };
        let (one_by_one, grouped) = (inputs(&each), inputs(&summed));
        assert_eq!(one_by_one, grouped);
        assert!(grouped.committed_ore > 0 && grouped.unpriced_assignments > 0);
    }

    #[test]
    fn spent_committed_and_free_add_up_per_municipality_and_overall() {
        let shares = shares();
        // Ishøj: 10 h at DKK 300 in March; Vallensbæk: 4 h from a provider at DKK 525 in April.
        let spend = [
            Spend {
                municipality: "183".into(),
                month: day(2026, 3, 1),
                category: Category::ContactPersonPay,
                cost_units: pricing::cost_units(Basis::StaffCost, 30_000, 600),
                minutes: 600,
            },
            Spend {
                municipality: "187".into(),
                month: day(2026, 4, 1),
                category: Category::ExternalPurchases,
                cost_units: pricing::cost_units(Basis::ProviderPrice, 52_500, 240),
                minutes: 240,
            },
            // Ishøj: DKK 46.86 mileage in April, no minutes.
            Spend {
                municipality: "183".into(),
                month: day(2026, 4, 1),
                category: Category::Expenses,
                cost_units: 4_686 * pricing::UNITS_PER_ORE,
                minutes: 0,
            },
        ];
        // Ishøj: 3 h a week for 14 more days at DKK 300 = 6 h = DKK 1,800.
        let forecast = [
            Forecast {
                municipality: "183".into(),
                basis: Basis::StaffCost,
                minute_days: 180 * 14,
                rate_ore: Some(30_000),
                assignments: 1,
            },
            Forecast {
                municipality: "187".into(),
                basis: Basis::HourlyWage,
                minute_days: 60 * 7,
                rate_ore: None,
                assignments: 1,
            },
        ];
        let status = status(&Inputs {
            indexed_ore: 400_000_000,
            shares: &shares,
            spend: &spend,
            forecast: &forecast,
            coordinator_per_year_ore: 0,
            days_elapsed: 120,
            days_in_year: 365,
            threshold_basis_points: 9_000,
        })
        .expect("status");
        assert_eq!(status.spent_ore, 300_000 + 210_000 + 4_686);
        assert_eq!(status.committed_ore, 180_000);
        assert_eq!(status.free_ore, 400_000_000 - 514_686 - 180_000);
        assert_eq!(status.categories.contact_person_pay_ore, 300_000);
        assert_eq!(status.categories.external_purchases_ore, 210_000);
        assert_eq!(status.categories.expenses_ore, 4_686);
        assert_eq!(status.unpriced_assignments, 1);
        assert!(!status.threshold_passed);
        let ishoj = &status.municipalities[0];
        assert_eq!(ishoj.expected_ore, 266_666_600);
        assert_eq!(ishoj.free_ore, 266_666_600 - 304_686 - 180_000);
        assert_eq!(
            ishoj.categories,
            Categories {
                contact_person_pay_ore: 300_000,
                external_purchases_ore: 0,
                expenses_ore: 4_686,
                coordinator_ore: 0,
            }
        );
        assert_eq!(
            ishoj.months,
            [(day(2026, 3, 1), 300_000, 600), (day(2026, 4, 1), 4_686, 0)]
        );
        assert_eq!(
            status.municipalities[1].months,
            [(day(2026, 4, 1), 210_000, 240)]
        );
        assert_eq!(status.municipalities[1].expected_ore, 133_333_300);
        assert_eq!(
            status.months,
            [
                (day(2026, 3, 1), 300_000, 600),
                (day(2026, 4, 1), 214_686, 240)
            ]
        );
    }

    #[test]
    fn granted_minutes_spread_a_week_over_its_days_and_round_once() {
        // 3 h a week for a whole non-leap year: 180 × 365 / 7 = 9,385.71 → 9,386.
        assert_eq!(granted_minutes(180 * 365), 9_386);
        assert_eq!(granted_minutes(180 * 7), 180);
        // Two grants of 3.5 days each: per grant 90 minutes exactly; half a minute rounds up.
        assert_eq!(granted_minutes(1), 0);
        assert_eq!(granted_minutes(4), 1, "4/7 = 0.57");
        assert_eq!(granted_minutes(0), 0);
    }

    #[test]
    fn the_coordinator_function_is_spent_pro_rata_and_the_rest_committed_r_bf_3() {
        let shares = shares();
        let status = status(&Inputs {
            indexed_ore: 1_000_000,
            shares: &shares,
            spend: &[],
            forecast: &[],
            coordinator_per_year_ore: 365_000,
            days_elapsed: 73,
            days_in_year: 365,
            threshold_basis_points: 10_000,
        })
        .expect("status");
        assert_eq!(status.categories.coordinator_ore, 73_000);
        assert_eq!(status.spent_ore, 73_000);
        assert_eq!(status.committed_ore, 292_000);
        // Charged by the split: 2/3 and 1/3 of it, adding up to the frame's to the øre.
        let spent: Vec<i64> = status.municipalities.iter().map(|m| m.spent_ore).collect();
        let committed: Vec<i64> = status
            .municipalities
            .iter()
            .map(|m| m.committed_ore)
            .collect();
        assert_eq!(spent, [48_667, 24_333]);
        let coordinator: Vec<i64> = status
            .municipalities
            .iter()
            .map(|m| m.categories.coordinator_ore)
            .collect();
        assert_eq!(coordinator, spent, "all of it is the coordinator function");
        assert_eq!(committed, [194_667, 97_333]);
        // Free adds up too, but for the whole kroner the expected split rounds down to (DKK
        // 6,666 + 3,333 of 10,000).
        let free: i64 = status.municipalities.iter().map(|m| m.free_ore).sum();
        assert_eq!(status.free_ore - free, 100);
    }

    #[test]
    fn r_bf_3_a_municipalitys_categories_add_up_to_its_spent_to_the_ore() {
        // Thirds of an øre in every row: each category rounds once, and the four still add up.
        let shares = shares();
        let spend: Vec<Spend> = (0..30)
            .map(|n| Spend {
                municipality: ["183", "187"][n % 2].into(),
                month: day(2026, 1 + (n % 6) as u32, 1),
                category: [
                    Category::ContactPersonPay,
                    Category::ExternalPurchases,
                    Category::Expenses,
                ][n % 3],
                cost_units: pricing::UNITS_PER_ORE * (n as i64 + 1) / 3,
                minutes: n as i64,
            })
            .collect();
        let status = status(&Inputs {
            indexed_ore: 1_000_000,
            shares: &shares,
            spend: &spend,
            forecast: &[],
            coordinator_per_year_ore: 100_001,
            days_elapsed: 100,
            days_in_year: 365,
            threshold_basis_points: 10_000,
        })
        .expect("status");
        for m in &status.municipalities {
            let c = m.categories;
            assert_eq!(
                c.contact_person_pay_ore
                    + c.external_purchases_ore
                    + c.expenses_ore
                    + c.coordinator_ore,
                m.spent_ore,
                "{}",
                m.municipality
            );
        }
        let coordinator: i64 = status
            .municipalities
            .iter()
            .map(|m| m.categories.coordinator_ore)
            .sum();
        assert_eq!(coordinator, status.categories.coordinator_ore);
    }

    #[test]
    fn the_threshold_is_passed_when_spent_and_committed_reach_it_r_bf_4() {
        let shares = shares();
        let at = |coordinator: i64| {
            status(&Inputs {
                indexed_ore: 1_000_000,
                shares: &shares,
                spend: &[],
                forecast: &[],
                coordinator_per_year_ore: coordinator,
                days_elapsed: 1,
                days_in_year: 365,
                threshold_basis_points: 9_000,
            })
            .expect("status")
            .threshold_passed
        };
        assert!(!at(899_999));
        assert!(at(900_000));
    }
}
