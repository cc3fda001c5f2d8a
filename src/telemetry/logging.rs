//! Logs on stderr: text for people (colours only on a terminal, so log files and
//! `kubectl logs` get no escape codes), or one JSON object per line for a log pipeline.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("unknown log format {other:?}: use text or json")),
        }
    }
}

/// Installs the global subscriber; the level comes from `PLATBOT_LOG` (`warn` by default).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_env("PLATBOT_LOG")
        // qdrant-edge warns about an mmap probe it never runs embedded: noise.
        .unwrap_or_else(|_| EnvFilter::new("warn,qdrant_edge=error"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => {
            let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            logs.with_ansi(colour).init();
        }
        LogFormat::Json => logs.json().flatten_event(true).with_ansi(false).init(),
    }
}
