//! Writes indented XML: the terminal reads any layout, people read this one.

use crate::XmlError;
use crate::encoding::Encoding;

#[derive(Debug, Default)]
pub(crate) struct Out {
    buf: String,
    depth: usize,
}

impl Out {
    fn indent(&mut self) {
        self.buf.push('\n');
        for _ in 0..self.depth {
            self.buf.push_str("  ");
        }
    }

    pub fn open(&mut self, name: &str) {
        self.indent();
        self.buf.push('<');
        self.buf.push_str(name);
        self.buf.push('>');
        self.depth += 1;
    }

    pub fn close(&mut self, name: &str) {
        self.depth = self.depth.saturating_sub(1);
        self.indent();
        self.buf.push_str("</");
        self.buf.push_str(name);
        self.buf.push('>');
    }

    /// A leaf element; absent (empty) values are left out, other values written exactly.
    pub fn leaf(&mut self, name: &str, value: &str) {
        if value.is_empty() {
            return;
        }
        self.indent();
        self.buf.push('<');
        self.buf.push_str(name);
        self.buf.push('>');
        self.buf.push_str(&quick_xml::escape::escape(value));
        self.buf.push_str("</");
        self.buf.push_str(name);
        self.buf.push('>');
    }

    /// The whole document in `encoding`, declaration first.
    pub fn finish(self, encoding: Encoding) -> Result<Vec<u8>, XmlError> {
        let text = format!(
            "<?xml version=\"1.0\" encoding=\"{}\" standalone=\"no\"?>{}\n",
            encoding.xml_name(),
            self.buf
        );
        encoding.encode(&text)
    }
}
