//! A small element tree. The terminal's XML has no attributes or namespaces that matter and its
//! element order is not fixed, so results are read from a tree rather than a stream. Building
//! the tree is bounded (size, depth, element count) and iterative, so no input can exhaust the
//! stack or panic.

use quick_xml::events::Event;

use crate::XmlError;
use crate::encoding::{self, Encoding};

/// Bounds on what a document may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_depth: usize,
    pub max_elements: usize,
}

impl Default for Limits {
    /// Generous for a bulk result of a few thousand patients.
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024 * 1024,
            max_depth: 16,
            max_elements: 2_000_000,
        }
    }
}

/// One element: its name, its own text (exactly as written, spaces kept), its children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// The first child of that name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child of that name, wherever it stands among the others.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of the first child of that name; empty when absent.
    pub fn text_of(&self, name: &str) -> String {
        self.child(name).map(|c| c.text.clone()).unwrap_or_default()
    }
}

/// A parsed document: the encoding it was written in and its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub encoding: Encoding,
    pub root: Element,
}

impl Document {
    /// Decodes (per the XML declaration) and parses a whole document.
    pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Self, XmlError> {
        if bytes.len() > limits.max_bytes {
            return Err(XmlError::Limit(format!(
                "the document is {} bytes, more than the {} allowed",
                bytes.len(),
                limits.max_bytes
            )));
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(XmlError::Empty);
        }
        let encoding = encoding::declared(bytes)?;
        let text = encoding.decode(bytes)?;
        let root = parse_text(&text, limits)?;
        Ok(Self { encoding, root })
    }
}

fn syntax(position: u64, message: impl std::fmt::Display) -> XmlError {
    XmlError::Syntax {
        position,
        message: message.to_string(),
    }
}

fn predefined(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => return None,
    })
}

/// Parses decoded text into its root element.
pub fn parse_text(text: &str, limits: &Limits) -> Result<Element, XmlError> {
    let mut reader = quick_xml::Reader::from_str(text);
    let config = reader.config_mut();
    config.trim_text(false);
    config.check_end_names = true;
    config.expand_empty_elements = true;
    config.check_comments = true;

    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;
    loop {
        let position = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|e| syntax(reader.error_position(), e))?;
        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return Err(XmlError::TrailingContent);
                }
                if stack.len() >= limits.max_depth {
                    return Err(XmlError::Limit(format!(
                        "elements nest deeper than {}",
                        limits.max_depth
                    )));
                }
                elements += 1;
                if elements > limits.max_elements {
                    return Err(XmlError::Limit(format!(
                        "more than {} elements",
                        limits.max_elements
                    )));
                }
                let name = std::str::from_utf8(start.name().as_ref())
                    .map_err(|e| syntax(position, e))?
                    .to_owned();
                stack.push(Element {
                    name,
                    ..Default::default()
                });
            }
            Event::End(_) => {
                let done = stack
                    .pop()
                    .ok_or_else(|| syntax(position, "unmatched end tag"))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => {
                let content = t.xml_content().map_err(|e| syntax(position, e))?;
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&content),
                    None if content.trim().is_empty() => {}
                    None => return Err(syntax(position, "text outside the root element")),
                }
            }
            Event::CData(c) => {
                let content = c.xml_content().map_err(|e| syntax(position, e))?;
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&content),
                    None => return Err(syntax(position, "CDATA outside the root element")),
                }
            }
            Event::GeneralRef(r) => {
                let ch = match r.resolve_char_ref().map_err(|e| syntax(position, e))? {
                    Some(ch) => ch,
                    None => {
                        let name = r.decode().map_err(|e| syntax(position, e))?;
                        predefined(&name)
                            .ok_or_else(|| syntax(position, format!("unknown entity &{name};")))?
                    }
                };
                match stack.last_mut() {
                    Some(el) => el.text.push(ch),
                    None => return Err(syntax(position, "reference outside the root element")),
                }
            }
            Event::Empty(_) => return Err(syntax(position, "unexpected empty element")),
            Event::Decl(_) if position == 0 => {}
            Event::Decl(_) => return Err(syntax(position, "misplaced xml declaration")),
            Event::DocType(_) => {
                return Err(syntax(
                    position,
                    "document type declarations are not accepted",
                ));
            }
            Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Truncated);
    }
    root.ok_or(XmlError::NoRoot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_leading_spaces_and_resolves_references() {
        let el = parse_text(
            "<a><b>  123456</b><c>A&amp;B&#x41;&lt;</c><d/><!-- x --></a>",
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(el.text_of("b"), "  123456");
        assert_eq!(el.text_of("c"), "A&BA<");
        assert_eq!(el.child("d").unwrap().text, "");
    }

    #[test]
    fn rejects_bad_structure() {
        let l = Limits::default();
        assert_eq!(parse_text("<a><b></b>", &l), Err(XmlError::Truncated));
        assert_eq!(parse_text("", &l), Err(XmlError::NoRoot));
        assert!(matches!(
            parse_text("<a></b>", &l),
            Err(XmlError::Syntax { .. })
        ));
        assert_eq!(parse_text("<a/><b/>", &l), Err(XmlError::TrailingContent));
        assert!(matches!(
            parse_text("<a>&foo;</a>", &l),
            Err(XmlError::Syntax { .. })
        ));
        let deep = "<a>".repeat(100);
        assert!(matches!(parse_text(&deep, &l), Err(XmlError::Limit(_))));
    }
}
