//! The municipality's report of preventive measures to Danmarks Statistik (DST): which grants
//! a period's report holds and how each becomes a row. The columns are those DST's delivery of
//! preventive measures (L201, "UdsatteBoernOgUngeLeveranceL201U1Struktur") carries per measure —
//! the child's CPR number, the measure's id, what it is, its start and end — with the legal
//! basis written out, since DST's code table for measures (PGF) was not at hand to map it
//! (docs/statistics.md).

use chrono::NaiveDate;

/// The file's header line.
pub const HEADER: &str = "kommunekode,foranstaltning_id,udsat_barn_cpr,rettet_mod,hjemmel_kode,hjemmel,startdato,slutdato";

/// A grant as the report needs it, the CPR number already opened.
pub struct Measure<'a> {
    pub municipality: &'a str,
    /// `municipalities/{m}/grants/{grant}`.
    pub grant: &'a str,
    pub cpr: &'a str,
    /// Toward the child or the whole family (1, 2 as `Recipient`).
    pub family: bool,
    pub legal_basis: &'a str,
    pub citation: &'a str,
    pub start: NaiveDate,
    /// The grant's actual end, if it has one.
    pub end: Option<NaiveDate>,
}

/// Whether a grant from `start` to `end` (none: still running) is in force on a day of the
/// period `from..=to`.
pub fn in_period(start: NaiveDate, end: Option<NaiveDate>, from: NaiveDate, to: NaiveDate) -> bool {
    start <= to && end.is_none_or(|end| end >= from)
}

/// The measure's row. Its end is reported only when it falls in the period: a measure still
/// running at the period's end has none yet, as DST's end date is optional for that.
pub fn row(m: &Measure<'_>, to: NaiveDate) -> String {
    let end = m
        .end
        .filter(|end| *end <= to)
        .map_or_else(String::new, |d| d.to_string());
    [
        m.municipality.to_owned(),
        m.grant.to_owned(),
        m.cpr.to_owned(),
        if m.family { "FAMILIE" } else { "BARN" }.to_owned(),
        m.legal_basis.to_owned(),
        quoted(m.citation),
        m.start.to_string(),
        end,
    ]
    .join(",")
}

/// A field as CSV writes it: quoted when it holds a comma, a quote or a line break.
fn quoted(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("date")
    }

    #[test]
    fn r_dst_a_period_holds_every_grant_in_force_on_one_of_its_days() {
        let (from, to) = (d(2026, 1, 1), d(2026, 12, 31));
        assert!(
            in_period(d(2025, 3, 1), None, from, to),
            "running since before"
        );
        assert!(
            in_period(d(2025, 3, 1), Some(d(2026, 1, 1)), from, to),
            "ended on its first day"
        );
        assert!(
            in_period(d(2026, 12, 31), None, from, to),
            "begun on its last day"
        );
        assert!(
            !in_period(d(2025, 3, 1), Some(d(2025, 12, 31)), from, to),
            "ended before"
        );
        assert!(!in_period(d(2027, 1, 1), None, from, to), "begins after");
    }

    #[test]
    fn r_dst_a_row_reports_the_end_only_inside_the_period_and_quotes_the_citation() {
        let measure = Measure {
            municipality: "183",
            grant: "municipalities/183/grants/g-1",
            cpr: "0101101234",
            family: false,
            legal_basis: "bl-32-1-3",
            citation: "Barnets Lov § 32, stk. 1, nr. 3",
            start: d(2026, 2, 1),
            end: Some(d(2027, 1, 31)),
        };
        assert_eq!(
            row(&measure, d(2026, 12, 31)),
            "183,municipalities/183/grants/g-1,0101101234,BARN,bl-32-1-3,\
             \"Barnets Lov § 32, stk. 1, nr. 3\",2026-02-01,"
        );
        let ended = Measure {
            end: Some(d(2026, 6, 30)),
            family: true,
            ..measure
        };
        assert!(row(&ended, d(2026, 12, 31)).ends_with(
            ",FAMILIE,bl-32-1-3,\"Barnets Lov § 32, stk. 1, nr. 3\",2026-02-01,2026-06-30"
        ));
        assert_eq!(quoted("a \"b\""), "\"a \"\"b\"\"\"");
    }
}
