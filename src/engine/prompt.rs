//! The LLM planner's prompts: `prompts/*.md`, read at start so a platform team can
//! tune them without a rebuild (the built-in copies serve when the folder is missing),
//! and the system prompt rendered with the catalog's environments, teams and services.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::domain::Environment;
use crate::platform::catalog::Catalog;

use super::memory::count_tokens;

/// The prompt files and their built-in copies.
const FILES: [(&str, &str); 3] = [
    ("system.md", include_str!("../../prompts/system.md")),
    ("answer.md", include_str!("../../prompts/answer.md")),
    (
        "docs-answer.md",
        include_str!("../../prompts/docs-answer.md"),
    ),
];

/// Placeholders `system.md` may use.
const PLACEHOLDERS: [&str; 4] = [
    "{{environments}}",
    "{{teams}}",
    "{{services}}",
    "{{change_tools}}",
];

#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("cannot read prompt {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("prompt {}: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
}

/// The prompt texts.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompts {
    /// Who the model is, the rules, and the catalog summary (placeholders).
    pub system: String,
    /// The closing request's instruction after read results.
    pub answer: String,
    /// The closing request's instruction when the results are docs passages with sources.
    pub docs_answer: String,
}

impl Prompts {
    /// The copies compiled into the binary.
    pub fn builtin() -> Prompts {
        let [system, answer, docs] = FILES.map(|(_, text)| text.trim().to_owned());
        Prompts {
            system,
            answer,
            docs_answer: docs,
        }
    }

    /// `dir/*.md` when the folder exists (each file must be there), else the built-in copies.
    pub fn load(dir: &Path) -> Result<Prompts, PromptError> {
        if !dir.is_dir() {
            return Ok(Self::builtin());
        }
        let read = |name: &str| {
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path).map_err(|source| PromptError::Io {
                path: path.clone(),
                source,
            })?;
            let text = text.trim().to_owned();
            if text.is_empty() {
                return Err(PromptError::Invalid {
                    path,
                    reason: "is empty".into(),
                });
            }
            Ok((path, text))
        };
        let (system_path, system) = read(FILES[0].0)?;
        if let Some(unknown) = unknown_placeholder(&system) {
            return Err(PromptError::Invalid {
                path: system_path,
                reason: format!(
                    "unknown placeholder `{unknown}`; known: {}",
                    PLACEHOLDERS.join(", ")
                ),
            });
        }
        Ok(Prompts {
            system,
            answer: read(FILES[1].0)?.1,
            docs_answer: read(FILES[2].0)?.1,
        })
    }

    /// The system prompt with the catalog's teams and services listed in at most
    /// `budget` tokens (what does not fit is counted, not listed).
    pub fn render_system(
        &self,
        catalog: &Catalog,
        environments: &[Environment],
        change_tools: &[&str],
        budget: usize,
    ) -> String {
        let envs: Vec<&str> = environments.iter().map(Environment::as_str).collect();
        let teams: Vec<String> = catalog.teams().map(|t| t.name.to_string()).collect();
        let services: Vec<String> = catalog
            .services()
            .map(|s| format!("{}: {}", s.name, s.owner))
            .collect();
        let teams = capped_list(&teams, budget / 3);
        let services = capped_list(&services, budget.saturating_sub(count_tokens(&teams)));
        let changes = if change_tools.is_empty() {
            "none in this build".to_owned()
        } else {
            change_tools.join(", ")
        };
        self.system
            .replace("{{environments}}", &envs.join(", "))
            .replace("{{teams}}", &teams)
            .replace("{{services}}", &services)
            .replace("{{change_tools}}", &changes)
    }
}

fn unknown_placeholder(text: &str) -> Option<String> {
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let tail = &rest[start..];
        let end = tail.find("}}").map_or(tail.len(), |e| e + 2);
        let found = &tail[..end];
        if !PLACEHOLDERS.contains(&found) {
            return Some(found.to_owned());
        }
        rest = &tail[end..];
    }
    None
}

/// `items` joined with ", " within `budget` tokens; what does not fit is counted.
fn capped_list(items: &[String], budget: usize) -> String {
    if items.is_empty() {
        return "none in the catalog".to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for (i, item) in items.iter().enumerate() {
        let cost = count_tokens(item) + 1;
        if used + cost > budget {
            let _ = write!(out, " and {} more", items.len() - i);
            return out;
        }
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(item);
        used += cost;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envs() -> Vec<Environment> {
        ["dev", "staging", "prod"]
            .iter()
            .map(|e| Environment::parse(e).unwrap())
            .collect()
    }

    #[test]
    fn builtin_prompts_match_the_files_on_disk() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
        assert_eq!(Prompts::load(&dir).unwrap(), Prompts::builtin());
        assert_eq!(
            Prompts::load(Path::new("/nonexistent")).unwrap(),
            Prompts::builtin()
        );
    }

    #[test]
    fn system_prompt_names_the_catalog_and_fills_every_placeholder() {
        let p = Prompts::builtin();
        let text = p.render_system(&Catalog::sandbox(), &envs(), &["create_namespace"], 2000);
        assert!(!text.contains("{{"), "{text}");
        assert!(text.contains("dev, staging, prod"), "{text}");
        assert!(text.contains("payments-api: payments"), "{text}");
        assert!(text.contains("create_namespace"), "{text}");
    }

    #[test]
    fn a_big_catalog_is_cut_to_the_budget() {
        let p = Prompts::builtin();
        let full = p.render_system(&Catalog::sandbox(), &envs(), &[], 5000);
        let small = p.render_system(&Catalog::sandbox(), &envs(), &[], 60);
        assert!(count_tokens(&small) < count_tokens(&full));
        assert!(small.contains(" more"), "{small}");
    }

    #[test]
    fn an_edited_prompt_folder_is_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in FILES {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        std::fs::write(dir.path().join("answer.md"), "Be terse.\n").unwrap();
        assert_eq!(Prompts::load(dir.path()).unwrap().answer, "Be terse.");
        std::fs::write(dir.path().join("system.md"), "Hi {{servcies}}").unwrap();
        let err = Prompts::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("{{servcies}}"), "{err}");
        std::fs::remove_file(dir.path().join("docs-answer.md")).unwrap();
        std::fs::write(dir.path().join("system.md"), "Hi").unwrap();
        assert!(Prompts::load(dir.path()).is_err());
    }
}
