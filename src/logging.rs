//! The log stream: stderr, as text or JSON lines. Whatever a request puts
//! into a log field — a client id, a username, `acr_values` — is written
//! escaped, so that no value can end a line and forge the next one (JSON
//! escapes by itself; the text format escapes every control character).

use std::fmt::Write as _;
use std::io::IsTerminal;

use tracing_subscriber::field::MakeExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, filter};

use crate::config::{Config, LogFormat};

/// Logs go to stderr; stdout carries only what the operator must read (the
/// first admin password).
pub fn init(config: &Config) {
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let layer = match config.log_format {
        LogFormat::Json => layer
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed(),
        LogFormat::Text => layer
            .fmt_fields(
                tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
                    let name = field.name();
                    // The `log` crate's metadata, already in the line's prefix.
                    if name.starts_with("log.") {
                        return Ok(());
                    }
                    let shown = escaped(&format!("{value:?}"));
                    match name {
                        "message" => write!(writer, "{shown}"),
                        name => write!(writer, "{}={shown}", name.trim_start_matches("r#")),
                    }
                })
                .delimited(" "),
            )
            .boxed(),
    };
    let outage_said_once = filter::dynamic_filter_fn(|meta, _| !repeats_the_outage(meta));
    let _ = tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new(&config.log))
        .with(layer.with_filter(outage_said_once))
        .try_init();
}

/// The session layer's error for each session it cannot save: while the
/// database is known to be away, the outage has been logged once already
/// (`store::outage`), and the request is answered 503.
fn repeats_the_outage(meta: &tracing::Metadata<'_>) -> bool {
    *meta.level() == tracing::Level::ERROR
        && meta.target().starts_with("tower_sessions")
        && crate::store::outage::is_down()
}

/// `text` with every control character (CR, LF, ESC, …) and the Unicode
/// line and paragraph separators written as Rust escapes (`\n`, `\u{1b}`).
pub fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
            let _ = write!(out, "{}", c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            super::escaped("a\nFORGED b\r\u{1b}[31m\u{2028}é"),
            "a\\nFORGED b\\r\\u{1b}[31m\\u{2028}é"
        );
        assert_eq!(super::escaped("plain text"), "plain text");
    }
}
