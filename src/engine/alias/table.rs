//! The alias table: one `tools/<tool>.yaml` per tool, edited by the platform team.
//! The format is documented in `tools/README.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::text::tokenize;
use crate::engine::nlu::{Corpus, CorpusError};

/// The tool files compiled into the binary.
const BUILTIN: [(&str, &str); 12] = [
    (
        "search_docs.yaml",
        include_str!("../../../tools/search_docs.yaml"),
    ),
    (
        "create_namespace.yaml",
        include_str!("../../../tools/create_namespace.yaml"),
    ),
    (
        "deployment_status.yaml",
        include_str!("../../../tools/deployment_status.yaml"),
    ),
    (
        "list_deployments.yaml",
        include_str!("../../../tools/list_deployments.yaml"),
    ),
    (
        "who_is_on_call.yaml",
        include_str!("../../../tools/who_is_on_call.yaml"),
    ),
    (
        "diagnose.yaml",
        include_str!("../../../tools/diagnose.yaml"),
    ),
    (
        "pod_logs.yaml",
        include_str!("../../../tools/pod_logs.yaml"),
    ),
    (
        "rollout_history.yaml",
        include_str!("../../../tools/rollout_history.yaml"),
    ),
    (
        "restart_deployment.yaml",
        include_str!("../../../tools/restart_deployment.yaml"),
    ),
    (
        "scale_deployment.yaml",
        include_str!("../../../tools/scale_deployment.yaml"),
    ),
    (
        "rollback_deployment.yaml",
        include_str!("../../../tools/rollback_deployment.yaml"),
    ),
    (
        "set_memory_limit.yaml",
        include_str!("../../../tools/set_memory_limit.yaml"),
    ),
];

/// The largest weight a pattern may have, either way: a typo such as `40` for `4`
/// would otherwise silently decide every message.
const MAX_WEIGHT: f32 = 20.0;

/// One tool's file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolAliases {
    pub name: String,
    /// One or two sentences for the LLM planner.
    #[serde(default)]
    pub description: String,
    /// A few utterances people actually type.
    #[serde(default)]
    pub examples: Vec<String>,
    /// Phrase -> weight; `*` in a phrase stands for up to three words.
    #[serde(default)]
    pub patterns: BTreeMap<String, f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Who may confirm this tool's proposals; read by the approval module.
    pub policy: Option<crate::approval::ActionPolicy>,
}

#[derive(Debug, thiserror::Error)]
pub enum AliasError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: {source}")]
    Yaml {
        file: String,
        #[source]
        source: serde_norway::Error,
    },
    #[error("{file}: pattern `{pattern}`: {reason}")]
    Pattern {
        file: String,
        pattern: String,
        reason: String,
    },
    #[error("{file}: `name: {name}` does not match the file name")]
    NameMismatch { file: String, name: String },
    #[error(transparent)]
    Examples(#[from] CorpusError),
    #[error("tool `{name}` is defined twice ({first} and {second})")]
    Duplicate {
        name: String,
        first: String,
        second: String,
    },
}

/// Every tool's aliases, by tool name, and the example templates the planner's
/// classifier learns from.
#[derive(Debug, Clone, Default)]
pub struct AliasTable {
    tools: BTreeMap<String, (String, ToolAliases)>,
    corpus: Corpus,
}

impl AliasTable {
    /// Reads every `*.yaml` / `*.yml` directly in `dir` (sub-folders such as
    /// `golden-paths/` hold other things). Each file's `name` must match its file name.
    /// The example templates come from `dir/examples/` when it exists, else the built-in ones.
    pub fn load_dir(dir: &Path) -> Result<AliasTable, AliasError> {
        let io = |source| AliasError::Io {
            path: dir.to_owned(),
            source,
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(io)?;
        files.retain(|p| p.is_file() && is_yaml(p));
        files.sort();
        let mut table = AliasTable::default();
        for path in files {
            let src = std::fs::read_to_string(&path).map_err(|source| AliasError::Io {
                path: path.clone(),
                source,
            })?;
            let file = path.display().to_string();
            let tool = Self::from_yaml(&file, &src)?;
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            if stem != tool.name {
                return Err(AliasError::NameMismatch {
                    file,
                    name: tool.name,
                });
            }
            table.insert(&file, tool)?;
        }
        let examples = dir.join("examples");
        table.corpus = if examples.is_dir() {
            Corpus::load_dir(&examples)?
        } else {
            Corpus::builtin()
        };
        Ok(table)
    }

    /// The tool files compiled into the binary (`tools/*.yaml`).
    pub fn builtin() -> AliasTable {
        let mut table = AliasTable {
            corpus: Corpus::builtin(),
            ..AliasTable::default()
        };
        for (file, src) in BUILTIN {
            let added = Self::from_yaml(file, src).and_then(|t| table.insert(file, t));
            if let Err(e) = added {
                // Unreachable in a tested build: the files are compiled in and unit-tested.
                tracing::error!(error = %e, "builtin alias file does not load");
            }
        }
        table
    }

    /// Parses and checks one tool file; `name_hint` (usually the path) names it in errors.
    pub fn from_yaml(name_hint: &str, src: &str) -> Result<ToolAliases, AliasError> {
        let tool: ToolAliases = serde_norway::from_str(src).map_err(|source| AliasError::Yaml {
            file: name_hint.to_owned(),
            source,
        })?;
        for (phrase, weight) in &tool.patterns {
            check_pattern(phrase, *weight).map_err(|reason| AliasError::Pattern {
                file: name_hint.to_owned(),
                pattern: phrase.clone(),
                reason,
            })?;
        }
        Ok(tool)
    }

    /// Adds a tool; `origin` names where it came from if it is a duplicate.
    pub fn insert(&mut self, origin: &str, tool: ToolAliases) -> Result<(), AliasError> {
        if let Some((first, _)) = self.tools.get(&tool.name) {
            return Err(AliasError::Duplicate {
                name: tool.name.clone(),
                first: first.clone(),
                second: origin.to_owned(),
            });
        }
        self.tools
            .insert(tool.name.clone(), (origin.to_owned(), tool));
        Ok(())
    }

    /// The example templates (`tools/examples/*.txt`).
    pub fn corpus(&self) -> &Corpus {
        &self.corpus
    }

    /// The same tools with other example templates.
    pub fn with_corpus(mut self, corpus: Corpus) -> Self {
        self.corpus = corpus;
        self
    }

    pub fn get(&self, tool: &str) -> Option<&ToolAliases> {
        self.tools.get(tool).map(|(_, t)| t)
    }

    /// Tools in name order.
    pub fn iter(&self) -> impl Iterator<Item = &ToolAliases> {
        self.tools.values().map(|(_, t)| t)
    }

    pub fn len(&self) -> usize {
        self.tools.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }
}

fn is_yaml(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

/// The words of a pattern as they will be matched; `*` is a gap.
pub(crate) fn pattern_words(phrase: &str) -> Vec<String> {
    phrase
        .split_whitespace()
        .flat_map(|part| {
            if part == "*" {
                vec!["*".to_owned()]
            } else {
                tokenize(part)
            }
        })
        .collect()
}

fn check_pattern(phrase: &str, weight: f32) -> Result<(), String> {
    if !weight.is_finite() || weight.abs() > MAX_WEIGHT {
        return Err(format!(
            "weight {weight} is outside -{MAX_WEIGHT}..{MAX_WEIGHT}"
        ));
    }
    let words = pattern_words(phrase);
    match (words.first(), words.last()) {
        (None, _) => Err("has no words".into()),
        (Some(first), Some(last)) if first == "*" || last == "*" => {
            Err("`*` may only stand between words".into())
        }
        _ if words.windows(2).any(|w| w[0] == "*" && w[1] == "*") => {
            Err("`* *`: use one `*`".into())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::spec::all_tools;

    #[test]
    fn builtin_table_has_every_tool_with_description_examples_and_patterns() {
        let table = AliasTable::builtin();
        for spec in all_tools() {
            let t = table
                .get(spec.name.as_str())
                .unwrap_or_else(|| panic!("no tools/{}.yaml", spec.name));
            assert!(!t.description.is_empty(), "{}", spec.name);
            assert!(t.examples.len() >= 3, "{}", spec.name);
            assert!(!t.patterns.is_empty(), "{}", spec.name);
        }
        assert_eq!(table.len(), 12);
    }

    #[test]
    fn builtin_matches_the_files_on_disk() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools");
        let on_disk = AliasTable::load_dir(&dir).unwrap();
        let builtin = AliasTable::builtin();
        assert_eq!(on_disk.len(), builtin.len());
        for t in builtin.iter() {
            assert_eq!(on_disk.get(&t.name), Some(t));
        }
    }

    #[test]
    fn policy_is_typed_and_unknown_keys_are_refused() {
        let src = "name: restart_deployment\npatterns: {restart: 4}\npolicy:\n  approvers: [sre]\n  second_approver_environments: [production]\n";
        let t = AliasTable::from_yaml("r.yaml", src).unwrap();
        let policy = t.policy.unwrap();
        assert_eq!(policy.approvers, Some(vec!["sre".to_owned()]));
        let prod = crate::domain::Environment::parse("prod").unwrap();
        assert_eq!(policy.second_approver_environments, Some(vec![prod]));
        let typo = "name: restart_deployment\npatterns: {restart: 4}\npolicy:\n  aprovers: [sre]\n";
        assert!(AliasTable::from_yaml("r.yaml", typo).is_err());
    }

    #[test]
    fn bad_files_are_refused_with_the_file_and_the_reason() {
        let typo = AliasTable::from_yaml("x.yaml", "name: x\npattern: {a: 1}\n").unwrap_err();
        assert!(typo.to_string().starts_with("x.yaml:"), "{typo}");
        for (src, needle) in [
            ("name: x\npatterns: {'* restart': 1}\n", "between words"),
            ("name: x\npatterns: {restart: 400}\n", "outside"),
            ("name: x\npatterns: {'??': 1}\n", "no words"),
        ] {
            let err = AliasTable::from_yaml("x.yaml", src).unwrap_err();
            assert!(err.to_string().contains(needle), "{err}");
        }
    }

    #[test]
    fn load_dir_checks_names_and_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("restart.yaml"),
            "name: restart_deployment\n",
        )
        .unwrap();
        let err = AliasTable::load_dir(dir.path()).unwrap_err();
        assert!(matches!(err, AliasError::NameMismatch { .. }), "{err}");
        std::fs::remove_file(dir.path().join("restart.yaml")).unwrap();
        std::fs::write(dir.path().join("pod_logs.yaml"), "name: pod_logs\n").unwrap();
        std::fs::write(dir.path().join("pod_logs.yml"), "name: pod_logs\n").unwrap();
        let err = AliasTable::load_dir(dir.path()).unwrap_err();
        assert!(matches!(err, AliasError::Duplicate { .. }), "{err}");
    }

    #[test]
    fn pattern_words_are_tokenised_like_messages() {
        assert_eq!(pattern_words("what's wrong"), ["whats", "wrong"]);
        assert_eq!(pattern_words("cycle * pods"), ["cycle", "*", "pods"]);
        assert_eq!(pattern_words("on-call"), ["on-call"]);
    }
}
