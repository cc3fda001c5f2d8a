//! A progress bar for `platbot index` on a terminal (indicatif); silent when
//! stderr is not a terminal, so scripts and CI logs get only the summary.

use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::IndexEvent;

pub struct TerminalProgress {
    bar: ProgressBar,
    stage: Mutex<&'static str>,
}

impl Default for TerminalProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl TerminalProgress {
    pub fn new() -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        Self {
            bar,
            stage: Mutex::new(""),
        }
    }

    pub fn update(&self, event: IndexEvent) {
        let (stage, done, total) = match event {
            IndexEvent::Scanned { files } => {
                self.bar.set_message(format!("{files} files"));
                return;
            }
            IndexEvent::Parsed { done, total } => ("parsing", done, total),
            IndexEvent::Embedding { done, total } => ("embedding", done, total),
            IndexEvent::Writing { done, total } => ("writing", done, total),
        };
        let mut current = self
            .stage
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *current != stage {
            *current = stage;
            self.bar.set_prefix(stage);
            self.bar.set_length(total as u64);
        }
        self.bar.set_position(done as u64);
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
