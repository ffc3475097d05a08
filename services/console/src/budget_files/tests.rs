//! The downloads and the plot, read back.

use super::csv_file::{BOM, plain_hours, plain_kroner};
use super::plot::axis;
use super::workbook::workbook;
use super::*;

fn money(ore: i64) -> Option<Money> {
    Some(Money { ore })
}

fn month(month: i32, spent: i64, minutes: i64) -> MonthSpend {
    MonthSpend {
        month: Some(Date {
            year: 2026,
            month,
            day: 1,
        }),
        spent: money(spent),
        minutes,
    }
}

fn municipality(
    code: &str,
    numerator: i64,
    denominator: i64,
    figures: [i64; 4],
) -> MunicipalityBudget {
    let [expected, spent, committed, free] = figures;
    MunicipalityBudget {
        municipality: code.to_owned(),
        share: Some(MunicipalityShare {
            municipality: code.to_owned(),
            numerator,
            denominator,
        }),
        expected: money(expected),
        spent: money(spent),
        committed: money(committed),
        free: money(free),
    }
}

/// Ishøj 2/3 and Vallensbæk 1/3 of DKK 4,256,000, at the end of March 2026.
fn status() -> BudgetStatus {
    BudgetStatus {
        name: "frames/ishoj-vallensbaek/budgetStatus".to_owned(),
        year: 2026,
        as_of: Some(Date {
            year: 2026,
            month: 3,
            day: 31,
        }),
        indexed_amount: money(425_600_000),
        spent: money(100_000_050),
        committed: money(200_000_000),
        free: money(125_599_950),
        threshold_passed: false,
        municipalities: vec![
            municipality(
                "183",
                2,
                3,
                [283_733_300, 70_000_000, 150_000_000, 63_733_300],
            ),
            municipality(
                "187",
                1,
                3,
                [141_866_600, 25_000_025, 50_000_000, 66_866_575],
            ),
        ],
        // Out of order on purpose: the files list them by month.
        months: vec![
            month(3, 35_000_050, 1_801),
            month(1, 30_000_000, 1_500),
            month(2, 35_000_000, 1_755),
        ],
        spent_by_category: Some(CategorySpend {
            contact_person_pay: money(80_000_000),
            external_purchases: money(10_000_000),
            coordinator_function: money(8_000_000),
            expenses: money(2_000_050),
        }),
        frame: "frames/ishoj-vallensbaek".to_owned(),
    }
}

fn records(bytes: &[u8]) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .delimiter(b';')
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes)
        .records()
        .map(|r| {
            r.expect("a well-formed CSV record")
                .iter()
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

fn row<'a>(records: &'a [Vec<String>], first: &str) -> &'a [String] {
    records
        .iter()
        .find(|r| r.first().is_some_and(|f| f == first))
        .unwrap_or_else(|| panic!("a row starting with {first:?}"))
}

#[test]
fn the_csv_starts_with_a_bom_and_uses_semicolons_and_decimal_commas() {
    let bytes = csv(&status());
    assert!(bytes.starts_with(BOM), "the file starts with the UTF-8 BOM");
    let text = std::str::from_utf8(&bytes).expect("UTF-8");
    assert!(text.contains("Ishøj;183;2/3;2837333,00;700000,00;1500000,00;637333,00\r\n"));

    let records = records(&bytes);
    assert_eq!(
        records.first().map(Vec::as_slice),
        Some(
            &[
                "Ramme",
                "År",
                "Opgjort pr.",
                "Rammebeløb, indekseret (kr.)",
                "Varslingsgrænse passeret"
            ]
            .map(str::to_owned)[..]
        )
    );
    assert_eq!(
        row(&records, "frames/ishoj-vallensbaek"),
        [
            "frames/ishoj-vallensbaek",
            "2026",
            "31.03.2026",
            "4256000,00",
            "nej"
        ]
    );
    assert_eq!(row(&records, "Kommune"), MUNICIPALITY_HEADER);
    assert_eq!(
        row(&records, "Vallensbæk"),
        [
            "Vallensbæk",
            "187",
            "1/3",
            "1418666,00",
            "250000,25",
            "500000,00",
            "668665,75"
        ]
    );
    assert_eq!(
        row(&records, FRAME_TOTAL),
        [
            FRAME_TOTAL,
            "",
            "",
            "4256000,00",
            "1000000,50",
            "2000000,00",
            "1255999,50"
        ]
    );
}

#[test]
fn the_csv_lists_the_months_in_order_with_hours_after_a_blank_line() {
    let bytes = csv(&status());
    let text = std::str::from_utf8(&bytes).expect("UTF-8");
    assert!(
        text.contains("Rammen i alt;;;4256000,00;1000000,50;2000000,00;1255999,50\r\n\r\nMåned;"),
        "an empty line separates the sections: {text}"
    );
    let records = records(&bytes);
    let header = records
        .iter()
        .position(|r| r.first().is_some_and(|f| f == "Måned"))
        .expect("a month header");
    assert_eq!(records[header], MONTH_HEADER);
    assert_eq!(records[header + 1], ["januar 2026", "300000,00", "25,00"]);
    assert_eq!(records[header + 2], ["februar 2026", "350000,00", "29,25"]);
    assert_eq!(records[header + 3], ["marts 2026", "350000,50", "30,02"]);
    assert_eq!(row(&records, "Kategori"), CATEGORY_HEADER);
    assert_eq!(
        row(&records, "Udgifter (kørsel, aktivitet, tolk)"),
        ["Udgifter (kørsel, aktivitet, tolk)", "20000,50"]
    );
}

#[test]
fn csv_numbers_have_a_decimal_comma_and_no_thousands_separator() {
    assert_eq!(plain_kroner(123_456_789), "1234567,89");
    assert_eq!(plain_kroner(-5), "-0,05");
    assert_eq!(plain_kroner(0), "0,00");
    assert_eq!(plain_kroner(i64::MIN), "-92233720368547758,08");
    assert_eq!(plain_hours(90), "1,50");
    assert_eq!(plain_hours(1), "0,02");
    assert_eq!(plain_hours(-20), "-0,33");
    assert_eq!(plain_hours(i64::MIN), "-153722867280912930,13");
}

#[test]
fn the_xlsx_is_a_zip_workbook_with_both_sheets() {
    let bytes = xlsx(&status()).expect("a workbook");
    assert!(
        bytes.starts_with(b"PK\x03\x04"),
        "an XLSX file is a zip archive"
    );
    assert!(bytes.len() > 4_000, "{} bytes is too small", bytes.len());
    // Part names are stored uncompressed in the zip headers.
    let has = |name: &[u8]| bytes.windows(name.len()).any(|w| w == name);
    assert!(has(b"xl/workbook.xml"));
    assert!(has(b"xl/worksheets/sheet1.xml"));
    assert!(has(b"xl/worksheets/sheet2.xml"));
    assert!(has(b"xl/worksheets/sheet3.xml"));

    let mut workbook = workbook(&status()).expect("a workbook");
    for name in ["Kommuner", "Måneder", "Kategorier"] {
        assert!(
            workbook.worksheet_from_name(name).is_ok(),
            "the workbook has the sheet {name}"
        );
    }
}

#[test]
fn the_plot_carries_each_municipalitys_figures_as_data_and_text() {
    let svg = svg(&status());
    assert!(svg.contains(
        r#"<g data-municipality="183" data-expected-ore="283733300" data-spent-ore="70000000" data-committed-ore="150000000" data-free-ore="63733300">"#
    ));
    assert!(svg.contains(
        r#"<g data-municipality="187" data-expected-ore="141866600" data-spent-ore="25000025" data-committed-ore="50000000" data-free-ore="66866575">"#
    ));
    assert!(svg.contains("Ishøj (183), andel 2/3"));
    assert!(svg.contains(
        "Forbrugt 700.000 kr. · Disponeret 1.500.000 kr. · Fri 637.333 kr. af forventet 2.837.333 kr."
    ));
    assert!(svg.contains("Vallensbæk (187), andel 1/3"));
    assert!(svg.contains("Forbrugt 250.000 kr. · Disponeret 500.000 kr. · Fri 668.666 kr."));
    for legend in [">Forbrugt<", ">Disponeret<", ">Fri<", ">Forventet andel<"] {
        assert!(svg.contains(legend), "the legend names {legend}");
    }
    assert_eq!(svg.matches("data-municipality=").count(), 2);
}

#[test]
fn the_plot_accumulates_the_months_in_order_against_the_indexed_amount() {
    let svg = svg(&status());
    assert!(svg.contains(
        r#"data-month="2026-01" data-spent-ore="30000000" data-cumulative-spent-ore="30000000""#
    ));
    assert!(svg.contains(
        r#"data-month="2026-02" data-spent-ore="35000000" data-cumulative-spent-ore="65000000""#
    ));
    assert!(svg.contains(
        r#"data-month="2026-03" data-spent-ore="35000050" data-cumulative-spent-ore="100000050""#
    ));
    let january = svg.find(r#"data-month="2026-01""#).expect("january");
    let march = svg.find(r#"data-month="2026-03""#).expect("march");
    assert!(january < march);
    assert!(svg.contains(r#"data-indexed-ore="425600000""#));
    assert!(svg.contains("Rammen: 4.256.000 kr."));
    assert!(
        svg.contains(">2.000.000 kr.<"),
        "the y axis has thousand points"
    );
    assert!(svg.contains(">jan.<") && svg.contains(">maj<") && svg.contains(">dec.<"));
}

#[test]
fn the_plot_is_labelled_for_screen_readers_and_scales() {
    let svg = svg(&status());
    assert!(svg.starts_with("<svg "));
    assert!(svg.ends_with("</svg>"));
    assert!(svg.contains(r#"role="img""#));
    assert!(svg.contains(
        r#"aria-labelledby="budgetplot-ishoj-vallensbaek-title budgetplot-ishoj-vallensbaek-desc""#
    ));
    assert!(svg.contains(r#"<title id="budgetplot-ishoj-vallensbaek-title">Budgetstatus 2026"#));
    let desc_start = svg
        .find(r#"<desc id="budgetplot-ishoj-vallensbaek-desc">"#)
        .expect("a description");
    let desc = &svg[desc_start..svg.find("</desc>").expect("the description ends")];
    assert!(desc.contains("Rammen er 4.256.000 kr."));
    assert!(desc.contains("marts 2026 1.000.001 kr."));
    assert!(desc.contains(
        "Ishøj (andel 2/3): forventet 2.837.333 kr., forbrugt 700.000 kr., disponeret 1.500.000 kr., fri 637.333 kr."
    ));
    assert!(svg.contains(r#"width="100%""#));
    assert!(svg.contains(r#"viewBox="0 0 720 "#));
    assert_eq!(svg.matches("<g").count(), svg.matches("</g>").count());
}

#[test]
fn the_plot_escapes_the_text_it_inserts() {
    let mut status = status();
    status.frame = "frames/a\"b".to_owned();
    if let Some(first) = status.municipalities.first_mut() {
        first.municipality = "<x&y>".to_owned();
    }
    let svg = svg(&status);
    assert!(!svg.contains("<x&y>"));
    assert!(svg.contains("Kommune &lt;x&amp;y&gt;"));
    assert!(svg.contains(r#"data-municipality="&lt;x&amp;y&gt;""#));
    assert!(svg.contains(r#"data-frame="frames/a&quot;b""#));
    assert!(svg.contains(r#"id="budgetplot-a-b-title""#));
}

#[test]
fn an_overspent_municipality_reads_as_overspent_not_as_a_negative_free_amount() {
    let mut status = status();
    status.municipalities = vec![municipality(
        "183",
        1,
        1,
        [100_000_000, 80_000_000, 30_000_000, -10_000_000],
    )];
    let svg = svg(&status);
    assert!(
        svg.contains("Forbrugt 800.000 kr. · Disponeret 300.000 kr. · Overskredet med 100.000 kr.")
    );
    assert!(!svg.contains(r#"data-part="free""#));
}

#[test]
fn a_status_without_months_or_municipalities_still_renders() {
    let mut status = status();
    status.months.clear();
    status.municipalities.clear();
    status.spent_by_category = None;
    let svg = svg(&status);
    assert!(svg.contains("Intet forbrug registreret i 2026 endnu."));
    assert!(svg.contains("Rammen er ikke fordelt på kommuner."));
    assert!(!svg.contains("data-month="));
    let records = records(&csv(&status));
    assert_eq!(
        row(&records, FRAME_TOTAL),
        [
            FRAME_TOTAL,
            "",
            "",
            "4256000,00",
            "1000000,50",
            "2000000,00",
            "1255999,50"
        ]
    );
    assert_eq!(
        records.last().map(Vec::as_slice),
        Some(&MONTH_HEADER.map(str::to_owned)[..])
    );
    let bytes = xlsx(&status).expect("a workbook");
    assert!(bytes.starts_with(b"PK"));
    assert!(!bytes.windows(24).any(|w| w == b"xl/worksheets/sheet3.xml"));
}

#[test]
fn an_empty_status_renders_all_three_without_panicking() {
    let status = BudgetStatus::default();
    let svg = svg(&status);
    assert!(svg.contains(r#"role="img""#));
    assert!(svg.contains("Intet forbrug registreret endnu."));
    let records = records(&csv(&status));
    assert_eq!(row(&records, ""), ["", "0", "–", "0,00", "nej"]);
    assert!(xlsx(&status).expect("a workbook").starts_with(b"PK"));
}

#[test]
fn the_axis_steps_are_round_amounts() {
    assert_eq!(axis(425_600_000), (2_000_000, 3));
    assert_eq!(axis(0), (1, 1));
    assert_eq!(axis(-5), (1, 1));
    assert_eq!(axis(10_000), (50, 2));
    let (step, ticks) = axis(i64::MAX);
    assert!(step > 0 && ticks > 0);
}

mod evaluation {
    use std::collections::BTreeMap;

    use kontakt_proto::timecost::v1::{FrameEvaluation, MunicipalityEvaluation, ProviderPurchase};

    use super::super::evaluation::workbook;
    use super::*;

    fn categories(pay: i64, external: i64, coordinator: i64, expenses: i64) -> CategorySpend {
        CategorySpend {
            contact_person_pay: money(pay),
            external_purchases: money(external),
            coordinator_function: money(coordinator),
            expenses: money(expenses),
        }
    }

    fn place(
        code: &str,
        spent: i64,
        months: Vec<MonthSpend>,
        c: CategorySpend,
    ) -> MunicipalityEvaluation {
        MunicipalityEvaluation {
            municipality: code.to_owned(),
            spent: money(spent),
            months,
            spent_by_category: Some(c),
            ..MunicipalityEvaluation::default()
        }
    }

    /// Ishøj spent in March and April, Vallensbæk in February and April.
    fn dataset() -> FrameEvaluation {
        FrameEvaluation {
            name: "frames/ishoj-vallensbaek/evaluations/2026".to_owned(),
            year: 2026,
            indexed_amount: money(425_600_000),
            spent: money(1_000 + 2_000 + 300 + 400 + 5_000),
            committed: money(100_000),
            spent_by_category: Some(categories(3_300, 2_400, 2_000, 1_000)),
            months: vec![month(2, 300, 60), month(3, 1_000, 120), month(4, 2_400, 30)],
            municipalities: vec![
                place(
                    "183",
                    1_000 + 2_000 + 2_000 / 3 * 2,
                    vec![month(4, 2_000, 0), month(3, 1_000, 120)],
                    categories(3_000, 0, 1_334, 0),
                ),
                place(
                    "187",
                    300 + 400,
                    vec![month(2, 300, 60), month(4, 400, 30)],
                    categories(300, 400, 666, 0),
                ),
            ],
            purchases: vec![ProviderPurchase {
                municipality: "187".to_owned(),
                provider: "providers/misbrugshjaelp-aps".to_owned(),
                reason: "NO_CAPACITY".to_owned(),
                assignments: 1,
                minutes: 30,
                amount: money(400),
            }],
            ..FrameEvaluation::default()
        }
    }

    /// The document of `d` for a reader who may not see unmet demand.
    fn plain<'a>(
        d: &'a FrameEvaluation,
        providers: &'a BTreeMap<String, String>,
    ) -> Evaluation<'a> {
        Evaluation {
            frame: "Ramme",
            dataset: d,
            unmet: None,
            providers,
        }
    }

    #[test]
    fn the_months_are_every_month_with_spend_in_calendar_order_a_column_per_municipality() {
        let (d, providers) = (dataset(), BTreeMap::new());
        let e = plain(&d, &providers);
        let rows = e.month_rows();
        let labels: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["februar 2026", "marts 2026", "april 2026"]);
        assert_eq!(rows[0].per_municipality, [0, 300]);
        assert_eq!(rows[2].per_municipality, [2_000, 400]);
        assert_eq!(rows[2].total, 2_400, "the frame's own month figure");
        assert_eq!(e.month_minutes()[1].per_municipality, [120, 0]);
    }

    #[test]
    fn the_categories_have_a_column_per_municipality_and_the_frames_total_r_bf_3() {
        let (d, providers) = (dataset(), BTreeMap::new());
        let e = plain(&d, &providers);
        let rows = e.category_rows();
        let coordinator = rows
            .iter()
            .find(|r| r.label == "Koordinatorfunktion")
            .expect("row");
        assert_eq!(coordinator.per_municipality, [1_334, 666]);
        assert_eq!(coordinator.total, 2_000);
        assert_eq!(free(&d), 425_600_000 - 8_700 - 100_000);
    }

    #[test]
    fn the_workbook_has_a_sheet_per_table_and_unmet_demand_only_when_seen() {
        let d = dataset();
        let mut providers = BTreeMap::new();
        providers.insert(
            "providers/misbrugshjaelp-aps".to_owned(),
            "Misbrugshjælp ApS".to_owned(),
        );
        let unmet = [Unmet {
            municipality: "183".to_owned(),
            requests: 2,
            minutes_per_week: 300,
        }];
        let seen = Evaluation {
            frame: "Ramme",
            dataset: &d,
            unmet: Some(&unmet),
            providers: &providers,
        };
        assert_eq!(
            seen.provider_name("providers/misbrugshjaelp-aps"),
            "Misbrugshjælp ApS"
        );
        assert_eq!(seen.provider_name("providers/other"), "other");
        assert_eq!(reason_label("NO_CAPACITY"), "Ingen ledig kapacitet");
        assert_eq!(reason_label("UNKNOWN"), "Ikke oplyst");
        let mut book = workbook(&seen).expect("a workbook");
        for name in [
            "Rammen",
            "Kommuner",
            "Kategorier",
            "Måneder",
            "Timer",
            "Detaljer",
            "Indkøb",
            "Udækket behov",
        ] {
            assert!(book.worksheet_from_name(name).is_ok(), "the sheet {name}");
        }
        let bytes = evaluation_xlsx(&seen).expect("bytes");
        assert!(bytes.starts_with(b"PK\x03\x04"));
        let unseen = Evaluation {
            unmet: None,
            ..seen
        };
        let mut book = workbook(&unseen).expect("a workbook");
        assert!(book.worksheet_from_name("Udækket behov").is_err());
    }
}
