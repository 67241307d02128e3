//! Requests and results as the terminal writes them: every field a raw string, exactly as sent
//! (leading spaces and zeros kept), empty when absent. Element order never matters and unknown
//! elements are ignored, since the layout is revised from time to time.

use crate::XmlError;
use crate::dialect::Dialect;
use crate::dom::{Document, Element, Limits};
use crate::encoding::Encoding;
use crate::names::{BulkKind, MessageKind};
use crate::out::Out;
use crate::zipped;

/// A struct of leaf elements: field name and element name side by side, so reading and writing
/// cannot drift apart. `extra` fields (nested elements) are read and written by hand.
macro_rules! record {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $tag:literal ),* $(,)?
        }
        $( extra { $( $(#[$xmeta:meta])* $xfield:ident : $xty:ty ),* $(,)? } )?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: String, )*
            $( $( $(#[$xmeta])* pub $xfield: $xty, )* )?
        }

        impl $name {
            /// The leaf fields from `el`'s children.
            #[allow(clippy::needless_update)]
            fn read_leaves(el: &Element) -> Self {
                Self {
                    $( $field: el.text_of($tag), )*
                    ..Default::default()
                }
            }

            fn write_leaves(&self, out: &mut Out) {
                $( out.leaf($tag, &self.$field); )*
            }
        }
    };
}

record! {
    /// MessageHeader, for requests and results alike (a request fills only the first three).
    pub struct MessageHeader {
        /// 資格確認日 (yyyyMMdd).
        qualification_confirmation_date: "QualificationConfirmationDate",
        /// 医療機関コード (10 digits).
        medical_institution_code: "MedicalInstitutionCode",
        /// 任意のファイル識別子: echoed back in the result.
        arbitrary_file_identifier: "ArbitraryFileIdentifier",
        /// 処理実行日時 (yyyyMMddHHmmss).
        process_execution_time: "ProcessExecutionTime",
        /// 照会区分: 1 マイナンバーカード, 2 被保険者証情報.
        reference_classification: "ReferenceClassification",
        /// 処理結果区分: 1 正常終了, 2 処理中, 9 異常終了.
        segment_of_result: "SegmentOfResult",
        /// エラーコード / メッセージ (when SegmentOfResult is not 1).
        error_code: "ErrorCode",
        error_message: "ErrorMessage",
        /// 文字コード識別: 0 UTF-8, 1 Shift_JIS.
        character_code_identifier: "CharacterCodeIdentifier",
        /// 受付番号 of a bulk job (in the download result's header).
        reception_number: "ReceptionNumber",
        /// 処理件数 / 正常件数 / エラー件数 of a bulk result.
        number_of_processing_result: "NumberOfProcessingResult",
        number_of_normal_processing: "NumberOfNormalProcessing",
        number_of_error: "NumberOfError",
        /// 資格確認キー: one kiosk agent saw it in face files; where it stands is not public, so
        /// it is read from the header, the body and each record alike.
        qualification_confirmation_key: "QualificationConfirmationKey",
    }
}

record! {
    /// QualificationConfirmSearchInfo: the keys of a check by numbers (and of bulk uploads).
    pub struct SearchInfo {
        /// 保険者番号, 8 characters.
        insurer_number: "InsurerNumber",
        /// 被保険者証記号.
        insured_card_symbol: "InsuredCardSymbol",
        /// 被保険者証番号.
        insured_identification_number: "InsuredIdentificationNumber",
        /// 被保険者証枝番 (2 digits).
        insured_branch_number: "InsuredBranchNumber",
        /// 生年月日 (yyyyMMdd).
        birthdate: "Birthdate",
        /// 限度額適用認定証提供同意フラグ: 0 / 1.
        limit_application_certificate_related_cons_flg: "LimitApplicationCertificateRelatedConsFlg",
        /// A per-patient identifier, echoed in bulk results.
        arbitrary_identifier: "ArbitraryIdentifier",
        /// 診療年月 (医療扶助 bulk, yyyyMM).
        medical_treatment_month: "MedicalTreatmentMonth",
        /// 同意日 from / to (訪問診療・オンライン診療 bulk).
        consent_date_from: "ConsentDateFrom",
        consent_date_to: "ConsentDateTo",
        /// 診察日 from / to (オンライン診療 bulk).
        examination_date_from: "ExaminationDateFrom",
        examination_date_to: "ExaminationDateTo",
        /// 診療区分 flag of the bulk flavours (meaning inferred, sent as configured).
        medical_treatment_flag: "MedicalTreatmentFlag",
    }
}

record! {
    /// ReferenceNumberRegistrationInfo: registers a 照会番号 (the facility's patient number).
    pub struct RegistrationInfo {
        reference_number: "ReferenceNumber",
        insurer_number: "InsurerNumber",
        insured_card_symbol: "InsuredCardSymbol",
        insured_identification_number: "InsuredIdentificationNumber",
        insured_branch_number: "InsuredBranchNumber",
    }
}

record! {
    /// The header of 薬剤情報 / 特定健診情報 requests, whose element names differ.
    pub struct InfoRequestHeader {
        medical_institution_code: "MedicalInstitutionCode",
        insurer_number: "InsurerNumber",
        insurance_card_symbol: "InsuranceCardSymbol",
        insured_person_identification_number: "InsuredPersonIdentificationNumber",
        branch_number: "BranchNumber",
        arbitrary_file_identifier: "ArbitraryFileIdentifier",
    }
}

record! {
    /// The body of 薬剤情報 / 特定健診情報 requests.
    pub struct InfoRequestBody {
        start_date: "StartDate",
        end_date: "EndDate",
        file_category: "FileCategory",
        pr_di_inf_classification: "PrDiInfClassification",
        medical_treatment_flag: "MedicalTreatmentFlag",
    }
}

record! {
    /// ElderlyRecipientCertificateInfo: 高齢受給者証情報.
    pub struct ElderlyRecipientCertificateInfo {
        /// 交付年月日.
        certificate_date: "ElderlyRecipientCertificateDate",
        valid_start_date: "ElderlyRecipientValidStartDate",
        valid_end_date: "ElderlyRecipientValidEndDate",
        /// 一部負担金割合, "020" = 20 %.
        contribution_ratio: "ElderlyRecipientContributionRatio",
    }
}

record! {
    /// LimitApplicationCertificateRelatedInfo: 限度額適用認定証関連情報.
    pub struct LimitApplicationCertificateInfo {
        /// 限度額証区分.
        classification: "LimitApplicationCertificateClassification",
        /// 適用区分 (OQSCD012).
        classification_flag: "LimitApplicationCertificateClassificationFlag",
        certificate_date: "LimitApplicationCertificateDate",
        valid_start_date: "LimitApplicationCertificateValidStartDate",
        valid_end_date: "LimitApplicationCertificateValidEndDate",
        /// 長期入院該当年月日.
        long_term_date: "LimitApplicationCertificateLongTermDate",
    }
}

record! {
    /// SpecificDiseasesCertificateInfo: 特定疾病療養受療証情報.
    pub struct SpecificDiseasesCertificateInfo {
        /// 認定疾病区分 (OQSCD013).
        disease_category: "SpecificDiseasesDiseaseCategory",
        certificate_date: "SpecificDiseasesCertificateDate",
        valid_start_date: "SpecificDiseasesValidStartDate",
        valid_end_date: "SpecificDiseasesValidEndDate",
        /// 自己負担限度額 per month, yen.
        self_pay: "SpecificDiseasesSelfPay",
    }
}

record! {
    /// MedicalTicketInfo: 医療扶助 医療券・調剤券情報.
    pub struct MedicalTicketInfo {
        ticket_type: "TicketType",
        valid_date: "MedicalTicketValidDate",
        expiration_date: "MedicalTicketExpirationDate",
        issue_number: "IssueNumber",
        medical_treatment_month: "MedicalTreatmentMonth",
        designated_medical_institution_code: "DesignatedMedicalInstitutionCode",
        designated_medical_institution_flag: "DesignatedMedicalInstitutionFlag",
        designated_medical_institution_name: "DesignatedMedicalInstitutionName",
        prescription_issuer_medical_institution_code: "PrescriptionIssuerMedicalInstitutionCode",
        prescription_issuer_medical_institution_name: "PrescriptionIssuerMedicalInstitutionName",
        injury_name1: "InjuryName1",
        injury_name2: "InjuryName2",
        injury_name3: "InjuryName3",
        medical_treatment_type: "MedicalTreatmentType",
        self_pay_amount: "SelfPayAmount",
        district_contact_name: "DistrictContactName",
        handling_contact_name: "HandlingContactName",
        single_or_combined_use: "SingleOrCombinedUse",
        status_of_social_insurance: "StatusOfSocialInsurance",
        consistency_flag: "ConsistencyFlag",
        /// Spelt so in the layout (感染症法37条の2).
        status_of_infection: "StatusOfInfecton",
        status_of_elderly_medical_care: "StatusOfElderlyMedicalCare",
        status_of_prefectural_expenses: "StatusOfPrefecturalExpenses",
        remarks1: "Remarks1",
        remarks2: "Remarks2",
        remarks3: "Remarks3",
    }
}

/// 医療扶助 fields under element names the dialect configures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MedicalAssistanceFields {
    pub public_expense_number: String,
    pub recipient_number: String,
    pub welfare_office_name: String,
    pub welfare_office_name_kana: String,
}

record! {
    /// ResultOfQualificationConfirmation: one qualification.
    pub struct QualificationRecord {
        /// 被保険者証区分.
        insured_card_classification: "InsuredCardClassification",
        insurer_number: "InsurerNumber",
        insured_card_symbol: "InsuredCardSymbol",
        insured_identification_number: "InsuredIdentificationNumber",
        insured_branch_number: "InsuredBranchNumber",
        /// 本人・家族の別.
        personal_family_classification: "PersonalFamilyClassification",
        /// 被保険者氏名（世帯主氏名）.
        insured_name: "InsuredName",
        name: "Name",
        name_of_other: "NameOfOther",
        name_kana: "NameKana",
        name_of_other_kana: "NameOfOtherKana",
        sex1: "Sex1",
        sex2: "Sex2",
        birthdate: "Birthdate",
        address: "Address",
        post_number: "PostNumber",
        qualification_date: "QualificationDate",
        disqualification_date: "DisqualificationDate",
        insured_certificate_issuance_date: "InsuredCertificateIssuanceDate",
        insured_card_valid_date: "InsuredCardValidDate",
        insured_card_expiration_date: "InsuredCardExpirationDate",
        /// 一部負担金割合, "030" = 30 %.
        insured_partial_contribution_ratio: "InsuredPartialContributionRatio",
        preschool_classification: "PreschoolClassification",
        reason_of_loss: "ReasonOfLoss",
        insurer_name: "InsurerName",
        limit_cons_flg: "LimitApplicationCertificateRelatedConsFlg",
        limit_cons_time: "LimitApplicationCertificateRelatedConsTime",
        specific_diseases_cons_flg: "SpecificDiseasesCertificateRelatedConsFlg",
        specific_diseases_cons_time: "SpecificDiseasesCertificateRelatedConsTime",
        health_checkups_cons_flg: "SpecificHealthCheckupsInfoConsFlg",
        health_checkups_cons_time: "SpecificHealthCheckupsInfoConsTime",
        health_checkups_available_time: "SpecificHealthCheckupsInfoAvailableTime",
        pharmacists_cons_flg: "PharmacistsInfoConsFlg",
        pharmacists_cons_time: "PharmacistsInfoConsTime",
        pharmacists_available_time: "PharmacistsInfoAvailableTime",
        /// 薬剤 as one public exporter spells it (its own parser and every other source read
        /// `PharmacistsInfo…`): read when the `Pharmacists` spelling is absent. That exporter
        /// writes `…AcquisitionTime` (取得日時), read as the consent time.
        pharmaceutical_cons_flg: "PharmaceuticalInfoConsFlg",
        pharmaceutical_cons_time: "PharmaceuticalInfoConsTime",
        pharmaceutical_acquisition_time: "PharmaceuticalInfoAcquisitionTime",
        pharmaceutical_available_time: "PharmaceuticalInfoAvailableTime",
        diagnosis_cons_flg: "DiagnosisInfoConsFlg",
        diagnosis_cons_time: "DiagnosisInfoConsTime",
        diagnosis_available_time: "DiagnosisInfoAvailableTime",
        operation_cons_flg: "OperationInfoConsFlg",
        operation_cons_time: "OperationInfoConsTime",
        operation_available_time: "OperationInfoAvailableTime",
        /// 2025 consents (電子カルテ情報共有サービス); names as ORCA mirrors them.
        diagnosis_name_cons_flg: "DiagnosisNameConsFlg",
        diagnosis_name_cons_time: "DiagnosisNameConsTime",
        diagnosis_name_available_time: "DiagnosisNameAvailableTime",
        infectious_cons_flg: "InfectiousInfoConsFlg",
        infectious_cons_time: "InfectiousInfoConsTime",
        infectious_available_time: "InfectiousInfoAvailableTime",
        allergy_cons_flg: "AllergyInfoConsFlg",
        allergy_cons_time: "AllergyInfoConsTime",
        allergy_available_time: "AllergyInfoAvailableTime",
        contraindication_cons_flg: "ContraindicationInfoConsFlg",
        contraindication_cons_time: "ContraindicationInfoConsTime",
        contraindication_available_time: "ContraindicationInfoAvailableTime",
        test_cons_flg: "TestInfoConsFlg",
        test_cons_time: "TestInfoConsTime",
        test_available_time: "TestInfoAvailableTime",
        prescription_cons_flg: "PrescriptionInfoConsFlg",
        prescription_cons_time: "PrescriptionInfoConsTime",
        prescription_available_time: "PrescriptionInfoAvailableTime",
        /// 照会番号.
        reference_number: "ReferenceNumber",
        arbitrary_identifier: "ArbitraryIdentifier",
        qualification_confirmation_key: "QualificationConfirmationKey",
        prescription_issue_select: "PrescriptionIssueSelect",
        limit_certificate_changed: "LimitApplicationCertificateChanged",
    }
    extra {
        elderly_recipient: Option<ElderlyRecipientCertificateInfo>,
        limit_certificate: Option<LimitApplicationCertificateInfo>,
        specific_diseases: Vec<SpecificDiseasesCertificateInfo>,
        medical_tickets: Vec<MedicalTicketInfo>,
        medical_assistance: MedicalAssistanceFields,
    }
}

impl QualificationRecord {
    fn read(el: &Element, dialect: &Dialect) -> Self {
        let names = &dialect.medical_assistance;
        let mut r = Self::read_leaves(el);
        r.elderly_recipient = el
            .child("ElderlyRecipientCertificateInfo")
            .map(ElderlyRecipientCertificateInfo::read_leaves);
        r.limit_certificate = el
            .child("LimitApplicationCertificateRelatedInfo")
            .map(LimitApplicationCertificateInfo::read_leaves);
        // Sources disagree on the 特定疾病 shape: the layout wraps each certificate in
        // SpecificDiseasesCertificateInfo inside the list; one public client models repeated
        // list elements holding the leaves directly. Both are read, and a bare Info as well.
        r.specific_diseases = el
            .all("SpecificDiseasesCertificateList")
            .flat_map(|l| {
                let wrapped: Vec<&Element> = l.all("SpecificDiseasesCertificateInfo").collect();
                if wrapped.is_empty()
                    && l.children
                        .iter()
                        .any(|c| c.name.starts_with("SpecificDiseases"))
                {
                    vec![l]
                } else {
                    wrapped
                }
            })
            .chain(el.all("SpecificDiseasesCertificateInfo"))
            .map(SpecificDiseasesCertificateInfo::read_leaves)
            .collect();
        r.medical_tickets = el
            .all("PublicExpenseResultList")
            .flat_map(|l| l.all("MedicalTicketInfo"))
            .chain(el.all("MedicalTicketInfo"))
            .map(MedicalTicketInfo::read_leaves)
            .collect();
        r.medical_assistance = MedicalAssistanceFields {
            public_expense_number: el.text_of(&names.public_expense_number),
            recipient_number: el.text_of(&names.recipient_number),
            welfare_office_name: el.text_of(&names.welfare_office_name),
            welfare_office_name_kana: el.text_of(&names.welfare_office_name_kana),
        };
        r
    }

    fn write(&self, out: &mut Out, dialect: &Dialect) {
        let names = &dialect.medical_assistance;
        out.open("ResultOfQualificationConfirmation");
        self.write_leaves(out);
        let m = &self.medical_assistance;
        out.leaf(&names.public_expense_number, &m.public_expense_number);
        out.leaf(&names.recipient_number, &m.recipient_number);
        out.leaf(&names.welfare_office_name, &m.welfare_office_name);
        out.leaf(&names.welfare_office_name_kana, &m.welfare_office_name_kana);
        if let Some(e) = &self.elderly_recipient {
            out.open("ElderlyRecipientCertificateInfo");
            e.write_leaves(out);
            out.close("ElderlyRecipientCertificateInfo");
        }
        if let Some(l) = &self.limit_certificate {
            out.open("LimitApplicationCertificateRelatedInfo");
            l.write_leaves(out);
            out.close("LimitApplicationCertificateRelatedInfo");
        }
        if !self.specific_diseases.is_empty() {
            out.open("SpecificDiseasesCertificateList");
            for s in &self.specific_diseases {
                out.open("SpecificDiseasesCertificateInfo");
                s.write_leaves(out);
                out.close("SpecificDiseasesCertificateInfo");
            }
            out.close("SpecificDiseasesCertificateList");
        }
        if !self.medical_tickets.is_empty() {
            out.open("PublicExpenseResultList");
            for t in &self.medical_tickets {
                out.open("MedicalTicketInfo");
                t.write_leaves(out);
                out.close("MedicalTicketInfo");
            }
            out.close("PublicExpenseResultList");
        }
        out.close("ResultOfQualificationConfirmation");
    }
}

record! {
    /// What OQS answers for one patient: the body of a single result, and each BulkConfirmUnit
    /// (or BulkRegistrationUnit) of a bulk result.
    pub struct ResultBody {
        /// 処理結果状況: 1 正常終了, 2 異常終了.
        processing_result_status: "ProcessingResultStatus",
        processing_result_code: "ProcessingResultCode",
        processing_result_message: "ProcessingResultMessage",
        /// 資格有効性 (OQSCD006).
        qualification_validity: "QualificationValidity",
        /// 処方箋発行形態: 1 電子, 2 紙.
        prescription_issue_select: "PrescriptionIssueSelect",
        reference_number: "ReferenceNumber",
        /// The per-patient identifier of a bulk unit, when it stands outside the echoed keys.
        arbitrary_identifier: "ArbitraryIdentifier",
        qualification_confirmation_key: "QualificationConfirmationKey",
        /// 受付番号 / 受付日時 of a bulk upload's receipt.
        reception_number: "ReceptionNumber",
        reception_date_time: "ReceptionDateTime",
    }
    extra {
        /// The search keys, echoed.
        search_info: Option<SearchInfo>,
        /// A registration, echoed (照会番号登録 results).
        registration: Option<RegistrationInfo>,
        results: Vec<QualificationRecord>,
    }
}

/// One patient of a bulk result.
pub type BulkConfirmUnit = ResultBody;

impl ResultBody {
    fn read(el: &Element, dialect: &Dialect) -> Self {
        let mut b = Self::read_leaves(el);
        b.search_info = el
            .child("QualificationConfirmSearchInfo")
            .map(SearchInfo::read_leaves);
        b.registration = el
            .child("ReferenceNumberRegistrationInfo")
            .map(RegistrationInfo::read_leaves);
        b.results = el
            .all("ResultList")
            .flat_map(|l| l.all("ResultOfQualificationConfirmation"))
            .chain(el.all("ResultOfQualificationConfirmation"))
            .map(|r| QualificationRecord::read(r, dialect))
            .collect();
        b
    }

    fn write_content(&self, out: &mut Out, dialect: &Dialect) {
        self.write_leaves(out);
        if let Some(s) = &self.search_info {
            out.open("QualificationConfirmSearchInfo");
            s.write_leaves(out);
            out.close("QualificationConfirmSearchInfo");
        }
        if let Some(r) = &self.registration {
            out.open("ReferenceNumberRegistrationInfo");
            r.write_leaves(out);
            out.close("ReferenceNumberRegistrationInfo");
        }
        if !self.results.is_empty() {
            out.open("ResultList");
            for r in &self.results {
                r.write(out, dialect);
            }
            out.close("ResultList");
        }
    }
}

/// A result file: a single result (`…01res`, face files), a bulk receipt or a bulk result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultMessage {
    pub header: MessageHeader,
    /// The body's own fields (single results, receipts, registrations).
    pub body: ResultBody,
    /// BulkConfirmUnit, one per patient of a bulk result.
    pub units: Vec<BulkConfirmUnit>,
    /// BulkRegistrationUnit, one per registration of a bulk 照会番号 result.
    pub registration_units: Vec<ResultBody>,
}

fn root_of(doc: &Document) -> Result<&Element, XmlError> {
    if doc.root.name != "XmlMsg" {
        return Err(XmlError::NotXmlMsg(
            doc.root.name.chars().take(64).collect(),
        ));
    }
    Ok(&doc.root)
}

impl ResultMessage {
    /// Parses a result file's bytes: XML, or a zip holding XML (see [`ResultMessage::read`]).
    pub fn parse(bytes: &[u8], dialect: &Dialect, limits: &Limits) -> Result<Self, XmlError> {
        Self::read(bytes, dialect, limits, None)
    }

    /// Reads a result file as it arrives: plain XML, or a zip archive (`…res_….zip`, told by
    /// its signature, not its name) holding XML. Each document must be in `expected` encoding
    /// when one is configured. An archive holding several documents answers the first one's
    /// header and body with every document's units, in archive order.
    pub fn read(
        bytes: &[u8],
        dialect: &Dialect,
        limits: &Limits,
        expected: Option<Encoding>,
    ) -> Result<Self, XmlError> {
        let documents = if zipped::is_zip(bytes) {
            zipped::documents(bytes, limits)?
        } else {
            vec![Document::parse(bytes, limits)?]
        };
        let mut merged: Option<Self> = None;
        for doc in &documents {
            if let Some(expected) = expected
                && doc.encoding != expected
            {
                return Err(XmlError::EncodingMismatch {
                    declared: doc.encoding.xml_name(),
                    identified: expected.xml_name(),
                });
            }
            let m = Self::from_document(doc, dialect)?;
            match &mut merged {
                None => merged = Some(m),
                Some(first) => {
                    first.units.extend(m.units);
                    first.registration_units.extend(m.registration_units);
                }
            }
        }
        merged.ok_or(XmlError::Empty)
    }

    pub fn from_document(doc: &Document, dialect: &Dialect) -> Result<Self, XmlError> {
        let root = root_of(doc)?;
        let header = root
            .child("MessageHeader")
            .map(MessageHeader::read_leaves)
            .ok_or(XmlError::Missing("MessageHeader"))?;
        if let Some(identified) = Encoding::from_identifier(&header.character_code_identifier)
            && identified != doc.encoding
            && dialect.encoding_check == crate::EncodingCheck::Reject
        {
            return Err(XmlError::EncodingMismatch {
                declared: doc.encoding.xml_name(),
                identified: identified.xml_name(),
            });
        }
        let empty = Element::default();
        let body_el = root.child("MessageBody").unwrap_or(&empty);
        Ok(Self {
            header,
            body: ResultBody::read(body_el, dialect),
            units: body_el
                .all("BulkConfirmUnit")
                .map(|u| ResultBody::read(u, dialect))
                .collect(),
            registration_units: body_el
                .all("BulkRegistrationUnit")
                .map(|u| ResultBody::read(u, dialect))
                .collect(),
        })
    }

    /// The file's bytes in `encoding` (CharacterCodeIdentifier is set to match).
    pub fn to_xml(&self, encoding: Encoding, dialect: &Dialect) -> Result<Vec<u8>, XmlError> {
        let mut out = Out::default();
        out.open("XmlMsg");
        out.open("MessageHeader");
        let mut header = self.header.clone();
        header.character_code_identifier = encoding.identifier().into();
        header.write_leaves(&mut out);
        out.close("MessageHeader");
        out.open("MessageBody");
        self.body.write_content(&mut out, dialect);
        for u in &self.units {
            out.open("BulkConfirmUnit");
            u.write_content(&mut out, dialect);
            out.close("BulkConfirmUnit");
        }
        for u in &self.registration_units {
            out.open("BulkRegistrationUnit");
            u.write_content(&mut out, dialect);
            out.close("BulkRegistrationUnit");
        }
        out.close("MessageBody");
        out.close("XmlMsg");
        out.finish(encoding)
    }
}

/// A request file a receipt computer writes into `req`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// OQSsiquc01req: 資格確認 by insurance numbers.
    QualificationCheck {
        header: MessageHeader,
        search: SearchInfo,
    },
    /// OQSsiimm01req: 照会番号登録.
    ReferenceNumberRegistration {
        header: MessageHeader,
        registration: RegistrationInfo,
    },
    /// …01req of a bulk kind: many searches (or registrations) at once.
    BulkUpload {
        kind: BulkKind,
        header: MessageHeader,
        searches: Vec<SearchInfo>,
        registrations: Vec<RegistrationInfo>,
    },
    /// …02req of a bulk kind: asks for the result of the upload with this 受付番号.
    BulkDownload {
        kind: BulkKind,
        header: MessageHeader,
        reception_number: String,
    },
    /// YZKsiquc01req / TKKsiquc01req: 薬剤情報 / 特定健診情報.
    Info {
        kind: MessageKind,
        header: InfoRequestHeader,
        body: InfoRequestBody,
    },
}

impl Request {
    pub fn kind(&self) -> MessageKind {
        match self {
            Self::QualificationCheck { .. } => MessageKind::QualificationCheck,
            Self::ReferenceNumberRegistration { .. } => MessageKind::ReferenceNumberRegistration,
            Self::BulkUpload { kind, .. } => MessageKind::BulkUpload(*kind),
            Self::BulkDownload { kind, .. } => MessageKind::BulkDownload(*kind),
            Self::Info { kind, .. } => *kind,
        }
    }

    /// The request's `ArbitraryFileIdentifier`, echoed by the result.
    pub fn file_identifier(&self) -> &str {
        match self {
            Self::QualificationCheck { header, .. }
            | Self::ReferenceNumberRegistration { header, .. }
            | Self::BulkUpload { header, .. }
            | Self::BulkDownload { header, .. } => &header.arbitrary_file_identifier,
            Self::Info { header, .. } => &header.arbitrary_file_identifier,
        }
    }

    pub fn to_xml(&self, encoding: Encoding) -> Result<Vec<u8>, XmlError> {
        let mut out = Out::default();
        out.open("XmlMsg");
        out.open("MessageHeader");
        match self {
            Self::QualificationCheck { header, .. }
            | Self::ReferenceNumberRegistration { header, .. }
            | Self::BulkUpload { header, .. }
            | Self::BulkDownload { header, .. } => header.write_leaves(&mut out),
            Self::Info { header, .. } => header.write_leaves(&mut out),
        }
        out.close("MessageHeader");
        out.open("MessageBody");
        match self {
            Self::QualificationCheck { search, .. } => {
                out.open("QualificationConfirmSearchInfo");
                search.write_leaves(&mut out);
                out.close("QualificationConfirmSearchInfo");
            }
            Self::ReferenceNumberRegistration { registration, .. } => {
                out.open("ReferenceNumberRegistrationInfo");
                registration.write_leaves(&mut out);
                out.close("ReferenceNumberRegistrationInfo");
            }
            Self::BulkUpload {
                searches,
                registrations,
                ..
            } => {
                for s in searches {
                    out.open("QualificationConfirmSearchInfo");
                    s.write_leaves(&mut out);
                    out.close("QualificationConfirmSearchInfo");
                }
                for r in registrations {
                    out.open("ReferenceNumberRegistrationInfo");
                    r.write_leaves(&mut out);
                    out.close("ReferenceNumberRegistrationInfo");
                }
            }
            Self::BulkDownload {
                reception_number, ..
            } => out.leaf("ReceptionNumber", reception_number),
            Self::Info { body, .. } => body.write_leaves(&mut out),
        }
        out.close("MessageBody");
        out.close("XmlMsg");
        out.finish(encoding)
    }

    /// Parses a request file of a known kind (the kind comes from its file name).
    pub fn parse(kind: MessageKind, bytes: &[u8], limits: &Limits) -> Result<Self, XmlError> {
        let doc = Document::parse(bytes, limits)?;
        let root = root_of(&doc)?;
        let header_el = root
            .child("MessageHeader")
            .ok_or(XmlError::Missing("MessageHeader"))?;
        let empty = Element::default();
        let body = root.child("MessageBody").unwrap_or(&empty);
        let header = MessageHeader::read_leaves(header_el);
        Ok(match kind {
            MessageKind::QualificationCheck => Self::QualificationCheck {
                header,
                search: body
                    .child("QualificationConfirmSearchInfo")
                    .map(SearchInfo::read_leaves)
                    .ok_or(XmlError::Missing("QualificationConfirmSearchInfo"))?,
            },
            MessageKind::ReferenceNumberRegistration => Self::ReferenceNumberRegistration {
                header,
                registration: body
                    .child("ReferenceNumberRegistrationInfo")
                    .map(RegistrationInfo::read_leaves)
                    .ok_or(XmlError::Missing("ReferenceNumberRegistrationInfo"))?,
            },
            MessageKind::BulkUpload(kind) => Self::BulkUpload {
                kind,
                header,
                searches: body
                    .all("QualificationConfirmSearchInfo")
                    .map(SearchInfo::read_leaves)
                    .collect(),
                registrations: body
                    .all("ReferenceNumberRegistrationInfo")
                    .map(RegistrationInfo::read_leaves)
                    .collect(),
            },
            MessageKind::BulkDownload(kind) => Self::BulkDownload {
                kind,
                header,
                reception_number: body.text_of("ReceptionNumber"),
            },
            MessageKind::MedicationInfo | MessageKind::HealthCheckupInfo => Self::Info {
                kind,
                header: InfoRequestHeader::read_leaves(header_el),
                body: InfoRequestBody::read_leaves(body),
            },
        })
    }
}
