//! What the terminal answers for each request, from the fixture data set; shared by the folder
//! and HTTPS sides so both behave alike.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use shikaku_domain::clock;
use shikaku_domain::upstream::NumbersCheck;
use shikaku_domain::values::{BranchNumber, CardNumber, CardSymbol, InsurerNumber};
use shikaku_oqs_xml::dom::Limits;
use shikaku_oqs_xml::{
    BulkKind, Dialect, Encoding, MessageHeader, MessageKind, RegistrationInfo, Request, ResultBody,
    ResultMessage, SearchInfo, XmlError,
};
use shikaku_oqs_xml::{map, registry};
use shikaku_simulator::Directory;

/// Codes the simulator uses for its own errors (the real ones, 別紙6-1, are not public).
pub const CODE_BAD_REQUEST: &str = "SIMX0001";
pub const CODE_UNSUPPORTED: &str = "SIMX0002";
pub const CODE_UNKNOWN_RECEPTION: &str = "SIMX0003";

pub const CODE_NOT_FOUND: &str = "SIMX0004";

/// A bulk job: its answers, ready from `ready_at`.
#[derive(Debug)]
struct Job {
    ready_at: Instant,
    units: Vec<ResultBody>,
    /// BulkRegistrationUnit answers of a 照会番号一括登録.
    registration_units: Vec<ResultBody>,
    confirmation_date: String,
}

#[derive(Debug)]
pub(crate) struct Answerer {
    pub directory: Directory,
    pub facility_code: String,
    pub encoding: Encoding,
    pub dialect: Dialect,
    pub bulk_delay: Duration,
    jobs: Mutex<HashMap<String, Job>>,
    next_reception: Mutex<u64>,
}

fn now_oqs() -> String {
    clock::now().format("%Y%m%d%H%M%S").to_string()
}

/// A whole-file failure (SegmentOfResult 9).
pub(crate) fn file_error(code: &str, message: &str, file_identifier: &str) -> ResultMessage {
    ResultMessage {
        header: MessageHeader {
            process_execution_time: now_oqs(),
            arbitrary_file_identifier: file_identifier.to_owned(),
            segment_of_result: "9".into(),
            error_code: code.to_owned(),
            error_message: message.to_owned(),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn numbers_check(search: &SearchInfo, confirmation_date: &str) -> Result<NumbersCheck, String> {
    let date = |s: &str, what: &str| {
        NaiveDate::parse_from_str(s.trim(), "%Y%m%d")
            .map_err(|_| format!("{what} {s:?} is not yyyyMMdd"))
    };
    let opt = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
    Ok(NumbersCheck {
        insurer: InsurerNumber::parse(search.insurer_number.trim_start_matches('0'))
            .or_else(|_| InsurerNumber::parse(&search.insurer_number))
            .map_err(|e| format!("InsurerNumber: {e}"))?,
        symbol: opt(&search.insured_card_symbol)
            .map(|s| CardSymbol::parse(&s))
            .transpose()
            .map_err(|e| format!("InsuredCardSymbol: {e}"))?,
        number: CardNumber::parse(&search.insured_identification_number)
            .map_err(|e| format!("InsuredIdentificationNumber: {e}"))?,
        branch: opt(&search.insured_branch_number)
            .map(|s| BranchNumber::parse(&s))
            .transpose()
            .map_err(|e| format!("InsuredBranchNumber: {e}"))?,
        birth_date: date(&search.birthdate, "Birthdate")?,
        limit_certificate_consent: search.limit_application_certificate_related_cons_flg.trim()
            == "1",
        confirmation_date: if confirmation_date.trim().is_empty() {
            clock::today()
        } else {
            date(confirmation_date, "QualificationConfirmationDate")?
        },
    })
}

impl Answerer {
    pub fn new(
        directory: Directory,
        facility_code: String,
        encoding: Encoding,
        dialect: Dialect,
        bulk_delay: Duration,
    ) -> Self {
        Self {
            directory,
            facility_code,
            encoding,
            dialect,
            bulk_delay,
            jobs: Mutex::new(HashMap::new()),
            next_reception: Mutex::new(1),
        }
    }

    pub fn encode(&self, m: &ResultMessage) -> Vec<u8> {
        m.to_xml(self.encoding, &self.dialect)
            .or_else(|_| m.to_xml(Encoding::Utf8, &self.dialect))
            .unwrap_or_default()
    }

    /// One patient's body: the fixture's answer, or an error result for bad keys.
    fn check(&self, search: &SearchInfo, date: &str) -> (ResultBody, String) {
        match numbers_check(search, date) {
            Ok(check) => {
                let r = self.directory.check_by_numbers(&check);
                let header = map::result_header(&r, &self.facility_code, "");
                (map::from_result(&r), header.process_execution_time)
            }
            Err(rule) => (
                ResultBody {
                    processing_result_status: "2".into(),
                    processing_result_code: CODE_BAD_REQUEST.into(),
                    processing_result_message: rule,
                    ..Default::default()
                },
                now_oqs(),
            ),
        }
    }

    /// One 照会番号の登録: remembered for the person (later results carry it), or an error
    /// result for numbers nobody has.
    fn register(&self, registration: RegistrationInfo) -> ResultBody {
        let outcome = registry::registration_of(&registration)
            .map_err(|rule| (CODE_BAD_REQUEST, rule))
            .and_then(|r| {
                self.directory
                    .register(&r)
                    .map_err(|e| (CODE_NOT_FOUND, e.to_string()))
            });
        match outcome {
            Ok(_) => ResultBody {
                processing_result_status: "1".into(),
                reference_number: registration.reference_number.clone(),
                registration: Some(registration),
                ..Default::default()
            },
            Err((code, message)) => ResultBody {
                processing_result_status: "2".into(),
                processing_result_code: code.into(),
                processing_result_message: message,
                registration: Some(registration),
                ..Default::default()
            },
        }
    }

    /// The answer to a request file of `kind` (a parse failure is answered too, as the terminal
    /// would, with an error result).
    pub fn answer(&self, kind: MessageKind, bytes: &[u8]) -> ResultMessage {
        let request = match Request::parse(kind, bytes, &Limits::default()) {
            Ok(r) => r,
            Err(e) => return file_error(CODE_BAD_REQUEST, &describe(&e), ""),
        };
        let file_id = request.file_identifier().to_owned();
        match request {
            Request::QualificationCheck { header, search } => {
                let (mut body, executed) =
                    self.check(&search, &header.qualification_confirmation_date);
                body.search_info = Some(search);
                ResultMessage {
                    header: MessageHeader {
                        process_execution_time: executed,
                        qualification_confirmation_date: header.qualification_confirmation_date,
                        medical_institution_code: self.facility_code.clone(),
                        arbitrary_file_identifier: file_id,
                        reference_classification: "2".into(),
                        segment_of_result: "1".into(),
                        ..Default::default()
                    },
                    body,
                    ..Default::default()
                }
            }
            Request::ReferenceNumberRegistration { registration, .. } => ResultMessage {
                header: MessageHeader {
                    process_execution_time: now_oqs(),
                    medical_institution_code: self.facility_code.clone(),
                    arbitrary_file_identifier: file_id,
                    segment_of_result: "1".into(),
                    ..Default::default()
                },
                body: self.register(registration),
                ..Default::default()
            },
            Request::BulkUpload {
                kind,
                header,
                searches,
                registrations,
            } => {
                let date = header.qualification_confirmation_date.clone();
                let (mut units, mut registration_units) = (Vec::new(), Vec::new());
                match kind {
                    BulkKind::Qualification => {
                        units = searches
                            .into_iter()
                            .map(|s| {
                                let (mut body, _) = self.check(&s, &date);
                                body.search_info = Some(s);
                                body
                            })
                            .collect();
                    }
                    BulkKind::ReferenceNumbers => {
                        registration_units = registrations
                            .into_iter()
                            .map(|r| self.register(r))
                            .collect();
                    }
                    query_kind => {
                        let Some(search) = searches.first() else {
                            return file_error(
                                CODE_BAD_REQUEST,
                                "QualificationConfirmSearchInfo がありません",
                                &file_id,
                            );
                        };
                        let query = match registry::query_of(query_kind, search) {
                            Ok(q) => q,
                            Err(rule) => return file_error(CODE_BAD_REQUEST, &rule, &file_id),
                        };
                        let day = NaiveDate::parse_from_str(date.trim(), "%Y%m%d")
                            .unwrap_or_else(|_| clock::today());
                        units = self
                            .directory
                            .query(&query, day)
                            .iter()
                            .map(map::from_result)
                            .collect();
                    }
                }
                let reception = {
                    let mut n = self
                        .next_reception
                        .lock()
                        .unwrap_or_else(|p| p.into_inner());
                    *n += 1;
                    format!("SIM{:09}", *n - 1)
                };
                self.jobs.lock().unwrap_or_else(|p| p.into_inner()).insert(
                    reception.clone(),
                    Job {
                        ready_at: Instant::now() + self.bulk_delay,
                        units,
                        registration_units,
                        confirmation_date: date,
                    },
                );
                ResultMessage {
                    header: MessageHeader {
                        process_execution_time: now_oqs(),
                        medical_institution_code: self.facility_code.clone(),
                        arbitrary_file_identifier: file_id,
                        segment_of_result: "1".into(),
                        ..Default::default()
                    },
                    body: ResultBody {
                        processing_result_status: "1".into(),
                        reception_number: reception,
                        reception_date_time: now_oqs(),
                        ..Default::default()
                    },
                    ..Default::default()
                }
            }
            Request::BulkDownload {
                reception_number, ..
            } => {
                let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
                let Some(job) = jobs.get(reception_number.trim()) else {
                    return file_error(
                        CODE_UNKNOWN_RECEPTION,
                        &format!("受付番号 {reception_number} の一括照会はありません"),
                        &file_id,
                    );
                };
                let ready = Instant::now() >= job.ready_at;
                let all = job.units.len() + job.registration_units.len();
                let errors = job
                    .units
                    .iter()
                    .chain(&job.registration_units)
                    .filter(|u| u.processing_result_status == "2")
                    .count();
                ResultMessage {
                    header: MessageHeader {
                        process_execution_time: now_oqs(),
                        qualification_confirmation_date: job.confirmation_date.clone(),
                        medical_institution_code: self.facility_code.clone(),
                        arbitrary_file_identifier: file_id,
                        reception_number: reception_number.clone(),
                        segment_of_result: if ready { "1" } else { "2" }.into(),
                        number_of_processing_result: if ready {
                            all.to_string()
                        } else {
                            String::new()
                        },
                        number_of_normal_processing: if ready {
                            (all - errors).to_string()
                        } else {
                            String::new()
                        },
                        number_of_error: if ready {
                            errors.to_string()
                        } else {
                            String::new()
                        },
                        ..Default::default()
                    },
                    units: if ready { job.units.clone() } else { Vec::new() },
                    registration_units: if ready {
                        job.registration_units.clone()
                    } else {
                        Vec::new()
                    },
                    ..Default::default()
                }
            }
            other => file_error(
                CODE_UNSUPPORTED,
                &format!("the simulator does not answer {}", other.kind().stem()),
                &file_id,
            ),
        }
    }

    /// A face-auth result for a fixture person, as the 顔認証アプリ writes it.
    pub fn face(&self, person: &str) -> Option<ResultMessage> {
        let mut r = self.directory.person(person)?;
        r.medium = shikaku_domain::pb::Medium::MyNumberCard as i32;
        r.confirmation_date = shikaku_domain::values::iso(clock::today());
        r.checked_at = clock::rfc3339(clock::now());
        let mut id = [0u8; 10];
        rand::fill(&mut id);
        let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
        Some(ResultMessage {
            header: map::result_header(&r, &self.facility_code, &id),
            body: map::from_result(&r),
            ..Default::default()
        })
    }
}

fn describe(e: &XmlError) -> String {
    format!("要求ファイルを読み込めません: {e}")
}
