//! Patients at one facility (診察券とマイナンバーカードの一体化): the patient number (患者番号), the
//! person a check result describes, how a person is recognised when their insurance changed, and
//! what a re-visit kiosk (再来受付機) should tell them.

use std::fmt;

use crate::ValueError;
use crate::pb::{KioskInstruction, LinkedPerson, PatientMatch, QualificationResult, Sex, Validity};
use crate::values::{BranchNumber, CardNumber, CardSymbol, InsurerNumber, parse_birth_date};

/// 患者番号 (診察券番号): the facility's own number for a patient; 1–20 ASCII letters, digits or
/// hyphens, kept exactly as given (leading zeros matter: "01234").
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct PatientNumber(String);

impl PatientNumber {
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let s = s.trim();
        if s.is_empty() || s.len() > 20 {
            return Err(ValueError::rule("must be 1–20 characters"));
        }
        if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(ValueError::rule(
                "must be ascii letters, digits or hyphens only",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PatientNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Half-width katakana U+FF61–U+FF9D, as full-width.
const HALF_WIDTH: &str = "。「」、・ヲァィゥェォャュョッーアイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン";

/// The form kana names are compared in: full-width katakana, hiragana made katakana, voiced
/// marks joined to their letter, spaces (half- and full-width) and the middle dot dropped. OQS
/// sends half-width kana; receipt computers often hold full-width.
pub fn kana_key(s: &str) -> String {
    let table: Vec<char> = HALF_WIDTH.chars().collect();
    let mut out: Vec<char> = Vec::with_capacity(s.len());
    for c in s.chars() {
        let u = c as u32;
        let c = match u {
            0xFF61..=0xFF9D => table[(u - 0xFF61) as usize],
            0x3041..=0x3096 => char::from_u32(u + 0x60).unwrap_or(c),
            0xFF9E | 0x309B | 0x3099 => {
                join_mark(&mut out, 1);
                continue;
            }
            0xFF9F | 0x309C | 0x309A => {
                join_mark(&mut out, 2);
                continue;
            }
            _ => c,
        };
        if c.is_whitespace() || c == '・' {
            continue;
        }
        out.push(c);
    }
    out.into_iter().collect()
}

/// Joins a 濁点 (`step` 1) or 半濁点 (`step` 2) to the letter before it.
fn join_mark(out: &mut [char], step: u32) {
    let Some(last) = out.last_mut() else { return };
    let u = *last as u32;
    let joined = match (u, step) {
        (0x30A6, 1) => Some(0x30F4), // ウ゛ → ヴ
        (0x30AB..=0x30C8, 1)
            if (u <= 0x30C1 && !u.is_multiple_of(2)) || (u >= 0x30C4 && u.is_multiple_of(2)) =>
        {
            Some(u + 1)
        }
        (0x30CF..=0x30DB, _) if (u - 0x30CF).is_multiple_of(3) => Some(u + step),
        _ => None,
    };
    if let Some(c) = joined.and_then(char::from_u32) {
        *last = c;
    }
}

/// The person a result names, when it names exactly one: what a link matches on. 医療扶助 has no
/// insurer: its 公費負担者番号 and 受給者番号 stand in for the insurer number and number.
pub fn person_of(result: &QualificationResult) -> Option<LinkedPerson> {
    let [q] = result.qualifications.as_slice() else {
        return None;
    };
    let (insurer_number, number) = match (&q.medical_assistance, q.insurer_number.trim()) {
        (Some(aid), "") => (
            aid.public_expense_number.trim().to_owned(),
            aid.recipient_number.trim().to_owned(),
        ),
        (_, insurer) => (insurer.to_owned(), q.number.trim().to_owned()),
    };
    if insurer_number.is_empty() && number.is_empty() {
        return None;
    }
    Some(LinkedPerson {
        insurer_number,
        symbol: q.symbol.trim().to_owned(),
        number,
        branch: q.branch.trim().to_owned(),
        name: q.name.clone(),
        name_kana: q.name_kana.clone(),
        birth_date: q.birth_date.clone(),
        sex: q.sex,
    })
}

/// Checks a person a clerk typed in: what a link needs to match on later.
/// The longest name or kana a link holds: OQS carries 氏名 in at most 100 characters.
pub const MAX_NAME_CHARS: usize = 100;

pub fn validate_person(
    p: &LinkedPerson,
    today: chrono::NaiveDate,
) -> Result<LinkedPerson, Vec<crate::FieldError>> {
    let mut v = crate::Validator::new();
    let insurer = p.insurer_number.trim();
    // Checked exactly as a check by numbers checks it, check digit included, so a link can
    // never hold a number no check would accept.
    v.check("details.insurer_number", InsurerNumber::parse(insurer));
    if !p.symbol.trim().is_empty() {
        v.check("details.symbol", CardSymbol::parse(&p.symbol));
    }
    v.check("details.number", CardNumber::parse(&p.number));
    if !p.branch.trim().is_empty() {
        v.check("details.branch", BranchNumber::parse(&p.branch));
    }
    let birth = v.check("details.birth_date", parse_birth_date(&p.birth_date, today));
    if kana_key(&p.name_kana).is_empty() {
        v.fail("details.name_kana", "must not be empty");
    }
    for (field, text) in [
        ("details.name", &p.name),
        ("details.name_kana", &p.name_kana),
    ] {
        if text.chars().count() > MAX_NAME_CHARS || text.chars().any(char::is_control) {
            v.fail(
                field,
                format!("must be at most {MAX_NAME_CHARS} characters without control characters"),
            );
        }
    }
    if !matches!(p.sex(), Sex::Male | Sex::Female | Sex::NotSet) {
        v.fail("details.sex", "must be male, female or not set");
    }
    v.finish()?;
    Ok(LinkedPerson {
        insurer_number: insurer.to_owned(),
        symbol: p.symbol.trim().to_owned(),
        number: p.number.trim().to_owned(),
        branch: p.branch.trim().to_owned(),
        name: p.name.trim().to_owned(),
        name_kana: p.name_kana.trim().to_owned(),
        birth_date: crate::values::iso(birth.expect("validated")),
        sex: p.sex,
    })
}

/// Whether the check lets the patient be seen on their insurance. 有効（未登録） (validity 6,
/// 医療扶助 only) is valid too: the patient is covered.
pub fn insurance_usable(result: &QualificationResult) -> bool {
    matches!(
        result.validity(),
        Validity::Valid | Validity::ValidUnregistered
    ) && !result.not_registered_for_insurance_use
}

/// What the kiosk shows, from the check and the patient match.
pub fn instruction(result: &QualificationResult, matched: PatientMatch) -> KioskInstruction {
    if !insurance_usable(result) {
        return KioskInstruction::InsuranceInvalid;
    }
    match matched {
        PatientMatch::Linked => KioskInstruction::GoAhead,
        PatientMatch::Candidates => KioskInstruction::ConfirmAtCounter,
        PatientMatch::NewPatient | PatientMatch::None | PatientMatch::Unspecified => {
            KioskInstruction::FirstVisit
        }
    }
}

/// The kiosk's text for an instruction.
pub fn kiosk_message(instruction: KioskInstruction) -> &'static str {
    match instruction {
        KioskInstruction::GoAhead => "受付が完了しました。待合室でお待ちください。",
        KioskInstruction::FirstVisit => "初めての方は、窓口までお越しください。",
        KioskInstruction::InsuranceInvalid => {
            "保険資格を確認できませんでした。窓口までお越しください。"
        }
        KioskInstruction::ConfirmAtCounter => {
            "保険証の情報が変わっています。窓口で確認しますのでお越しください。"
        }
        KioskInstruction::Unspecified => "窓口までお越しください。",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kana_compares_across_widths_scripts_and_spaces() {
        assert_eq!(kana_key("ｼﾝﾘｮｳ ﾀﾛｳ"), "シンリョウタロウ");
        assert_eq!(kana_key("シンリョウ　タロウ"), "シンリョウタロウ");
        assert_eq!(kana_key("しんりょう たろう"), "シンリョウタロウ");
        assert_eq!(kana_key("ｹﾞﾝﾄﾞ ｻﾌﾞﾛｳ"), "ゲンドサブロウ");
        assert_eq!(kana_key("ﾊﾟﾋﾟﾌﾟﾍﾟﾎﾟ ﾂﾞ ｳﾞ"), "パピプペポヅヴ");
        assert_eq!(kana_key("ﾃﾞｼﾞﾀﾙ"), "デジタル");
    }

    #[test]
    fn patient_numbers_keep_their_zeros_and_refuse_other_characters() {
        assert_eq!(PatientNumber::parse(" 01234 ").unwrap().as_str(), "01234");
        assert!(PatientNumber::parse("").is_err());
        assert!(PatientNumber::parse("P 1").is_err());
        assert!(PatientNumber::parse("患者1").is_err());
        assert!(PatientNumber::parse(&"1".repeat(21)).is_err());
    }

    #[test]
    fn the_kiosk_is_told_by_validity_first_then_by_match() {
        let valid = QualificationResult {
            validity: Validity::Valid as i32,
            ..Default::default()
        };
        let invalid = QualificationResult {
            validity: Validity::Invalid as i32,
            ..Default::default()
        };
        assert_eq!(
            instruction(&valid, PatientMatch::Linked),
            KioskInstruction::GoAhead
        );
        assert_eq!(
            instruction(&valid, PatientMatch::NewPatient),
            KioskInstruction::FirstVisit
        );
        assert_eq!(
            instruction(&valid, PatientMatch::Candidates),
            KioskInstruction::ConfirmAtCounter
        );
        assert_eq!(
            instruction(&invalid, PatientMatch::Linked),
            KioskInstruction::InsuranceInvalid
        );
    }

    #[test]
    fn valid_unregistered_medical_assistance_goes_ahead() {
        let assisted = QualificationResult {
            validity: Validity::ValidUnregistered as i32,
            ..Default::default()
        };
        assert!(insurance_usable(&assisted));
        assert_eq!(
            instruction(&assisted, PatientMatch::Linked),
            KioskInstruction::GoAhead
        );
    }
}
