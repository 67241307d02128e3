//! `shikaku bulk`: 一括照会 — submit the next day's patients from a CSV file, watch the progress bar,
//! and write the results as CSV.
//!
//! Input CSV: a header row naming any of `key`, `insurer_number`, `symbol`, `number`, `branch`,
//! `birth_date`, `patient_number`, or their Japanese names as a clinic's Excel sheet has them
//! (保険者番号, 記号, 番号, 枝番, 生年月日, 患者番号); a row with a patient number and no insurer
//! number is checked through that patient's link. The file may be Shift_JIS (CP932) or UTF-8
//! with or without a BOM (`text_encoding`), and Excel's `1970/1/1` dates are read too. Results
//! are written in UTF-8 or, with `--encoding sjis`, in Shift_JIS.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use shikaku_proto::v1::bulk_check_item::Target;
use shikaku_proto::v1::bulk_check_service_client::BulkCheckServiceClient;
use shikaku_proto::v1::bulk_query::Kind as QueryKind;
use shikaku_proto::v1::{
    BulkCheckItem, BulkCheckJob, BulkCheckState, BulkItemState, BulkQuery,
    CheckByInsuranceNumbersRequest, GetBulkCheckResultsRequest, GetBulkCheckResultsResponse,
    HomeVisitQuery, ListBulkChecksRequest, ListBulkChecksResponse, MedicalAssistanceQuery,
    OnlineConsultationDates, OnlineConsultationQuery, StartBulkCheckRequest, Validity,
    WatchBulkCheckRequest,
};

use crate::client::Channel;
use crate::error::CliError;
use crate::output::{self, Format, enum_word, grid};
use crate::text_encoding::{self, Encoding};

/// The largest input file read: 10,000 patients (the daemon's limit for one job) fit many times.
const MAX_CSV_BYTES: u64 = 8 * 1024 * 1024;

/// The columns, by their English name and the Japanese one.
const COLUMNS: [(&str, &str); 7] = [
    ("key", "キー"),
    ("insurer_number", "保険者番号"),
    ("symbol", "記号"),
    ("number", "番号"),
    ("branch", "枝番"),
    ("birth_date", "生年月日"),
    ("patient_number", "患者番号"),
];

/// What a job asks OQS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// 資格確認一括照会 of the patients in `--csv`.
    #[default]
    Qualification,
    /// 医療扶助 by 診療年月 (`--month`).
    MedicalAssistance,
    /// 訪問診療 by consent dates (`--from`, `--to`).
    HomeVisit,
    /// オンライン診療 by examination dates (`--from`, `--to`).
    OnlineExamination,
    /// オンライン診療 by consent dates (`--from`, `--to`).
    OnlineConsent,
}

/// The query of a kind other than `qualification`.
fn query(kind: Kind, month: Option<String>, from: Option<String>, to: Option<String>) -> BulkQuery {
    let (from, to) = (from.unwrap_or_default(), to.unwrap_or_default());
    let online = |dates: OnlineConsultationDates, date_from, date_to| {
        QueryKind::OnlineConsultation(OnlineConsultationQuery {
            date_from,
            date_to,
            dates: dates as i32,
        })
    };
    let kind = match kind {
        Kind::Qualification | Kind::MedicalAssistance => {
            QueryKind::MedicalAssistance(MedicalAssistanceQuery {
                treatment_month: month.unwrap_or_default(),
            })
        }
        Kind::HomeVisit => QueryKind::HomeVisit(HomeVisitQuery {
            consent_date_from: from,
            consent_date_to: to,
        }),
        Kind::OnlineExamination => online(OnlineConsultationDates::Examination, from, to),
        Kind::OnlineConsent => online(OnlineConsultationDates::Consent, from, to),
    };
    BulkQuery { kind: Some(kind) }
}

#[derive(Subcommand)]
pub enum BulkCommand {
    /// Submit patients from a CSV file (or ask a query kind), show progress, then write the
    /// results as CSV.
    Start {
        /// The patients (see `shikaku bulk --help` for the columns); for `--kind qualification`.
        #[arg(long, value_name = "FILE", required_if_eq("kind", "qualification"))]
        csv: Option<PathBuf>,
        /// What to ask: the patients of the CSV, or a 医療扶助・訪問診療・オンライン診療 query.
        #[arg(long, value_enum, default_value_t)]
        kind: Kind,
        /// 診療年月 of `--kind medical-assistance`.
        #[arg(
            long,
            value_name = "YYYY-MM",
            required_if_eq("kind", "medical-assistance")
        )]
        month: Option<String>,
        /// First day of the range of the 訪問診療 and オンライン診療 queries.
        #[arg(long, value_name = "YYYY-MM-DD")]
        from: Option<String>,
        /// Last day of the range (included).
        #[arg(long, value_name = "YYYY-MM-DD")]
        to: Option<String>,
        /// 資格確認日 (e.g. tomorrow's date for tomorrow's appointments); today when omitted.
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<String>,
        /// A label for people.
        #[arg(long, default_value = "")]
        label: String,
        /// Write the results here instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// The results' encoding: utf-8, or sjis (Shift_JIS, CP932) for Excel's plain CSV.
        #[arg(long, value_enum, default_value_t)]
        encoding: Encoding,
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
        /// The results' encoding: utf-8, or sjis (Shift_JIS, CP932) for Excel's plain CSV.
        #[arg(long, value_enum, default_value_t)]
        encoding: Encoding,
    },
    /// The jobs, newest first.
    List,
}

pub async fn run(command: BulkCommand, channel: Channel, format: Format) -> Result<(), CliError> {
    let mut client = BulkCheckServiceClient::new(channel);
    match command {
        BulkCommand::Start {
            csv,
            kind,
            month,
            from,
            to,
            date,
            label,
            out,
            encoding,
            no_wait,
        } => {
            let (items, query) = match (kind, csv) {
                (Kind::Qualification, Some(csv)) => (read_items(&csv)?, None),
                (Kind::Qualification, None) => (Vec::new(), None),
                (kind, _) => (Vec::new(), Some(query(kind, month, from, to))),
            };
            let request = StartBulkCheckRequest {
                items,
                query,
                confirmation_date: date.unwrap_or_default(),
                label,
                ..Default::default()
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
            results(&mut client, &job.id, out.as_deref(), encoding, format).await
        }
        BulkCommand::Watch { job_id } => {
            let job = watch(&mut client, &job_id).await?;
            output::print(format, &job, job_line)
        }
        BulkCommand::Results {
            job_id,
            out,
            encoding,
        } => results(&mut client, &job_id, out.as_deref(), encoding, format).await,
        BulkCommand::List => {
            let response = client
                .list_bulk_checks(ListBulkChecksRequest::default())
                .await?;
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
    encoding: Encoding,
    format: Format,
) -> Result<(), CliError> {
    // Every page, so the CSV holds every item however many the job has.
    let mut response = GetBulkCheckResultsResponse::default();
    loop {
        let page = client
            .get_bulk_check_results(GetBulkCheckResultsRequest {
                job_id: job_id.to_owned(),
                page_token: std::mem::take(&mut response.next_page_token),
                ..Default::default()
            })
            .await?
            .into_inner();
        response.job = page.job;
        response.items.extend(page.items);
        response.next_page_token = page.next_page_token;
        if response.next_page_token.is_empty() {
            break;
        }
    }
    if format == Format::Json && out.is_none() {
        return output::print(format, &response, |_| String::new());
    }
    let (csv, replaced) = text_encoding::encode(&results_csv(&response)?, encoding);
    if replaced > 0 {
        eprintln!("note: {replaced} characters have no Shift_JIS code and were written as 〓");
    }
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
    let fail = |message: String| CliError::Input(format!("{}: {message}", path.display()));
    let file = std::fs::File::open(path)
        .map_err(|e| CliError::Input(format!("cannot read {}: {e}", path.display())))?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(file, MAX_CSV_BYTES + 1),
        &mut bytes,
    )
    .map_err(|e| fail(format!("cannot read: {e}")))?;
    if bytes.len() as u64 > MAX_CSV_BYTES {
        return Err(fail(format!(
            "larger than {} MiB; split it into several bulk checks",
            MAX_CSV_BYTES >> 20
        )));
    }
    let text = text_encoding::decode(&bytes).map_err(fail)?;
    parse_items(text.as_bytes()).map_err(fail)
}

fn parse_items(input: impl std::io::Read) -> Result<Vec<BulkCheckItem>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(input);
    let header = reader.headers().map_err(|e| e.to_string())?.clone();
    let is_known = |h: &str| COLUMNS.iter().any(|(en, ja)| h == *en || h == *ja);
    if let Some(unknown) = header.iter().find(|h| !is_known(h)) {
        let names: Vec<String> = COLUMNS
            .iter()
            .map(|(en, ja)| format!("{en} ({ja})"))
            .collect();
        return Err(format!(
            "unknown column {unknown:?}; the columns are {}",
            names.join(", ")
        ));
    }
    let cols: Vec<Option<usize>> = COLUMNS
        .iter()
        .map(|(en, ja)| header.iter().position(|h| h == *en || h == *ja))
        .collect();
    if cols[1].is_none() && cols[6].is_none() {
        return Err(
            "needs an insurer_number (保険者番号) or a patient_number (患者番号) column".into(),
        );
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
                birth_date: iso_date(get(5)),
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

/// Excel shows and saves a date cell as `1970/1/1`; the daemon takes `1970-01-01`. Anything
/// else is passed on for the daemon to judge.
fn iso_date(date: String) -> String {
    let parts: Vec<&str> = date.split('/').collect();
    let digits =
        |p: &str, max: usize| (1..=max).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit());
    match parts[..] {
        [y, m, d] if y.len() == 4 && digits(y, 4) && digits(m, 2) && digits(d, 2) => {
            format!("{y}-{m:0>2}-{d:0>2}")
        }
        _ => date,
    }
}

fn results_csv(response: &GetBulkCheckResultsResponse) -> Result<String, CliError> {
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
    let bytes = w
        .into_inner()
        .map_err(|e| CliError::Output(format!("cannot write the results: {e}")))?;
    String::from_utf8(bytes).map_err(|e| CliError::Output(format!("cannot write the results: {e}")))
}

fn job_line(j: &BulkCheckJob) -> String {
    format!(
        "{} {} {} {}/{} checked, {} failed, {} invalid ({}, concurrency {})",
        j.id,
        enum_word(j.kind, shikaku_proto::v1::BulkCheckKind::as_str_name),
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
        "id", "kind", "label", "state", "total", "checked", "failed", "invalid", "created",
    ]);
    for j in &response.jobs {
        table.add_row(vec![
            j.id.clone(),
            enum_word(j.kind, shikaku_proto::v1::BulkCheckKind::as_str_name),
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
    fn japanese_headers_and_excel_dates_are_read() {
        let csv = "保険者番号,記号,番号,枝番,生年月日\n06130488,12-34,4260,01,1970/1/1\n";
        let items = parse_items(csv.as_bytes()).unwrap();
        let Some(Target::Numbers(n)) = &items[0].target else {
            panic!("{items:?}");
        };
        assert_eq!(
            (n.insurer_number.as_str(), n.branch.as_str()),
            ("06130488", "01")
        );
        assert_eq!(n.birth_date, "1970-01-01");
        let by_patient = parse_items("患者番号\n01234\n".as_bytes()).unwrap();
        assert!(matches!(&by_patient[0].target, Some(Target::PatientNumber(p)) if p == "01234"));
    }

    #[test]
    fn only_excel_slash_dates_are_rewritten() {
        assert_eq!(iso_date("1985/08/20".into()), "1985-08-20");
        assert_eq!(iso_date("1970-01-01".into()), "1970-01-01");
        assert_eq!(iso_date("19700101".into()), "19700101");
        assert_eq!(iso_date("70/1/1".into()), "70/1/1");
        assert_eq!(iso_date("1970/1/1/1".into()), "1970/1/1/1");
    }

    #[test]
    fn unknown_columns_are_refused() {
        let err = parse_items("insurer,number\n1,2\n".as_bytes()).unwrap_err();
        assert!(err.contains("unknown column \"insurer\""), "{err}");
    }
}
