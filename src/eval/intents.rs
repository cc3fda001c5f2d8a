//! The intent eval: a planner's [`Intent`] per utterance, scored by the rule in the
//! eval set's README. Normal case: same tool and every expected argument equal
//! (strings case-insensitively, `environment` canonicalised, numbers as numbers;
//! extra predicted arguments are fine). Clarify case: the planner asks back.
//! Null case: the planner calls no tool.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::canonical_environment;
use crate::engine::intent::Intent;
use crate::engine::llm::Predicted;

/// Row names for the cases that are not about one tool's arguments.
pub const CLARIFY_ROW: &str = "clarify";
pub const NULL_ROW: &str = "null";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentCase {
    pub id: String,
    pub utterance: String,
    pub expect: Expect,
}

/// What a case expects: a tool with arguments, a question back (`clarify`), or no tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// `None` (JSON `null`): not a platform request.
    pub tool: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub args: Map<String, Value>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub clarify: bool,
}

impl Expect {
    /// The report row this case counts in.
    pub fn row(&self) -> &str {
        match (&self.tool, self.clarify) {
            (_, true) => CLARIFY_ROW,
            (None, false) => NULL_ROW,
            (Some(tool), false) => tool,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: {source}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("{}:{line}: case id `{id}` was already used", path.display())]
    DuplicateId {
        path: PathBuf,
        line: usize,
        id: String,
    },
}

/// Reads a JSONL file of cases; blank lines are skipped, errors name the line.
pub fn load_cases(path: &Path) -> Result<Vec<IntentCase>, EvalError> {
    let src = std::fs::read_to_string(path).map_err(|source| EvalError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut ids = HashSet::new();
    let mut cases = Vec::new();
    for (i, line) in src.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let case: IntentCase = serde_json::from_str(line).map_err(|source| EvalError::Parse {
            path: path.to_owned(),
            line: i + 1,
            source,
        })?;
        if !ids.insert(case.id.clone()) {
            return Err(EvalError::DuplicateId {
                path: path.to_owned(),
                line: i + 1,
                id: case.id,
            });
        }
        cases.push(case);
    }
    Ok(cases)
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ToolScore {
    pub total: usize,
    pub passed: usize,
    pub accuracy: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailedCase {
    pub id: String,
    pub utterance: String,
    pub expect: Expect,
    pub predicted: Predicted,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntentReport {
    pub total: usize,
    pub passed: usize,
    pub accuracy: f64,
    /// Per expected tool, plus the `clarify` and `null` rows.
    pub per_tool: BTreeMap<String, ToolScore>,
    pub failed: Vec<FailedCase>,
}

fn ratio(passed: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        passed as f64 / total as f64
    }
}

/// Runs `predict` on every case and scores it.
pub fn score<P: Into<Predicted>>(
    cases: &[IntentCase],
    mut predict: impl FnMut(&str) -> P,
) -> IntentReport {
    let mut per_tool: BTreeMap<String, ToolScore> = BTreeMap::new();
    let mut failed = Vec::new();
    for case in cases {
        let predicted = predict(&case.utterance).into();
        let ok = passes(&case.expect, &predicted);
        let row = per_tool.entry(case.expect.row().to_owned()).or_default();
        row.total += 1;
        if ok {
            row.passed += 1;
        } else {
            failed.push(FailedCase {
                id: case.id.clone(),
                utterance: case.utterance.clone(),
                expect: case.expect.clone(),
                predicted,
            });
        }
    }
    for row in per_tool.values_mut() {
        row.accuracy = ratio(row.passed, row.total);
    }
    let total = cases.len();
    let passed = total - failed.len();
    IntentReport {
        total,
        passed,
        accuracy: ratio(passed, total),
        per_tool,
        failed,
    }
}

/// The README's rule for one case.
pub fn passes(expect: &Expect, predicted: &Predicted) -> bool {
    use Predicted::{Question, UnknownTool};
    if expect.clarify {
        return matches!(
            predicted,
            Question(_) | Predicted::Intent(Intent::Clarify(_))
        );
    }
    let Some(tool) = &expect.tool else {
        return !matches!(
            predicted,
            UnknownTool(_) | Predicted::Intent(Intent::Call(_))
        );
    };
    let Predicted::Intent(predicted) = predicted else {
        return false;
    };
    match predicted {
        Intent::Call(call) => {
            call.tool.as_str().eq_ignore_ascii_case(tool)
                && expect
                    .args
                    .iter()
                    .all(|(k, want)| call.args.get(k).is_some_and(|got| same_value(k, want, got)))
        }
        Intent::Clarify(_) | Intent::NotPlatform { .. } => false,
    }
}

fn same_value(key: &str, want: &Value, got: &Value) -> bool {
    if let (Some(a), Some(b)) = (as_number(want), as_number(got)) {
        return a == b;
    }
    match (want, got) {
        (Value::String(a), Value::String(b)) if key == "environment" => {
            environment(a) == environment(b)
        }
        (Value::String(a), Value::String(b)) => a.trim().eq_ignore_ascii_case(b.trim()),
        _ => want == got,
    }
}

/// A JSON number, or a string holding one ("5" = 5).
fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn environment(raw: &str) -> String {
    let lower = raw.trim().to_lowercase();
    canonical_environment(&lower).map_or(lower, str::to_owned)
}

impl IntentReport {
    /// The overall line, a table per row (tools, then `clarify` and `null`), the failures.
    pub fn render_text(&self) -> String {
        let mut out = format!(
            "intent accuracy: {}/{} = {:.1}%\n\n{:<22} {:>5} {:>6} {:>8}\n",
            self.passed,
            self.total,
            self.accuracy * 100.0,
            "row",
            "total",
            "passed",
            "accuracy"
        );
        let special = [CLARIFY_ROW, NULL_ROW];
        let tools = self
            .per_tool
            .iter()
            .filter(|(k, _)| !special.contains(&k.as_str()));
        let extra = special
            .iter()
            .filter_map(|k| self.per_tool.get_key_value(*k));
        for (row, s) in tools.chain(extra) {
            let _ = writeln!(
                out,
                "{row:<22} {:>5} {:>6} {:>7.1}%",
                s.total,
                s.passed,
                s.accuracy * 100.0
            );
        }
        if !self.failed.is_empty() {
            let _ = writeln!(out, "\nfailures ({}):", self.failed.len());
        }
        for f in &self.failed {
            let _ = writeln!(
                out,
                "  {} {:?}\n    expected {}\n    got      {}",
                f.id,
                f.utterance,
                describe_expect(&f.expect),
                describe_intent(&f.predicted)
            );
        }
        out
    }
}

fn describe_expect(e: &Expect) -> String {
    match (&e.tool, e.clarify) {
        (Some(t), true) => format!("a question ({t})"),
        (None, true) => "a question".to_owned(),
        (None, false) => "no tool".to_owned(),
        (Some(t), false) => format!("{t} {}", Value::Object(e.args.clone())),
    }
}

fn describe_intent(p: &Predicted) -> String {
    let i = match p {
        Predicted::Question(q) => return format!("question (no tool): {q}"),
        Predicted::UnknownTool(name) => return format!("{name}, a tool platbot does not have"),
        Predicted::Intent(i) => i,
    };
    match i {
        Intent::Call(c) => format!("{} {}", c.tool, Value::Object(c.args.clone())),
        Intent::Clarify(c) => format!(
            "question ({}, missing {:?}): {}",
            c.tool, c.missing, c.question
        ),
        Intent::NotPlatform { .. } => "no tool".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::intent::{Clarification, ToolCall};
    use serde_json::json;

    fn case(line: &str) -> IntentCase {
        serde_json::from_str(line).unwrap()
    }

    fn call(tool: &str, args: Value) -> Predicted {
        Intent::Call(ToolCall {
            tool: tool.parse().unwrap(),
            args: args.as_object().cloned().unwrap(),
        })
        .into()
    }

    fn question() -> Predicted {
        Intent::Clarify(Clarification {
            tool: crate::domain::ToolName::RestartDeployment,
            args: Map::new(),
            missing: vec!["environment".into()],
            question: "Which environment?".into(),
            choices: Vec::new(),
        })
        .into()
    }

    fn chat() -> Predicted {
        Intent::NotPlatform { reply: "hi".into() }.into()
    }

    #[test]
    fn arguments_compare_loosely_as_the_readme_says() {
        let e = case(r#"{"id":"a","utterance":"u","expect":{"tool":"scale_deployment","args":{"service":"cart","environment":"prod","replicas":5}}}"#).expect;
        assert!(passes(
            &e,
            &call(
                "scale_deployment",
                json!({"service": "Cart", "environment": "production", "replicas": "5"})
            )
        ));
        // A predicted tool is typed; the expectation's name is read regardless of case.
        let shouting = case(r#"{"id":"b","utterance":"u","expect":{"tool":"Scale_Deployment","args":{"service":"cart","environment":"prod","replicas":5}}}"#).expect;
        assert!(passes(
            &shouting,
            &call(
                "scale_deployment",
                json!({"service": "cart", "environment": "PRD", "replicas": 5.0, "extra": 1})
            )
        ));
        assert!(!passes(
            &e,
            &call(
                "scale_deployment",
                json!({"service": "cart", "environment": "staging", "replicas": 5})
            )
        ));
        assert!(!passes(
            &e,
            &call(
                "scale_deployment",
                json!({"service": "cart", "environment": "prod"})
            )
        ));
        assert!(!passes(
            &e,
            &call(
                "restart_deployment",
                json!({"service": "cart", "environment": "prod", "replicas": 5})
            )
        ));
        assert!(!passes(&e, &question()));
    }

    #[test]
    fn environment_is_canonicalised_only_for_the_environment() {
        let e = case(r#"{"id":"a","utterance":"u","expect":{"tool":"list_deployments","args":{"team":"live"}}}"#).expect;
        assert!(!passes(
            &e,
            &call("list_deployments", json!({"team": "prod"}))
        ));
        let e = case(r#"{"id":"a","utterance":"u","expect":{"tool":"list_deployments","args":{"environment":"dev"}}}"#).expect;
        assert!(passes(
            &e,
            &call("list_deployments", json!({"environment": "development"}))
        ));
    }

    #[test]
    fn clarify_cases_pass_only_on_a_question_null_cases_on_anything_but_a_call() {
        let c = case(
            r#"{"id":"a","utterance":"u","expect":{"tool":"restart_deployment","clarify":true}}"#,
        )
        .expect;
        assert!(passes(&c, &question()));
        assert!(!passes(&c, &chat()));
        assert!(!passes(
            &c,
            &call(
                "restart_deployment",
                json!({"service": "cart", "environment": "prod"})
            )
        ));
        let n = case(r#"{"id":"a","utterance":"u","expect":{"tool":null}}"#).expect;
        assert!(passes(&n, &chat()));
        assert!(passes(&n, &question()));
        assert!(!passes(&n, &call("search_docs", json!({"query": "x"}))));
        let docs =
            case(r#"{"id":"a","utterance":"u","expect":{"tool":"search_docs","args":{}}}"#).expect;
        assert!(passes(
            &docs,
            &call("search_docs", json!({"query": "anything"}))
        ));
    }

    #[test]
    fn report_has_rows_per_tool_clarify_and_null_and_lists_failures() {
        let cases = [
            case(
                r#"{"id":"1","utterance":"restart cart","expect":{"tool":"restart_deployment","clarify":true}}"#,
            ),
            case(r#"{"id":"2","utterance":"joke","expect":{"tool":null}}"#),
            case(r#"{"id":"3","utterance":"docs","expect":{"tool":"search_docs","args":{}}}"#),
            case(r#"{"id":"4","utterance":"more docs","expect":{"tool":"search_docs","args":{}}}"#),
        ];
        let report = score(&cases, |u| match u {
            "restart cart" => question(),
            "docs" => call("search_docs", json!({"query": u})),
            _ => chat(),
        });
        assert_eq!((report.total, report.passed), (4, 3));
        assert_eq!(report.accuracy, 0.75);
        assert_eq!(
            report.per_tool["search_docs"],
            ToolScore {
                total: 2,
                passed: 1,
                accuracy: 0.5
            }
        );
        assert_eq!(report.per_tool[CLARIFY_ROW].passed, 1);
        assert_eq!(report.per_tool[NULL_ROW].passed, 1);
        assert_eq!(report.failed.len(), 1);
        assert_eq!(report.failed[0].id, "4");
        let text = report.render_text();
        assert!(text.starts_with("intent accuracy: 3/4 = 75.0%"), "{text}");
        let rows: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        let pos = |r: &str| rows.iter().position(|x| *x == r).unwrap();
        assert!(
            pos("search_docs") < pos(CLARIFY_ROW) && pos(CLARIFY_ROW) < pos(NULL_ROW),
            "{text}"
        );
        assert!(text.contains("  4 \"more docs\""), "{text}");
        assert!(serde_json::to_value(&report).is_ok());
    }

    #[test]
    fn load_cases_names_the_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cases.jsonl");
        let good = r#"{"id":"a","utterance":"u","expect":{"tool":null}}"#;
        std::fs::write(&path, format!("{good}\n\n{{\"id\":\"b\"}}\n")).unwrap();
        let err = load_cases(&path).unwrap_err();
        assert!(matches!(err, EvalError::Parse { line: 3, .. }), "{err}");
        assert!(err.to_string().contains("cases.jsonl:3:"), "{err}");
        std::fs::write(&path, format!("{good}\n{good}\n")).unwrap();
        assert!(matches!(
            load_cases(&path).unwrap_err(),
            EvalError::DuplicateId { line: 2, .. }
        ));
        std::fs::write(&path, format!("{good}\n")).unwrap();
        assert_eq!(load_cases(&path).unwrap().len(), 1);
    }
}
