//! `shikaku bulk`: 一括照会 — submit the next day's patients from a CSV file, watch the progress bar,
//! and write the results as CSV.
//!
//! Input CSV: a header row naming any of `key`, `insurer_number`, `symbol`, `number`, `branch`,
//! `birth_date`, `patient_number`; a row with a `patient_number` and no `insurer_number` is checked
//! through that patient's link.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use shikaku_proto::v1::bulk_check_item::Target;
use shikaku_proto::v1::bulk_check_service_client::BulkCheckServiceClient;
use shikaku_proto::v1::{
    BulkCheckItem, BulkCheckJob, BulkCheckState, BulkItemState, CheckByInsuranceNumbersRequest,
    GetBulkCheckResultsRequest, GetBulkCheckResultsResponse, ListBulkChecksRequest,
    ListBulkChecksResponse, StartBulkCheckRequest, Validity, WatchBulkCheckRequest,
};

use crate::client::Channel;
use crate::error::CliError;
use crate::output::{self, Format, enum_word, grid};

#[derive(Subcommand)]
pub enum BulkCommand {
    /// Submit patients from a CSV file, show progress, then write the results as CSV.
    Start {
        /// The patients (see `shikaku bulk --help` for the columns).
        #[arg(long, value_name = "FILE")]
        csv: PathBuf,
        /// 資格確認日 (e.g. tomorrow's date for tomorrow's appointments); today when omitted.
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<String>,
        /// A label for people.
        #[arg(long, default_value = "")]
        label: String,
        /// Write the results here instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Print the job and return without waiting for it.
        #[arg(long)]
        no_wait: bool,
    },
    /// Show a job's progress until it is done.
    Watch { job_id: String },
    /// Write a job's results as CSV (or JSON with --json).
    Results {
        job_id: String,
        /// Write the results here instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// The jobs, newest first.
    List,
}

pub async fn run(command: BulkCommand, channel: Channel, format: Format) -> Result<(), CliError> {
    let mut client = BulkCheckServiceClient::new(channel);
    match command {
        BulkCommand::Start {
            csv,
            date,
            label,
            out,
            no_wait,
        } => {
            let items = read_items(&csv)?;
            let request = StartBulkCheckRequest {
                items,
                confirmation_date: date.unwrap_or_default(),
                label,
            };
            let job = client
                .start_bulk_check(request)
                .await?
                .into_inner()
                .job
                .unwrap_or_default();
            if no_wait {
                return output::print(format, &job, job_line);
            }
            watch(&mut client, &job.id).await?;
            results(&mut client, &job.id, out.as_deref(), format).await
        }
        BulkCommand::Watch { job_id } => {
            let job = watch(&mut client, &job_id).await?;
            output::print(format, &job, job_line)
        }
        BulkCommand::Results { job_id, out } => {
            results(&mut client, &job_id, out.as_deref(), format).await
        }
        BulkCommand::List => {
            let response = client.list_bulk_checks(ListBulkChecksRequest {}).await?;
            output::print(format, response.get_ref(), render_jobs)
        }
    }
}

/// Follows the progress stream with a bar on stderr (hidden when stderr is not a terminal).
async fn watch(
    client: &mut BulkCheckServiceClient<Channel>,
    job_id: &str,
) -> Result<BulkCheckJob, CliError> {
    let mut progress = client
        .watch_bulk_check(WatchBulkCheckRequest {
            job_id: job_id.to_owned(),
        })
        .await?
        .into_inner();
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} 一括照会 [{bar:40}] {pos}/{len} {per_sec} eta {eta} {msg}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    let mut last = BulkCheckJob::default();
    while let Some(p) = progress.message().await? {
        let job = p.job.unwrap_or_default();
        bar.set_length(u64::from(job.total));
        bar.set_position(u64::from(p.finished));
        bar.set_message(format!("failed {} invalid {}", job.failed, job.invalid));
        last = job;
    }
    bar.finish();
    if last.state() != BulkCheckState::Done {
        return Err(CliError::Output(
            "the daemon ended the progress stream before the job finished; run `shikaku bulk watch` again".into(),
        ));
    }
    Ok(last)
}

async fn results(
    client: &mut BulkCheckServiceClient<Channel>,
    job_id: &str,
    out: Option<&Path>,
    format: Format,
) -> Result<(), CliError> {
    let response = client
        .get_bulk_check_results(GetBulkCheckResultsRequest {
            job_id: job_id.to_owned(),
        })
        .await?
        .into_inner();
    if format == Format::Json && out.is_none() {
        return output::print(format, &response, |_| String::new());
    }
    let csv = results_csv(&response)?;
    match out {
        Some(path) => std::fs::write(path, csv)
            .map_err(|e| CliError::Output(format!("cannot write {}: {e}", path.display()))),
        None => {
            let mut stdout = std::io::stdout().lock();
            match stdout.write_all(&csv).and_then(|()| stdout.flush()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(CliError::StdoutClosed),
                Err(e) => Err(CliError::Output(format!("cannot write to stdout: {e}"))),
                Ok(()) => Ok(()),
            }
        }
    }
}

/// Reads the patients; a malformed file is a usage error naming the line.
fn read_items(path: &Path) -> Result<Vec<BulkCheckItem>, CliError> {
    let file = std::fs::File::open(path)
        .map_err(|e| CliError::Input(format!("cannot read {}: {e}", path.display())))?;
    parse_items(file).map_err(|e| CliError::Input(format!("{}: {e}", path.display())))
}

fn parse_items(input: impl std::io::Read) -> Result<Vec<BulkCheckItem>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(input);
    let header = reader.headers().map_err(|e| e.to_string())?.clone();
    const KNOWN: [&str; 7] = [
        "key",
        "insurer_number",
        "symbol",
        "number",
        "branch",
        "birth_date",
        "patient_number",
    ];
    if let Some(unknown) = header.iter().find(|h| !KNOWN.contains(h)) {
        return Err(format!(
            "unknown column {unknown:?}; the columns are {}",
            KNOWN.join(", ")
        ));
    }
    let column = |name: &str| header.iter().position(|h| h == name);
    let cols: Vec<Option<usize>> = KNOWN.iter().map(|k| column(k)).collect();
    if cols[1].is_none() && cols[6].is_none() {
        return Err("needs an insurer_number or a patient_number column".into());
    }
    let mut items = Vec::new();
    for (n, row) in reader.records().enumerate() {
        let row = row.map_err(|e| format!("line {}: {e}", n + 2))?;
        let get = |i: usize| {
            cols[i]
                .and_then(|c| row.get(c))
                .unwrap_or_default()
                .to_owned()
        };
        let target = if get(1).is_empty() && !get(6).is_empty() {
            Target::PatientNumber(get(6))
        } else {
            Target::Numbers(CheckByInsuranceNumbersRequest {
                insurer_number: get(1),
                symbol: get(2),
                number: get(3),
                branch: get(4),
                birth_date: get(5),
                ..Default::default()
            })
        };
        let key = match get(0) {
            k if k.is_empty() => (n + 1).to_string(),
            k => k,
        };
        items.push(BulkCheckItem {
            key,
            target: Some(target),
        });
    }
    Ok(items)
}

fn results_csv(response: &GetBulkCheckResultsResponse) -> Result<Vec<u8>, CliError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| CliError::Output(format!("cannot write the results: {e}"));
    w.write_record([
        "index",
        "key",
        "state",
        "validity",
        "insurer_number",
        "insurer_name",
        "symbol",
        "number",
        "branch",
        "name",
        "name_kana",
        "birth_date",
        "copayment_percent",
        "valid_to",
        "error_reason",
        "error_message",
    ])
    .map_err(fail)?;
    for item in &response.items {
        let result = item.result.clone().unwrap_or_default();
        let validity = if item.state() == BulkItemState::Checked {
            enum_word(result.validity, Validity::as_str_name)
        } else {
            String::new()
        };
        let q = result.qualifications.first().cloned().unwrap_or_default();
        let percent = if q.copayment_percent == 0 {
            String::new()
        } else {
            q.copayment_percent.to_string()
        };
        w.write_record([
            item.index.to_string(),
            item.key.clone(),
            enum_word(item.state, BulkItemState::as_str_name),
            validity,
            q.insurer_number.trim().to_owned(),
            q.insurer_name,
            q.symbol,
            q.number,
            q.branch,
            q.name,
            q.name_kana,
            q.birth_date,
            percent,
            q.valid_to,
            item.error_reason.clone(),
            item.error_message.clone(),
        ])
        .map_err(fail)?;
    }
    w.into_inner()
        .map_err(|e| CliError::Output(format!("cannot write the results: {e}")))
}

fn job_line(j: &BulkCheckJob) -> String {
    format!(
        "{} {} {}/{} checked, {} failed, {} invalid ({}, concurrency {})",
        j.id,
        enum_word(j.state, BulkCheckState::as_str_name),
        j.checked,
        j.total,
        j.failed,
        j.invalid,
        enum_word(j.mode, shikaku_proto::v1::BulkCheckMode::as_str_name),
        j.concurrency
    )
}

fn render_jobs(response: &ListBulkChecksResponse) -> String {
    if response.jobs.is_empty() {
        return "no bulk checks".to_owned();
    }
    let mut table = grid(&[
        "id", "label", "state", "total", "checked", "failed", "invalid", "created",
    ]);
    for j in &response.jobs {
        table.add_row(vec![
            j.id.clone(),
            j.label.clone(),
            enum_word(j.state, BulkCheckState::as_str_name),
            j.total.to_string(),
            j.checked.to_string(),
            j.failed.to_string(),
            j.invalid.to_string(),
            j.created_at.clone(),
        ]);
    }
    table.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_numbers_or_patient_numbers() {
        let csv = "key,insurer_number,symbol,number,branch,birth_date,patient_number\n\
                   a1,06130488,12-34,4260,01,1970-01-01,\n\
                   a2,,,,,,01234\n";
        let items = parse_items(csv.as_bytes()).unwrap();
        assert_eq!(items.len(), 2);
        assert!(matches!(&items[0].target, Some(Target::Numbers(n)) if n.number == "4260"));
        assert!(matches!(&items[1].target, Some(Target::PatientNumber(p)) if p == "01234"));
    }

    #[test]
    fn unknown_columns_are_refused() {
        let err = parse_items("insurer,number\n1,2\n".as_bytes()).unwrap_err();
        assert!(err.contains("unknown column \"insurer\""), "{err}");
    }
}
