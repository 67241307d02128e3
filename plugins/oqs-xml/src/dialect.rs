//! What the public sources only suggest about the layout (marked inferred in
//! `shared/reference/oqs-interface.md`), as settings with the likeliest value as default.

use serde::Deserialize;

/// How a 6-digit 国保 insurer number is padded to 8 characters in a request. Results pad with
/// spaces (seen); for requests one source says zeros or spaces, another pads with spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InsurerPadding {
    #[default]
    Space,
    Zero,
}

/// What to do when a result's declared encoding and its CharacterCodeIdentifier disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EncodingCheck {
    /// Refuse the result (one kiosk agent rejects a mismatched declaration).
    #[default]
    Reject,
    /// Trust the declaration, which is what the bytes were decoded with.
    Ignore,
}

/// Element names for 医療扶助 (public assistance) fields that one source reads only as a hedged
/// fallback; none is confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MedicalAssistanceNames {
    /// 公費負担者番号.
    pub public_expense_number: String,
    /// 受給者番号.
    pub recipient_number: String,
    /// 福祉事務所名.
    pub welfare_office_name: String,
    /// 福祉事務所名カナ (no source names it).
    pub welfare_office_name_kana: String,
}

impl Default for MedicalAssistanceNames {
    fn default() -> Self {
        Self {
            public_expense_number: "PublicExpenseNumber".into(),
            recipient_number: "BeneficiaryNumber".into(),
            welfare_office_name: "WelfareOfficeName".into(),
            welfare_office_name_kana: "WelfareOfficeNameKana".into(),
        }
    }
}

/// The inferred parts of the layout, all configurable.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Dialect {
    pub insurer_padding: InsurerPadding,
    pub encoding_check: EncodingCheck,
    pub medical_assistance: MedicalAssistanceNames,
}

impl Dialect {
    /// The 8-character insurer number a request carries.
    pub fn pad_insurer(&self, number: &str) -> String {
        let n = number.trim();
        let fill = match self.insurer_padding {
            InsurerPadding::Space => ' ',
            InsurerPadding::Zero => '0',
        };
        let missing = 8usize.saturating_sub(n.chars().count());
        std::iter::repeat_n(fill, missing)
            .chain(n.chars())
            .collect()
    }
}
