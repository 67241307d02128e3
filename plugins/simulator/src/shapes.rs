//! Result files in the shapes real terminals and public clients write (each file says which in
//! its opening comment): 医療扶助 with tickets, every consent category, flat 特定疾病, dates that
//! are not dates, a bulk result, a registration result. The terminal simulator drops them on
//! command; the XML mapping's tests read them. UTF-8 text; `{facility_code}` stands for the
//! facility's 医療機関コード.

macro_rules! shapes {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../fixtures/results/", $name, ".xml")))),*]
    };
}

const SHAPES: &[(&str, &str)] = shapes![
    "medical-assistance-terminal",
    "medical-assistance-named",
    "consents-2025",
    "pharmaceutical-spelling",
    "cut-date",
    "specific-diseases-flat",
    "specific-diseases-unread",
    "bulk-result",
    "registration-result",
];

/// Every shape's name.
pub fn names() -> Vec<&'static str> {
    SHAPES.iter().map(|(n, _)| *n).collect()
}

/// The shape's XML text (UTF-8, declared so) for `facility_code`.
pub fn shape(name: &str, facility_code: &str) -> Option<String> {
    SHAPES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| text.replace("{facility_code}", facility_code))
}
