//! The daemon's workflows: what an operation does, step by step, below the gRPC services and
//! above the domain, the store and the plugins. Services validate a request, call one function
//! here and map its answer.
//!
//! - `card_check`: a check by My Number card or smartphone on a reader.
//! - `reception`: the reception desk of re-visit kiosks (受付): check-in, matching, decisions.
//! - `patient_link`: LinkPatient — whom to link, the 照会番号 registered first when asked.
//! - `reference_number`: 照会番号の登録 with OQS.
//! - `bulk`: bulk checks (一括照会) run in the background and resumed after a restart.
//! - `retention`: deletes personal data older than `[retention]` allows, daily.

pub mod bulk;
pub mod card_check;
pub mod patient_link;
pub mod reception;
pub mod reference_number;
pub mod retention;
