//! `kontakt ctl import FILE`: arrangements from the municipality's old system, one a row of a
//! CSV file or a line of a JSON lines file. Every row is checked by the referral service first
//! (`validate_only`), and the contact persons named are looked up; if any row is refused, none
//! is imported and the report lists each refused row with its reason. Then each is imported
//! (idempotent by the old system's id, so a run broken off is simply run again) and, where the
//! file names one, its contact person assigned from the day of the import.

use std::path::Path;

use anyhow::Context as _;
use chrono::NaiveDate;
use kontakt_platform::clock::{Clock as _, SystemClock};
use kontakt_proto::common::v1::Date;
use kontakt_proto::matching::v1 as matching;
use kontakt_proto::matching::v1::matching_service_client::MatchingServiceClient;
use kontakt_proto::names;
use kontakt_proto::referral::v1::referral_service_client::ReferralServiceClient;
use kontakt_proto::referral::v1::{
    ApprovalLevel, ImportArrangementRequest, ImportedArrangement, ImportedTerms, Needs, Recipient,
};
use prost_reflect::{DescriptorPool, DynamicMessage};

use crate::client::{Authed, retrying};
use crate::ctl::table;
use crate::progress::Progress;

/// One arrangement of the file: where it goes and who its contact person is.
#[derive(Debug)]
pub struct Row {
    /// 1-based: the CSV's data row or the JSON lines file's line.
    pub line: usize,
    pub municipality: String,
    pub arrangement: ImportedArrangement,
    /// `serviceUnits/{unit}/contactPersons/{person}`, empty when none is assigned yet.
    pub contact_person: String,
}

/// A row that was not imported, or only in part, and why.
#[derive(Debug)]
struct Refused {
    line: usize,
    source_id: String,
    reason: String,
}

/// The file's rows: JSON lines when it ends in `.jsonl` (or `.ndjson`), CSV otherwise. A row
/// that cannot be read is refused with the reason, the others still read.
/// A row that could not be read: its line, its old id if that much was read, and why.
pub type Unreadable = (usize, String, String);

pub fn read(path: &Path) -> anyhow::Result<Vec<Result<Row, Unreadable>>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let jsonl = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("jsonl") || e.eq_ignore_ascii_case("ndjson"));
    if jsonl {
        read_jsonl(&text)
    } else {
        read_csv(&text)
    }
}

fn read_jsonl(text: &str) -> anyhow::Result<Vec<Result<Row, Unreadable>>> {
    let pool = DescriptorPool::decode(kontakt_proto::FILE_DESCRIPTOR_SET)
        .context("decoding Kontakt's proto descriptors")?;
    let descriptor = pool
        .get_message_by_name("kontakt.referral.v1.ImportedArrangement")
        .context("no ImportedArrangement in Kontakt's protos")?;
    Ok(text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            let line_no = i + 1;
            let refuse = |e: String| (line_no, String::new(), e);
            let mut object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line)
                .map_err(|e| refuse(format!("not a JSON object: {e}")))?;
            let text_of = |v: Option<serde_json::Value>| match v {
                Some(serde_json::Value::String(s)) => s,
                _ => String::new(),
            };
            let municipality = text_of(object.remove("municipality"));
            let contact_person = text_of(
                object
                    .remove("contactPerson")
                    .or_else(|| object.remove("contact_person")),
            );
            if let Some(key) = object.keys().find(|k| *k != "arrangement") {
                return Err(refuse(format!(
                    "unknown key `{key}` (municipality, contactPerson, arrangement)"
                )));
            }
            let arrangement = object
                .remove("arrangement")
                .ok_or_else(|| refuse("no `arrangement`".into()))?;
            let arrangement = DynamicMessage::deserialize(descriptor.clone(), arrangement)
                .map_err(|e| refuse(format!("`arrangement` is not an ImportedArrangement: {e}")))?
                .transcode_to::<ImportedArrangement>()
                .map_err(|e| refuse(e.to_string()))?;
            Ok(Row {
                line: line_no,
                municipality,
                arrangement,
                contact_person,
            })
        })
        .collect())
}

/// The CSV's columns: one arrangement a row; lists inside a cell are separated by `;`, each
/// version of the terms written `YYYY-MM-DD=minutes`.
pub const CSV_COLUMNS: &[&str] = &[
    "municipality",
    "source_system",
    "source_id",
    "cpr",
    "display_name",
    "case_external_id",
    "kle_number",
    "counsellor",
    "recipient",
    "legal_basis",
    "purpose",
    "competences",
    "decision_date",
    "decider",
    "approval_level",
    "start_date",
    "expected_end_date",
    "terms",
    "follow_ups_held",
    "next_follow_up_date",
    "contact_person",
];

fn read_csv(text: &str) -> anyhow::Result<Vec<Result<Row, Unreadable>>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let headers = reader.headers().context("reading the CSV header")?.clone();
    let missing: Vec<&str> = CSV_COLUMNS
        .iter()
        .copied()
        .filter(|c| !headers.iter().any(|h| h == *c))
        .collect();
    anyhow::ensure!(
        missing.is_empty(),
        "the CSV lacks the columns {} (it needs: {})",
        missing.join(", "),
        CSV_COLUMNS.join(", ")
    );
    Ok(reader
        .records()
        .enumerate()
        .map(|(i, record)| {
            let line = i + 1;
            let record =
                record.map_err(|e| (line, String::new(), format!("not a CSV row: {e}")))?;
            let cell = |name: &str| {
                headers
                    .iter()
                    .position(|h| h == name)
                    .and_then(|at| record.get(at))
                    .unwrap_or_default()
                    .to_owned()
            };
            csv_row(line, &cell).map_err(|e| (line, cell("source_id"), e))
        })
        .collect())
}

fn csv_row(line: usize, cell: &dyn Fn(&str) -> String) -> Result<Row, String> {
    let date = |name: &str| -> Result<Option<Date>, String> {
        let text = cell(name);
        if text.is_empty() {
            return Ok(None);
        }
        parse_day(&text)
            .map(|d| Some(d.into()))
            .map_err(|e| format!("{name}: {e}"))
    };
    let list = |name: &str| -> Vec<String> {
        cell(name)
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let terms = list("terms")
        .iter()
        .map(|t| {
            let (day, minutes) = t
                .split_once('=')
                .ok_or_else(|| format!("terms: `{t}` is not YYYY-MM-DD=minutes"))?;
            Ok(ImportedTerms {
                effective_from: Some(parse_day(day).map_err(|e| format!("terms: {e}"))?.into()),
                minutes_per_week: minutes
                    .trim()
                    .parse()
                    .map_err(|_| format!("terms: `{minutes}` is not a number of minutes"))?,
                justification: String::new(),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let follow_ups_held = list("follow_ups_held")
        .iter()
        .map(|d| {
            parse_day(d)
                .map(Into::into)
                .map_err(|e| format!("follow_ups_held: {e}"))
        })
        .collect::<Result<Vec<Date>, String>>()?;
    let recipient = Recipient::from_str_name(&format!(
        "RECIPIENT_{}",
        cell("recipient").to_ascii_uppercase()
    ))
    .ok_or_else(|| "recipient: CHILD or FAMILY".to_owned())?;
    let approval_level = ApprovalLevel::from_str_name(&format!(
        "APPROVAL_LEVEL_{}",
        cell("approval_level").to_ascii_uppercase()
    ))
    .ok_or_else(|| {
        "approval_level: OWN_AUTHORITY, TEAM_MEETING, TEAM_LEADER or COMMITTEE".to_owned()
    })?;
    let basis = cell("legal_basis");
    let legal_basis = if basis.starts_with("legalBases/") {
        basis
    } else {
        names::legal_basis(&basis)
    };
    let competences = list("competences")
        .into_iter()
        .map(|c| {
            if c.starts_with("competences/") {
                c
            } else {
                format!("competences/{c}")
            }
        })
        .collect::<Vec<_>>();
    Ok(Row {
        line,
        municipality: cell("municipality"),
        contact_person: cell("contact_person"),
        arrangement: ImportedArrangement {
            source_system: cell("source_system"),
            source_id: cell("source_id"),
            cpr: cell("cpr"),
            display_name: cell("display_name"),
            case_external_id: cell("case_external_id"),
            kle_number: cell("kle_number"),
            counsellor: cell("counsellor"),
            recipient: recipient as i32,
            legal_basis,
            purpose: cell("purpose"),
            needs: (!competences.is_empty()).then(|| Needs {
                competences,
                ..Needs::default()
            }),
            decision_date: date("decision_date")?,
            decider: cell("decider"),
            approval_level: approval_level as i32,
            start_date: date("start_date")?,
            expected_end_date: date("expected_end_date")?,
            terms,
            follow_ups_held,
            next_follow_up_date: date("next_follow_up_date")?,
        },
    })
}

fn parse_day(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| format!("`{}` is not a YYYY-MM-DD date", text.trim()))
}

fn request(row: &Row, validate_only: bool) -> ImportArrangementRequest {
    ImportArrangementRequest {
        parent: format!("municipalities/{}", row.municipality),
        arrangement: Some(row.arrangement.clone()),
        validate_only,
    }
}

/// Why a call was refused, as a coordinator reads it (the service's own message names the field).
fn reason(status: &tonic::Status) -> String {
    format!("{:?}: {}", status.code(), status.message())
}

/// Imports the file; the report (stdout) lists what was made and every row refused.
pub async fn import(
    mut referral: ReferralServiceClient<Authed>,
    mut matching: MatchingServiceClient<Authed>,
    path: &Path,
) -> anyhow::Result<String> {
    let read = read(path)?;
    let total = read.len();
    anyhow::ensure!(total > 0, "{}: no arrangements in the file", path.display());
    let mut refused: Vec<Refused> = Vec::new();
    let mut rows = Vec::new();
    for row in read {
        match row {
            Ok(row) => rows.push(row),
            Err((line, source_id, reason)) => refused.push(Refused {
                line,
                source_id,
                reason,
            }),
        }
    }
    // Every row checked before anything is kept.
    let mut progress = Progress::new("Checking", rows.len());
    for row in &rows {
        let answer = referral.import_arrangement(request(row, true)).await;
        if let Err(status) = answer {
            refused.push(Refused {
                line: row.line,
                source_id: row.arrangement.source_id.clone(),
                reason: reason(&status),
            });
        } else if !row.contact_person.is_empty()
            && let Err(status) = matching
                .get_contact_person(matching::GetContactPersonRequest {
                    name: row.contact_person.clone(),
                })
                .await
        {
            refused.push(Refused {
                line: row.line,
                source_id: row.arrangement.source_id.clone(),
                reason: format!("contact_person: {}", reason(&status)),
            });
        }
        progress.step(&row.arrangement.source_id);
    }
    progress.finish();
    if !refused.is_empty() {
        refused.sort_by_key(|r| r.line);
        print!("{}", report(&refused));
        anyhow::bail!(
            "nothing was imported: {} of {total} rows refused (listed above); mend them and run the import again",
            refused.len()
        );
    }
    let today = SystemClock.today();
    let (mut made, mut again, mut assigned) = (0, 0, 0);
    let mut progress = Progress::new("Importing", rows.len());
    for row in &rows {
        let done = referral
            .import_arrangement(request(row, false))
            .await
            .map_err(|s| {
                anyhow::anyhow!(
                    "row {} ({}): {} (the rows before it are imported; run again to go on)",
                    row.line,
                    row.arrangement.source_id,
                    reason(&s)
                )
            })?
            .into_inner();
        if done.already_imported {
            again += 1;
        } else {
            made += 1;
        }
        if !row.contact_person.is_empty() {
            match assign(&mut matching, row, &done.grant, today).await {
                Ok(()) => assigned += 1,
                Err(reason) => refused.push(Refused {
                    line: row.line,
                    source_id: row.arrangement.source_id.clone(),
                    reason: format!(
                        "imported as {}; contact person not assigned: {reason}",
                        done.grant
                    ),
                }),
            }
        }
        progress.step(&row.arrangement.source_id);
    }
    progress.finish();
    let out = format!(
        "Imported {made} arrangements ({again} were already there); {assigned} contact persons assigned.\n"
    );
    if !refused.is_empty() {
        print!("{out}{}", report(&refused));
        anyhow::bail!(
            "{} contact person(s) not assigned (listed above): assign them in the console, or mend the cause and run the import again",
            refused.len()
        );
    }
    Ok(out)
}

/// The row's contact person on its grant's matching request (made by the grant's event, so
/// waited for), from the day of the import or the grant's start if later. A retry with the
/// same request id is the same assignment.
async fn assign(
    matching: &mut MatchingServiceClient<Authed>,
    row: &Row,
    grant: &str,
    today: NaiveDate,
) -> Result<(), String> {
    let request = grant.replacen("/grants/", "/matchingRequests/", 1);
    let found = retrying(&[tonic::Code::NotFound], || {
        let mut client = matching.clone();
        let name = request.clone();
        async move {
            client
                .get_matching_request(matching::GetMatchingRequestRequest { name })
                .await
        }
    })
    .await
    .map_err(|s| reason(&s))?;
    let start = found
        .start_date
        .as_ref()
        .and_then(Date::to_naive)
        .map_or(today, |s| s.max(today));
    let key: String = format!(
        "import-{}-{}",
        row.arrangement.source_system, row.arrangement.source_id
    )
    .chars()
    .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
    .take(100)
    .collect();
    matching
        .assign_contact_person(matching::AssignContactPersonRequest {
            matching_request: request,
            contact_person: row.contact_person.clone(),
            start_date: Some(start.into()),
            minutes_per_week: 0,
            request_id: key,
        })
        .await
        .map(|_| ())
        .map_err(|s| reason(&s))
}

fn report(refused: &[Refused]) -> String {
    let rows: Vec<Vec<String>> = refused
        .iter()
        .map(|r| vec![r.line.to_string(), r.source_id.clone(), r.reason.clone()])
        .collect();
    table(&["Row", "Old id", "Why"], &[0], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "municipality,source_system,source_id,cpr,display_name,case_external_id,kle_number,counsellor,recipient,legal_basis,purpose,competences,decision_date,decider,approval_level,start_date,expected_end_date,terms,follow_ups_held,next_follow_up_date,contact_person";

    #[test]
    fn a_csv_row_becomes_an_arrangement_and_a_bad_cell_names_its_column() {
        let text = format!(
            "{HEADER}\n\
             183,sbsys,A-1,010110-1234,Mads,S-1,27.24.00,anna,child,sel-52-3-6,Skole,substance-abuse,2022-02-15,Birgit,team_meeting,2022-03-01,2027-06-30,2022-03-01=240;2023-06-01=180,2022-06-01;2026-09-01,,serviceUnits/ishoejgaard/contactPersons/jonas-berg\n\
             183,sbsys,A-2,010110-1234,Mads,S-2,27.24.00,anna,child,sel-52-3-6,Skole,,2022-13-15,Birgit,team_meeting,2022-03-01,2027-06-30,2022-03-01=240,,,\n"
        );
        let rows = read_csv(&text).expect("read");
        let first = rows[0].as_ref().expect("read");
        assert_eq!(first.municipality, "183");
        assert_eq!(first.arrangement.legal_basis, "legalBases/sel-52-3-6");
        assert_eq!(first.arrangement.terms.len(), 2);
        assert_eq!(first.arrangement.terms[1].minutes_per_week, 180);
        assert_eq!(first.arrangement.follow_ups_held.len(), 2);
        assert_eq!(first.arrangement.recipient, Recipient::Child as i32);
        assert_eq!(
            first.arrangement.approval_level,
            ApprovalLevel::TeamMeeting as i32
        );
        assert_eq!(
            first.arrangement.needs.as_ref().expect("read").competences,
            ["competences/substance-abuse"]
        );
        let (line, id, why) = rows[1].as_ref().expect_err("refused");
        assert_eq!((*line, id.as_str()), (2, "A-2"));
        assert!(why.starts_with("decision_date:"), "{why}");
    }

    #[test]
    fn a_csv_without_a_column_is_refused_whole() {
        let err = read_csv("municipality,source_id\n183,A\n").expect_err("refused");
        assert!(err.to_string().contains("cpr"), "{err}");
    }

    #[test]
    fn a_json_line_is_the_proto_json_of_the_arrangement() {
        let text = r#"{"municipality":"183","contactPerson":"serviceUnits/u/contactPersons/p","arrangement":{"sourceSystem":"sbsys","sourceId":"A-1","recipient":"RECIPIENT_CHILD","startDate":{"year":2022,"month":3,"day":1},"terms":[{"effectiveFrom":{"year":2022,"month":3,"day":1},"minutesPerWeek":240}]}}

{"municipality":"183","arrangement":{"sourceId":"A-2","noSuchField":1}}
{"municipality":"183","arrangment":{}}"#;
        let rows = read_jsonl(text).expect("read");
        let first = rows[0].as_ref().expect("read");
        assert_eq!(first.contact_person, "serviceUnits/u/contactPersons/p");
        assert_eq!(first.arrangement.terms[0].minutes_per_week, 240);
        assert_eq!(rows[1].as_ref().expect_err("refused").0, 3);
        assert!(
            rows[2]
                .as_ref()
                .expect_err("refused")
                .2
                .contains("arrangment")
        );
    }
}
