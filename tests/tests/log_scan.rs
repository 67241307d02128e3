//! The suite's log scan: no log of any test names a fixture person. Every test process logs its
//! daemons at their most verbose to `target/test-logs/` (`shikaku_tests::log_to_file`, and the
//! spawned `shikakud`s' stderr via `child_log`); this reads them all for each fixture person's
//! name, kana, insurance numbers, birth date, address, injuries and card PIN.
//!
//! It needs the logs of a whole run, so it is ignored by `cargo test` and run after it by
//! `scripts/test.sh`:
//!
//!     cargo test -p shikaku-tests --test log_scan -- --ignored
//!
//! Clear `target/test-logs/` first to scan one run alone (scripts/test.sh does).

use std::path::Path;

/// The fixture keys whose values are a person's, or a card's secret.
const PERSONAL_KEYS: &[&str] = &[
    "name",
    "name_kana",
    "insured_name",
    "birth_date",
    "insurer_number",
    "symbol",
    "number",
    "recipient_number",
    "public_expense_number",
    "issue_number",
    "post_number",
    "address",
    "injury_names",
    "pin",
];

/// Too short to be told from anything else in a log (a branch "01", a 1-digit code).
fn telling(value: &str) -> bool {
    if value.is_ascii() {
        value.len() >= 4
    } else {
        value.chars().count() >= 2
    }
}

/// Each personal value in the fixture, with its key; names also by their parts (姓, 名).
fn personal_values(fixture: &str) -> Vec<(String, String)> {
    fn walk(key: &str, v: &toml::Value, out: &mut Vec<(String, String)>) {
        match v {
            toml::Value::Table(t) => t.iter().for_each(|(k, v)| walk(k, v, out)),
            toml::Value::Array(a) => a.iter().for_each(|v| walk(key, v, out)),
            toml::Value::String(s) if PERSONAL_KEYS.contains(&key) => {
                let s = s.trim();
                let mut values = vec![s.to_owned()];
                if key.contains("name") {
                    values.extend(
                        s.split([' ', '\u{3000}'])
                            .filter(|p| !p.is_empty())
                            .map(str::to_owned),
                    );
                }
                for value in values.into_iter().filter(|v| telling(v)) {
                    if !out.iter().any(|(_, seen)| *seen == value) {
                        out.push((key.to_owned(), value));
                    }
                }
            }
            _ => {}
        }
    }
    let fixture = fixture.parse::<toml::Table>().unwrap();
    let mut out = Vec::new();
    // People and their cards; readers and accounts are named too, but are no one.
    for section in ["person", "card"] {
        walk(section, &fixture[section], &mut out);
    }
    out
}

fn fixture_values() -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/simulator/fixtures/oqs.toml");
    personal_values(&std::fs::read_to_string(path).unwrap())
}

/// Where `value` stands in `line` as a value of its own: non-ASCII anywhere, ASCII not inside a
/// longer run of letters, digits and `.-_` (so PIN 1234 is not found in 0x12345 or 1.1234).
fn occurs(line: &str, value: &str) -> bool {
    if !value.is_ascii() {
        return line.contains(value);
    }
    let part_of_token =
        |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    line.match_indices(value).any(|(at, _)| {
        !part_of_token(line[..at].chars().next_back())
            && !part_of_token(line[at + value.len()..].chars().next())
    })
}

/// Each (file, line number, key) where a personal value appears in the logs in `dir`.
fn scan(dir: &Path, values: &[(String, String)]) -> (usize, Vec<String>) {
    let mut files = 0;
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "log") {
            continue;
        }
        files += 1;
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        for (n, line) in text.lines().enumerate() {
            for (key, value) in values {
                if occurs(line, value) {
                    found.push(format!(
                        "{}:{}: the fixture's {key} {value:?}: {line}",
                        path.display(),
                        n + 1
                    ));
                }
            }
        }
    }
    (files, found)
}

#[test]
#[ignore = "scans the logs of a whole run: scripts/test.sh runs it after the suite"]
fn no_log_of_the_suite_names_a_fixture_person() {
    let dir = shikaku_tests::test_log_dir();
    assert!(
        dir.is_dir(),
        "no {}: run the suite first (cargo test --workspace)",
        dir.display()
    );
    let (files, found) = scan(&dir, &fixture_values());
    assert!(
        files > 0,
        "no logs in {}: run the suite first",
        dir.display()
    );
    assert!(
        found.is_empty(),
        "personal data in the logs of the suite ({} lines):\n{}",
        found.len(),
        found.join("\n")
    );
    println!("{files} log files, no fixture person's data in them");
}

/// The scan itself: it finds what it looks for, and not in lookalikes.
#[test]
fn the_scan_finds_names_numbers_and_pins_and_not_lookalikes() {
    let values = fixture_values();
    let has = |key: &str, value: &str| values.iter().any(|(k, v)| k == key && v == value);
    assert!(has("name", "診療　太郎") && has("name", "太郎"));
    assert!(has("name_kana", "ｼﾝﾘｮｳ ﾀﾛｳ") && has("insurer_number", "138057"));
    assert!(has("birth_date", "1970-01-01") && has("pin", "1234"));
    assert!(!values.iter().any(|(_, v)| v == "01"), "too short to tell");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.log"),
        "ok request_id=00000000deadbeef ms=1.1234 port=51234\n\
         DEBUG person name=\"診療　太郎\"\n\
         TRACE verify pin=1234 for card\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("b.txt"), "not a log: 1234\n").unwrap();
    let (files, found) = scan(dir.path(), &values);
    assert_eq!(files, 1);
    assert!(
        found.iter().any(|f| f.contains(":2: the fixture's name")),
        "{found:?}"
    );
    assert!(
        found.iter().any(|f| f.contains(":3: the fixture's pin")),
        "{found:?}"
    );
    assert!(!found.iter().any(|f| f.contains(":1:")), "{found:?}");
}
