//! `shikaku reception`: the re-visit kiosk's check-in (再来受付), the reception list a receipt
//! computer watches, and patient links (患者番号の紐付け).

use clap::{Args, Subcommand, ValueEnum};
use shikaku_proto::v1::link_patient_request::Person;
use shikaku_proto::v1::reception_service_client::ReceptionServiceClient;
use shikaku_proto::v1::{
    AcceptReceptionRequest, CheckByCardRequest, CheckInRequest, CheckInResponse, ConsentChoices,
    KioskInstruction, LinkPatientRequest, LinkPatientResponse, LinkedPerson,
    ListPatientLinksRequest, ListPatientLinksResponse, ListReceptionsRequest,
    ListReceptionsResponse, PatientMatch, ReceptionEntry, ReceptionRef, ReceptionStatus,
    RejectReceptionRequest, RemovePatientLinkRequest, RemovePatientLinkResponse, Sex,
    WatchReceptionsRequest,
};

use crate::check::{IdentityArgs, identity};
use crate::client::Channel;
use crate::error::CliError;
use crate::output::{self, Details, Format, enum_word, grid};

#[derive(Subcommand)]
pub enum ReceptionCommand {
    /// 受付一覧: one day's reception list, in reception order.
    List {
        /// 受付日; today (JST) when omitted.
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<String>,
        /// Only entries in this status.
        #[arg(long)]
        status: Option<StatusArg>,
    },
    /// Print each entry as it is added, from after `--after`, until Ctrl-C.
    Watch {
        /// 受付日; today (JST) when omitted.
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<String>,
        /// The last 受付番号 already seen; 0 for the whole day.
        #[arg(long, default_value_t = 0)]
        after: u64,
    },
    /// 受付登録: accept a pending entry, optionally confirming the patient number.
    Accept {
        /// 受付番号.
        id: u64,
        /// 受付日; today (JST) when omitted.
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<String>,
        /// 患者番号 the clerk confirms; links it to the entry's person.
        #[arg(long)]
        patient_number: Option<String>,
    },
    /// Reject a pending entry.
    Reject {
        /// 受付番号.
        id: u64,
        /// 受付日; today (JST) when omitted.
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<String>,
        /// Why, for the list and the audit trail.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Link a patient number (患者番号) to a person.
    Link(LinkArgs),
    /// Patient links, of one patient number or all.
    Links {
        /// 患者番号; every link when omitted.
        patient_number: Option<String>,
    },
    /// Remove a patient number's links (or one of them).
    Unlink {
        /// 患者番号.
        patient_number: String,
        /// Only this link.
        #[arg(long)]
        link_id: Option<String>,
    },
    /// 再来受付: check a card at a reader and put the visit on today's list, as a kiosk does.
    CheckIn {
        /// Reader name, as `shikaku readers list` shows it.
        #[arg(long)]
        reader: String,
        #[command(flatten)]
        identity: IdentityArgs,
        /// The patient gave 包括同意 (consent to every information category).
        #[arg(long)]
        comprehensive_consent: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum StatusArg {
    Pending,
    Accepted,
    Rejected,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum SexArg {
    Male,
    Female,
    NotSet,
}

#[derive(Args)]
pub struct LinkArgs {
    /// 患者番号 to link.
    patient_number: String,
    /// Take the person from this reception entry (受付番号) instead of the flags below.
    #[arg(long, value_name = "ID", conflicts_with_all = ["insurer", "number", "kana", "birth", "sex"])]
    from_entry: Option<u64>,
    /// 受付日 of `--from-entry`; today (JST) when omitted.
    #[arg(long, value_name = "YYYY-MM-DD", requires = "from_entry")]
    date: Option<String>,
    /// 保険者番号.
    #[arg(long, required_unless_present = "from_entry")]
    insurer: Option<String>,
    /// 記号.
    #[arg(long)]
    symbol: Option<String>,
    /// 番号.
    #[arg(long, required_unless_present = "from_entry")]
    number: Option<String>,
    /// 枝番.
    #[arg(long)]
    branch: Option<String>,
    /// 氏名.
    #[arg(long)]
    name: Option<String>,
    /// 氏名カナ.
    #[arg(long, required_unless_present = "from_entry")]
    kana: Option<String>,
    /// 生年月日.
    #[arg(
        long,
        value_name = "YYYY-MM-DD",
        required_unless_present = "from_entry"
    )]
    birth: Option<String>,
    /// 性別.
    #[arg(long, required_unless_present = "from_entry")]
    sex: Option<SexArg>,
    /// Also register the patient number with OQS as the person's 照会番号 (before linking).
    #[arg(long)]
    register_reference_number: bool,
}

fn entry_ref(date: Option<String>, id: u64) -> Option<ReceptionRef> {
    Some(ReceptionRef {
        date: date.unwrap_or_default(),
        id,
    })
}

pub async fn run(
    command: ReceptionCommand,
    channel: Channel,
    format: Format,
) -> Result<(), CliError> {
    let mut client = ReceptionServiceClient::new(channel);
    match command {
        ReceptionCommand::List { date, status } => {
            let status = match status {
                None => ReceptionStatus::Unspecified,
                Some(StatusArg::Pending) => ReceptionStatus::Pending,
                Some(StatusArg::Accepted) => ReceptionStatus::Accepted,
                Some(StatusArg::Rejected) => ReceptionStatus::Rejected,
            };
            let request = ListReceptionsRequest {
                date: date.unwrap_or_default(),
                status: status as i32,
                ..Default::default()
            };
            // Every page: a day's list is shown whole.
            let mut list = client.list_receptions(request.clone()).await?.into_inner();
            while !list.next_page_token.is_empty() {
                let next = ListReceptionsRequest {
                    page_token: std::mem::take(&mut list.next_page_token),
                    ..request.clone()
                };
                let page = client.list_receptions(next).await?.into_inner();
                list.entries.extend(page.entries);
                list.next_page_token = page.next_page_token;
            }
            output::print(format, &list, render_list)
        }
        ReceptionCommand::Watch { date, after } => {
            let request = WatchReceptionsRequest {
                date: date.unwrap_or_default(),
                after_id: after,
            };
            let mut entries = client.watch_receptions(request).await?.into_inner();
            let ctrl_c = tokio::signal::ctrl_c();
            tokio::pin!(ctrl_c);
            loop {
                tokio::select! {
                    message = entries.message() => match message? {
                        Some(message) => {
                            if let Some(entry) = &message.entry {
                                output::print_line(format, entry, render_line)?;
                            }
                        }
                        None => return Ok(()),
                    },
                    _ = &mut ctrl_c => return Ok(()),
                }
            }
        }
        ReceptionCommand::Accept {
            id,
            date,
            patient_number,
        } => {
            let request = AcceptReceptionRequest {
                entry: entry_ref(date, id),
                patient_number: patient_number.unwrap_or_default(),
            };
            let response = client.accept_reception(request).await?;
            output::print(format, response.get_ref(), |r| {
                let mut text = r.entry.as_ref().map(render_entry).unwrap_or_default();
                if let Some(link) = &r.link {
                    text += &format!("\nlinked {} ({})", link.patient_number, link.id);
                }
                text
            })
        }
        ReceptionCommand::Reject { id, date, reason } => {
            let request = RejectReceptionRequest {
                entry: entry_ref(date, id),
                reason,
            };
            let response = client.reject_reception(request).await?;
            output::print(format, response.get_ref(), |r| {
                r.entry.as_ref().map(render_entry).unwrap_or_default()
            })
        }
        ReceptionCommand::Link(args) => {
            let person = match args.from_entry {
                Some(id) => Person::Reception(ReceptionRef {
                    date: args.date.unwrap_or_default(),
                    id,
                }),
                None => Person::Details(LinkedPerson {
                    insurer_number: args.insurer.unwrap_or_default(),
                    symbol: args.symbol.unwrap_or_default(),
                    number: args.number.unwrap_or_default(),
                    branch: args.branch.unwrap_or_default(),
                    name: args.name.unwrap_or_default(),
                    name_kana: args.kana.unwrap_or_default(),
                    birth_date: args.birth.unwrap_or_default(),
                    sex: match args.sex {
                        Some(SexArg::Male) => Sex::Male,
                        Some(SexArg::Female) => Sex::Female,
                        Some(SexArg::NotSet) => Sex::NotSet,
                        None => Sex::Unspecified,
                    } as i32,
                }),
            };
            let request = LinkPatientRequest {
                patient_number: args.patient_number,
                person: Some(person),
                register_reference_number: args.register_reference_number,
                ..Default::default()
            };
            let response = client.link_patient(request).await?;
            output::print(format, response.get_ref(), render_link)
        }
        ReceptionCommand::Links { patient_number } => {
            let request = ListPatientLinksRequest {
                patient_number: patient_number.unwrap_or_default(),
                ..Default::default()
            };
            let response = client.list_patient_links(request).await?;
            output::print(format, response.get_ref(), render_links)
        }
        ReceptionCommand::Unlink {
            patient_number,
            link_id,
        } => {
            let request = RemovePatientLinkRequest {
                patient_number,
                link_id: link_id.unwrap_or_default(),
            };
            let response = client.remove_patient_link(request).await?;
            output::print(
                format,
                response.get_ref(),
                |r: &RemovePatientLinkResponse| format!("removed {} link(s)", r.removed),
            )
        }
        ReceptionCommand::CheckIn {
            reader,
            identity: identity_args,
            comprehensive_consent,
        } => {
            let request = CheckInRequest {
                card: Some(CheckByCardRequest {
                    reader,
                    identity: Some(identity(identity_args)?),
                    consents: comprehensive_consent.then(|| ConsentChoices {
                        comprehensive: true,
                        ..Default::default()
                    }),
                    confirmation_date: String::new(),
                }),
                ..Default::default()
            };
            let response = client.check_in(request).await?;
            output::print(format, response.get_ref(), render_check_in)
        }
    }
}

fn status_word(status: i32) -> String {
    enum_word(status, ReceptionStatus::as_str_name)
}

fn render_list(response: &ListReceptionsResponse) -> String {
    if response.entries.is_empty() {
        return "no reception entries".to_owned();
    }
    let mut table = grid(&[
        "id 受付番号",
        "time",
        "patient 患者番号",
        "name 氏名",
        "birth 生年月日",
        "match",
        "kiosk",
        "status",
    ]);
    for e in &response.entries {
        let time = e.received_at.get(11..16).unwrap_or(&e.received_at);
        let patient = if e.patient_number.is_empty() {
            candidates(e)
        } else {
            e.patient_number.clone()
        };
        table.add_row(vec![
            e.id.to_string(),
            time.to_owned(),
            patient,
            e.name.clone(),
            e.birth_date.clone(),
            enum_word(e.r#match, PatientMatch::as_str_name),
            enum_word(e.instruction, KioskInstruction::as_str_name),
            status_word(e.status),
        ]);
    }
    format!(
        "{}\nmode: {}",
        table,
        enum_word(response.mode, shikaku_proto::v1::ReceptionMode::as_str_name)
    )
}

fn candidates(e: &ReceptionEntry) -> String {
    if e.candidates.is_empty() {
        return String::new();
    }
    let numbers: Vec<&str> = e
        .candidates
        .iter()
        .map(|c| c.patient_number.as_str())
        .collect();
    format!("? {}", numbers.join(" / "))
}

/// `<date> #<id> <time> <patient> <name> <status>` for the watch.
fn render_line(e: &ReceptionEntry) -> String {
    let patient = if e.patient_number.is_empty() {
        match candidates(e) {
            c if c.is_empty() => "-".to_owned(),
            c => c,
        }
    } else {
        e.patient_number.clone()
    };
    format!(
        "{} #{:<4} {} {:<12} {} {} ({})",
        e.date,
        e.id,
        e.received_at.get(11..19).unwrap_or(&e.received_at),
        patient,
        e.name,
        status_word(e.status),
        enum_word(e.instruction, KioskInstruction::as_str_name)
    )
}

fn render_entry(e: &ReceptionEntry) -> String {
    let mut d = Details::default();
    d.row("受付 entry", format!("{} #{}", e.date, e.id))
        .row("received 受付時刻", e.received_at.clone())
        .row("patient 患者番号", e.patient_number.clone())
        .row("candidates 候補", candidates(e))
        .row("name 氏名", e.name.clone())
        .row("kana カナ", e.name_kana.clone())
        .row("birth 生年月日", e.birth_date.clone())
        .row("match", enum_word(e.r#match, PatientMatch::as_str_name))
        .row(
            "kiosk 案内",
            enum_word(e.instruction, KioskInstruction::as_str_name),
        )
        .row("status", status_word(e.status))
        .row("decided by", e.decided_by.clone())
        .row("reject reason", e.reject_reason.clone());
    d.render()
}

fn render_check_in(r: &CheckInResponse) -> String {
    let entry = r.entry.as_ref().map(render_entry).unwrap_or_default();
    format!("{}\n{}", r.message, entry)
}

fn render_link(r: &LinkPatientResponse) -> String {
    let Some(link) = &r.link else {
        return String::new();
    };
    let verb = if r.created {
        "linked"
    } else {
        "already linked"
    };
    let registered = r
        .reference_number
        .as_ref()
        .map(|n| format!("{}\n", crate::reference_number::render(n)))
        .unwrap_or_default();
    format!(
        "{registered}{verb}: {}\n{}",
        link.patient_number,
        render_links(&ListPatientLinksResponse {
            links: vec![link.clone()],
            ..Default::default()
        })
    )
}

fn render_links(response: &ListPatientLinksResponse) -> String {
    if response.links.is_empty() {
        return "no patient links".to_owned();
    }
    let mut table = grid(&[
        "patient 患者番号",
        "insurer 保険者番号",
        "symbol 記号",
        "number 番号",
        "branch 枝番",
        "kana カナ",
        "birth 生年月日",
        "link id",
    ]);
    for l in &response.links {
        let p = l.person.clone().unwrap_or_default();
        table.add_row(vec![
            l.patient_number.clone(),
            p.insurer_number,
            p.symbol,
            p.number,
            p.branch,
            p.name_kana,
            p.birth_date,
            l.id.clone(),
        ]);
    }
    table.to_string()
}
