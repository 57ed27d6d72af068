//! Fields of spans and events written as tracing-subscriber's default
//! formatter writes them without colours (`name=value`, the message's ANSI
//! and C1 control characters escaped, tracing-log's `log.*` fields left
//! out), without its styling: every request's span writes its fields when
//! it opens, whether or not anything is logged in it, and the default
//! formatter styles each field name through nu-ansi-term even with colours
//! off. With colours on, the default formatter writes them.

use std::error::Error;
use std::fmt::{self, Write};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{DefaultFields, Writer};
use tracing_subscriber::fmt::FormatFields;

#[derive(Default)]
pub struct PlainFields {
    coloured: DefaultFields,
}

impl<'writer> FormatFields<'writer> for PlainFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        if writer.has_ansi_escapes() {
            return self.coloured.format_fields(writer, fields);
        }
        let sanitize = writer.sanitizes_ansi_escapes();
        let mut visitor = Visitor {
            writer,
            sanitize,
            empty: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct Visitor<'writer> {
    writer: Writer<'writer>,
    sanitize: bool,
    empty: bool,
    result: fmt::Result,
}

impl Visitor<'_> {
    fn write(&mut self, name: &str, value: &dyn fmt::Debug) -> fmt::Result {
        if !std::mem::take(&mut self.empty) {
            self.writer.write_char(' ')?;
        }
        if name == "message" {
            return write!(self.writer, "{:?}", Escaped(value, self.sanitize));
        }
        self.writer
            .write_str(name.strip_prefix("r#").unwrap_or(name))?;
        self.writer.write_char('=')?;
        write!(self.writer, "{value:?}")
    }
}

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"))
        } else {
            self.record_debug(field, &value)
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        let sanitize = self.sanitize;
        match value.source() {
            Some(source) => self.record_debug(
                field,
                &format_args!(
                    "{} {}.sources={}",
                    Escaped(&format_args!("{value}"), sanitize),
                    field.name(),
                    Sources(source, sanitize)
                ),
            ),
            None => self.record_debug(
                field,
                &format_args!("{}", Escaped(&format_args!("{value}"), sanitize)),
            ),
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // Log records' metadata, already in the line's target and level.
        if self.result.is_err() || field.name().starts_with("log.") {
            return;
        }
        self.result = self.write(field.name(), value);
    }
}

/// A value written with ANSI escape and C1 control characters escaped (a
/// logged message must not drive the terminal that shows it).
struct Escaped<'a>(&'a dyn fmt::Debug, bool);

impl fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            true => write!(Escaping(f), "{:?}", self.0),
            false => write!(f, "{:?}", self.0),
        }
    }
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

struct Escaping<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl Write for Escaping<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for c in text.chars() {
            match c {
                '\x1b' => self.0.write_str("\\x1b")?,
                '\x07' => self.0.write_str("\\x07")?,
                '\x08' => self.0.write_str("\\x08")?,
                '\x0c' => self.0.write_str("\\x0c")?,
                '\x7f' => self.0.write_str("\\x7f")?,
                '\u{80}'..='\u{9f}' => write!(self.0, "\\u{{{:x}}}", c as u32)?,
                c => self.0.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// An error's sources, each escaped: `[first, second]`.
struct Sources<'a>(&'a (dyn Error + 'static), bool);

impl fmt::Display for Sources<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        let mut next = Some(self.0);
        while let Some(error) = next {
            list.entry(&Escaped(&format_args!("{error}"), self.1));
            next = error.source();
        }
        list.finish()
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::format::DefaultFields;

    use super::*;

    #[derive(Debug)]
    struct Outer(Inner);
    #[derive(Debug)]
    struct Inner;

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("outer \u{1b}[31mfailed")
        }
    }
    impl Error for Outer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }
    impl fmt::Display for Inner {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("inner \u{9b}2J cause")
        }
    }
    impl Error for Inner {}

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// What the same spans and events log through `fields`.
    fn logged<N>(fields: N) -> String
    where
        N: for<'writer> FormatFields<'writer> + Send + Sync + 'static,
    {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .without_time()
            .with_writer(move || writer.clone())
            .fmt_fields(fields)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "request",
                method = %"GET",
                uri = %"/scim/v2/Users/7",
                request_id = "id \"quoted\" \u{1b}[2J",
                plain = "6f9619ff-8b86-d011-b42d-00c04fc964ff ~!'"
            );
            let _entered = span.enter();
            span.record("method", "PATCH");
            tracing::info!(
                count = 3,
                flag = true,
                ratio = 0.5,
                name = "two\nlines",
                r#type = "raw",
                shown = ?Some("debug"),
                "message with \u{1b}[31mcolour\u{7} and \u{85} C1"
            );
            tracing::info!(message = "as a field \u{1b}");
            tracing::warn!(
                log.target = "other",
                log.line = 7,
                kept = 1,
                "from a log record"
            );
            let error = Outer(Inner);
            tracing::error!(error = &error as &(dyn Error + 'static), "failed");
            tracing::error!(error = &Inner as &(dyn Error + 'static));
            let bytes: &[u8] = b"\x00\xff";
            tracing::debug!(bytes, "not shown at INFO");
            tracing::info!(bytes, "bytes");
        });
        let text = buffer.0.lock().unwrap().clone();
        String::from_utf8(text).unwrap()
    }

    #[test]
    fn fields_are_written_as_the_default_formatter_writes_them() {
        let default = logged(DefaultFields::new());
        let plain = logged(PlainFields::default());
        assert_eq!(plain, default);
        // The escapes are there to compare: control characters escaped.
        assert!(
            plain.contains("\\x1b[31mcolour\\x07 and \\u{85} C1"),
            "{plain}"
        );
        assert!(
            plain.contains("error=outer \\x1b[31mfailed error.sources=[inner \\u{9b}2J cause]"),
            "{plain}"
        );
        assert!(!plain.contains("log.target"), "{plain}");
        assert_eq!(plain.lines().count(), 6, "{plain}");
    }
}
