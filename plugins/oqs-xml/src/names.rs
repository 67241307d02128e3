//! Message kinds and file names: `<SYS><si|mu><biz><NN><req|res>_<suffix>.xml`.
//!
//! A result's name is its request's name with `req` turned into `res`. Face-auth results
//! (`OQSsiquc01res_face_….xml`) arrive unasked in the `face` folder.

use std::fmt;

/// 一括照会 (bulk inquiry) flavours: each is an upload (`01`) then downloads (`02`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BulkKind {
    /// 資格確認一括照会 (OQSmuquc).
    Qualification,
    /// 医療扶助 一括照会 by 診療年月 (OQSmutic).
    MedicalAssistance,
    /// 訪問診療 一括照会 by consent dates (OQSmuhvq).
    HomeVisit,
    /// オンライン診療 一括照会 (OQSmuonq).
    OnlineConsultation,
    /// 照会番号一括登録 (OQSmuimm).
    ReferenceNumbers,
}

impl BulkKind {
    pub const ALL: [Self; 5] = [
        Self::Qualification,
        Self::MedicalAssistance,
        Self::HomeVisit,
        Self::OnlineConsultation,
        Self::ReferenceNumbers,
    ];

    fn code(self) -> &'static str {
        match self {
            Self::Qualification => "OQSmuquc",
            Self::MedicalAssistance => "OQSmutic",
            Self::HomeVisit => "OQSmuhvq",
            Self::OnlineConsultation => "OQSmuonq",
            Self::ReferenceNumbers => "OQSmuimm",
        }
    }
}

/// What a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// 資格確認 by insurance numbers (OQSsiquc01); also the face-auth result's layout.
    QualificationCheck,
    /// 照会番号登録, single (OQSsiimm01).
    ReferenceNumberRegistration,
    /// A bulk upload (…01).
    BulkUpload(BulkKind),
    /// A bulk download by reception number (…02).
    BulkDownload(BulkKind),
    /// 薬剤情報 (YZKsiquc01): a different header layout.
    MedicationInfo,
    /// 特定健診情報 (TKKsiquc01): a different header layout.
    HealthCheckupInfo,
}

impl MessageKind {
    /// Every kind, for recognising file names.
    pub fn all() -> Vec<Self> {
        let mut v = vec![
            Self::QualificationCheck,
            Self::ReferenceNumberRegistration,
            Self::MedicationInfo,
            Self::HealthCheckupInfo,
        ];
        for b in BulkKind::ALL {
            v.push(Self::BulkUpload(b));
            v.push(Self::BulkDownload(b));
        }
        v
    }

    /// The name before `req`/`res`, e.g. `OQSsiquc01`.
    pub fn stem(self) -> String {
        match self {
            Self::QualificationCheck => "OQSsiquc01".into(),
            Self::ReferenceNumberRegistration => "OQSsiimm01".into(),
            Self::MedicationInfo => "YZKsiquc01".into(),
            Self::HealthCheckupInfo => "TKKsiquc01".into(),
            Self::BulkUpload(b) => format!("{}01", b.code()),
            Self::BulkDownload(b) => format!("{}02", b.code()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Request,
    Result,
}

impl Direction {
    fn tag(self) -> &'static str {
        match self {
            Self::Request => "req",
            Self::Result => "res",
        }
    }
}

/// A message file's name, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileName {
    pub kind: MessageKind,
    pub direction: Direction,
    /// What follows `req_`/`res_`, without the extension: the facility's own identifier.
    pub suffix: String,
    /// `xml`, or for some results `zip` or `pdf`.
    pub extension: String,
}

impl FileName {
    pub fn request(kind: MessageKind, suffix: impl Into<String>) -> Self {
        Self {
            kind,
            direction: Direction::Request,
            suffix: suffix.into(),
            extension: "xml".into(),
        }
    }

    /// The result that answers this request.
    pub fn result(&self) -> Self {
        Self {
            direction: Direction::Result,
            ..self.clone()
        }
    }

    /// Reads a name; `None` for anything that is not a message file (temporary files, others).
    pub fn parse(name: &str) -> Option<Self> {
        let (stem, extension) = name.rsplit_once('.')?;
        if !matches!(extension, "xml" | "zip" | "pdf") {
            return None;
        }
        for kind in MessageKind::all() {
            let k = kind.stem();
            for direction in [Direction::Request, Direction::Result] {
                let prefix = format!("{k}{}_", direction.tag());
                if let Some(suffix) = stem.strip_prefix(&prefix)
                    && !suffix.is_empty()
                    && suffix
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    return Some(Self {
                        kind,
                        direction,
                        suffix: suffix.to_owned(),
                        extension: extension.to_owned(),
                    });
                }
            }
        }
        None
    }
}

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}_{}.{}",
            self.kind.stem(),
            self.direction.tag(),
            self.suffix,
            self.extension
        )
    }
}

/// The prefix face-auth result files start with (S4, sikakuxml): `OQSsiquc01res_face_`.
pub const FACE_PREFIX: &str = "OQSsiquc01res_face_";

/// Whether `name` is a face file: `prefix`, then anything, then `.xml`.
pub fn is_face_file(name: &str, prefix: &str) -> bool {
    name.len() > prefix.len() + 4 && name.starts_with(prefix) && name.ends_with(".xml")
}

/// The face file name the 顔認証アプリ writes, as seen at a live clinic:
/// prefix + facility code + an opaque 20-hex id + `_` + yyyyMMddHHmmss + `.xml`.
pub fn face_file_name(facility_code: &str, id_hex: &str, timestamp: &str) -> String {
    format!("{FACE_PREFIX}{facility_code}{id_hex}_{timestamp}.xml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_answer_with_res() {
        let req = FileName::request(MessageKind::QualificationCheck, "202609290001");
        assert_eq!(req.to_string(), "OQSsiquc01req_202609290001.xml");
        assert_eq!(req.result().to_string(), "OQSsiquc01res_202609290001.xml");
        for kind in MessageKind::all() {
            let n = FileName::request(kind, "x1");
            assert_eq!(FileName::parse(&n.to_string()), Some(n.clone()));
            assert_eq!(FileName::parse(&n.result().to_string()), Some(n.result()));
        }
        assert_eq!(
            FileName::parse("OQSmuquc02res_2026.zip").map(|n| n.kind),
            Some(MessageKind::BulkDownload(BulkKind::Qualification))
        );
        assert_eq!(FileName::parse(".OQSsiquc01req_1.xml.tmp"), None);
        assert_eq!(FileName::parse("OQSsiquc01req_.xml"), None);
        assert!(is_face_file(
            "OQSsiquc01res_face_27142063864da5260a16de5a3d3ad7_20260929160112.xml",
            FACE_PREFIX
        ));
        assert!(!is_face_file("OQSsiquc01res_1.xml", FACE_PREFIX));
    }
}
