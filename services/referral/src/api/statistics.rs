//! The report of preventive measures to Danmarks Statistik (`domain::statistics`): a CSV
//! streamed in chunks, every person whose CPR number it holds logged as read first.

use std::collections::BTreeSet;
use std::pin::Pin;

use kontakt_platform::audit::{self, Action, Entry};
use kontakt_platform::cpr_vault::SealedCpr;
use kontakt_platform::resource::scoped_parent;
use kontakt_platform::{ApiError, export};
use kontakt_proto::names;
use kontakt_proto::referral::v1::{ExportChunk, ExportPreventiveMeasuresRequest, Recipient};
use tokio_stream::Stream;
use tonic::{Request, Status};

use super::ReferralApi;
use crate::domain::statistics::{self, Measure};

pub type ExportStream = Pin<Box<dyn Stream<Item = Result<ExportChunk, Status>> + Send>>;

impl ReferralApi {
    pub(super) async fn statistics_export(
        &self,
        request: Request<ExportPreventiveMeasuresRequest>,
    ) -> Result<ExportStream, ApiError> {
        let principal = kontakt_platform::auth::caller(&request)?.clone();
        let purpose = audit::purpose(
            &request,
            "report of preventive measures to Danmarks Statistik",
        )?;
        let body = request.into_inner();
        let m = scoped_parent(&principal, &body.parent)?.to_string();
        let (from, to) = export::period(body.period.as_ref())?;
        let rows: Vec<_> = self
            .store
            .measures_in_period(&m, from, to)
            .await?
            .into_iter()
            .filter(|r| statistics::in_period(r.start_date, r.end_date, from, to))
            .collect();
        let mut lines = Vec::with_capacity(rows.len());
        let mut persons = BTreeSet::new();
        for r in &rows {
            let person = names::person(&m, &r.person_id);
            let sealed = SealedCpr {
                key_id: r.cpr_key_id.clone(),
                ciphertext: r.cpr_ciphertext.clone(),
            };
            let cpr = self
                .vault
                .open(&sealed, &person)
                .map_err(ApiError::internal)?;
            let grant = names::grant(&m, &r.id);
            lines.push(statistics::row(
                &Measure {
                    municipality: &m,
                    grant: &grant,
                    cpr: &cpr.expose(),
                    family: r.recipient == Recipient::Family as i32,
                    legal_basis: &r.legal_basis,
                    citation: &r.citation,
                    start: r.start_date,
                    end: r.end_date,
                },
                to,
            ));
            persons.insert(person);
        }
        // Durable before a byte leaves: every CPR number in the file is a logged read.
        let entries = persons
            .iter()
            .map(|person| {
                Entry::new(
                    &principal,
                    "ExportPreventiveMeasures",
                    Action::Read,
                    person,
                    purpose.clone(),
                )
                .municipality(&m)
                .person(person)
            })
            .collect();
        self.audit.record(entries).await?;
        let filename = format!("forebyggende-foranstaltninger-{m}-{from}-{to}.csv");
        let chunks: Vec<Result<ExportChunk, Status>> =
            export::csv_chunks(&filename, statistics::HEADER, lines)
                .into_iter()
                .map(|c| {
                    Ok(ExportChunk {
                        data: c.data,
                        rows: c.rows,
                        filename: c.filename,
                    })
                })
                .collect();
        Ok(Box::pin(tokio_stream::iter(chunks)))
    }
}
