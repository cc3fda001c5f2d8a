//! The training phrasings the platform team owns: `tools/examples/<label>.txt`, one
//! template per line, where `<label>` is a tool name or `none` (chit-chat, off-topic,
//! changes no tool makes). A template expands into the sentences it stands for:
//!
//! - `(a|b|c)`: one of the alternatives (which may nest); `(please |)` makes a word optional;
//! - `{service}`, `{team}`, `{subject}`, `{environment}`, `{replicas}`, `{lines}`,
//!   `{revision}`, `{memory}`: an argument's value. These are the slot annotations: the model sees
//!   them masked (`<service>`, `<env>`, `<num>`), as it sees catalog names, environments
//!   and numbers in a real message.
//!
//! `#` starts a comment line. The format is described for the team in `tools/README.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::features::Slot;

/// The label of messages that are not platform requests.
pub const NONE_LABEL: &str = "none";

/// The template files compiled into the binary (`tools/examples/*.txt`).
const BUILTIN: [(&str, &str); 13] = [
    ("none", include_str!("../../../tools/examples/none.txt")),
    (
        "search_docs",
        include_str!("../../../tools/examples/search_docs.txt"),
    ),
    (
        "create_namespace",
        include_str!("../../../tools/examples/create_namespace.txt"),
    ),
    (
        "deployment_status",
        include_str!("../../../tools/examples/deployment_status.txt"),
    ),
    (
        "list_deployments",
        include_str!("../../../tools/examples/list_deployments.txt"),
    ),
    (
        "who_is_on_call",
        include_str!("../../../tools/examples/who_is_on_call.txt"),
    ),
    (
        "diagnose",
        include_str!("../../../tools/examples/diagnose.txt"),
    ),
    (
        "pod_logs",
        include_str!("../../../tools/examples/pod_logs.txt"),
    ),
    (
        "rollout_history",
        include_str!("../../../tools/examples/rollout_history.txt"),
    ),
    (
        "restart_deployment",
        include_str!("../../../tools/examples/restart_deployment.txt"),
    ),
    (
        "scale_deployment",
        include_str!("../../../tools/examples/scale_deployment.txt"),
    ),
    (
        "rollback_deployment",
        include_str!("../../../tools/examples/rollback_deployment.txt"),
    ),
    (
        "set_memory_limit",
        include_str!("../../../tools/examples/set_memory_limit.txt"),
    ),
];

/// How many sentences one template line may stand for; larger products are sampled.
pub const MAX_VARIANTS: usize = 6;

#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: {reason}")]
    Template { origin: String, reason: String },
}

/// One piece of a template variant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Part {
    Text(String),
    /// An argument's value, by argument name.
    Value(SlotArg),
}

/// A slot of a template: the argument it fills and how the model sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SlotArg {
    Service,
    Team,
    /// The on-call subject: a team or a service (variants alternate).
    Subject,
    Environment,
    Replicas,
    Lines,
    Revision,
    /// A memory size in MiB.
    Memory,
}

impl SlotArg {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "service" => SlotArg::Service,
            "team" => SlotArg::Team,
            "subject" => SlotArg::Subject,
            "environment" | "env" => SlotArg::Environment,
            "replicas" => SlotArg::Replicas,
            "lines" => SlotArg::Lines,
            "revision" => SlotArg::Revision,
            "memory" | "memory_mib" => SlotArg::Memory,
            _ => return None,
        })
    }

    /// The mask the model sees; `variant` alternates a subject between service and team.
    pub fn slot(self, variant: usize) -> Slot {
        match self {
            SlotArg::Service => Slot::Service,
            SlotArg::Team => Slot::Team,
            SlotArg::Subject if variant.is_multiple_of(2) => Slot::Service,
            SlotArg::Subject => Slot::Team,
            SlotArg::Environment => Slot::Environment,
            SlotArg::Replicas | SlotArg::Lines | SlotArg::Revision | SlotArg::Memory => {
                Slot::Number
            }
        }
    }
}

/// One sentence of the corpus, with its label and the template line it came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Phrasing {
    pub label: String,
    pub parts: Vec<Part>,
    /// Index of the template line: variants of one line share it (for grouped CV).
    pub group: usize,
    pub variant: usize,
}

/// A template line: text, slots and (possibly nested) choices, in order.
#[derive(Debug, Clone, PartialEq)]
struct Line {
    shape: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Fixed(Part),
    /// Alternatives, each a sequence of nodes.
    Choice(Vec<Vec<Node>>),
}

/// Every label's template lines.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Corpus {
    labels: BTreeMap<String, Vec<Line>>,
}

impl Corpus {
    /// The template files compiled into the binary.
    pub fn builtin() -> Corpus {
        let mut corpus = Corpus::default();
        for (label, src) in BUILTIN {
            if let Err(e) = corpus.add(label, &format!("examples/{label}.txt"), src) {
                // Unreachable in a tested build: the files are compiled in and unit-tested.
                tracing::error!(error = %e, "builtin example file does not parse");
            }
        }
        corpus
    }

    /// Reads every `*.txt` in `dir`; the file name (without `.txt`) is the label.
    pub fn load_dir(dir: &Path) -> Result<Corpus, CorpusError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| CorpusError::Io { path, source }
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io(dir))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(io(dir))?;
        files.retain(|p| p.is_file() && p.extension().is_some_and(|e| e == "txt"));
        files.sort();
        let mut corpus = Corpus::default();
        for path in files {
            let src = std::fs::read_to_string(&path).map_err(io(&path))?;
            let label = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_owned();
            corpus.add(&label, &path.display().to_string(), &src)?;
        }
        Ok(corpus)
    }

    /// Adds the template lines of one file.
    pub fn add(&mut self, label: &str, file: &str, src: &str) -> Result<(), CorpusError> {
        let lines = self.labels.entry(label.to_owned()).or_default();
        for (i, raw) in src.lines().enumerate() {
            let text = raw.trim();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            let shape = parse(text).map_err(|reason| CorpusError::Template {
                origin: format!("{file}:{}", i + 1),
                reason,
            })?;
            lines.push(Line { shape });
        }
        Ok(())
    }

    /// The labels with at least one template, in name order.
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.labels
            .iter()
            .filter(|(_, l)| !l.is_empty())
            .map(|(k, _)| k.as_str())
    }

    /// Every template line's variants (at most [`MAX_VARIANTS`] each), deterministic.
    pub fn phrasings(&self) -> Vec<Phrasing> {
        let mut out = Vec::new();
        let mut group = 0;
        for (label, lines) in &self.labels {
            for line in lines {
                for (variant, parts) in expand(&line.shape, MAX_VARIANTS).into_iter().enumerate() {
                    out.push(Phrasing {
                        label: label.clone(),
                        parts,
                        group,
                        variant,
                    });
                }
                group += 1;
            }
        }
        out
    }

    /// Every literal text fragment of every template (for the planner's vocabulary).
    pub fn texts(&self) -> Vec<&str> {
        fn walk<'a>(nodes: &'a [Node], out: &mut Vec<&'a str>) {
            for node in nodes {
                match node {
                    Node::Fixed(Part::Text(t)) => out.push(t),
                    Node::Fixed(Part::Value(_)) => {}
                    Node::Choice(options) => options.iter().for_each(|o| walk(o, out)),
                }
            }
        }
        let mut out = Vec::new();
        for line in self.labels.values().flatten() {
            walk(&line.shape, &mut out);
        }
        out
    }

    /// Number of template lines.
    pub fn len(&self) -> usize {
        self.labels.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A template line into nodes.
fn parse(text: &str) -> Result<Vec<Node>, String> {
    let (seq, rest) = sequence(text)?;
    match rest.chars().next() {
        None => Ok(seq),
        Some(c) => Err(format!("stray `{c}`")),
    }
}

/// Nodes up to an unmatched `)` or `|` (returned with the rest of the text).
fn sequence(mut rest: &str) -> Result<(Vec<Node>, &str), String> {
    let mut seq = Vec::new();
    loop {
        if let Some(after) = rest.strip_prefix('(') {
            let mut options = Vec::new();
            let mut inner = after;
            loop {
                let (option, tail) = sequence(inner)?;
                options.push(option);
                match tail.chars().next() {
                    Some('|') => inner = &tail[1..],
                    Some(')') => {
                        rest = &tail[1..];
                        break;
                    }
                    _ => return Err("`(` without `)`".into()),
                }
            }
            seq.push(Node::Choice(options));
        } else if let Some(after) = rest.strip_prefix('{') {
            let end = after.find('}').ok_or("`{` without `}`")?;
            let name = after[..end].trim();
            let slot = SlotArg::parse(name).ok_or_else(|| {
                format!("unknown slot `{{{name}}}` (service, team, subject, environment, replicas, lines, revision, memory)")
            })?;
            seq.push(Node::Fixed(Part::Value(slot)));
            rest = &after[end + 1..];
        } else {
            let end = rest.find(['(', ')', '|', '{', '}']).unwrap_or(rest.len());
            if end == 0 {
                if rest.starts_with('}') {
                    return Err("stray `}`".into());
                }
                return Ok((seq, rest));
            }
            seq.push(Node::Fixed(Part::Text(rest[..end].to_owned())));
            rest = &rest[end..];
        }
    }
}

/// How many sentences a sequence stands for (saturating).
fn count(seq: &[Node]) -> usize {
    seq.iter().fold(1usize, |acc, node| {
        let n = match node {
            Node::Fixed(_) => 1,
            Node::Choice(options) => options
                .iter()
                .fold(0usize, |s, o| s.saturating_add(count(o))),
        };
        acc.saturating_mul(n.max(1))
    })
}

/// The `index`-th sentence of a sequence (mixed radix over its nodes).
fn nth(seq: &[Node], mut index: usize, out: &mut Vec<Part>) {
    for node in seq {
        match node {
            Node::Fixed(p) => out.push(p.clone()),
            Node::Choice(options) => {
                let size: usize = options
                    .iter()
                    .fold(0usize, |s, o| s.saturating_add(count(o)))
                    .max(1);
                let mut pick = index % size;
                index /= size;
                for option in options {
                    let n = count(option);
                    if pick < n {
                        nth(option, pick, out);
                        break;
                    }
                    pick -= n;
                }
            }
        }
    }
}

/// Up to `cap` variants of `shape`: all of them when there are few, otherwise a
/// sample drawn by a generator seeded from the line's text (not its place in the file).
fn expand(shape: &[Node], cap: usize) -> Vec<Vec<Part>> {
    let total = count(shape);
    let picks: Vec<usize> = if total <= cap {
        (0..total).collect()
    } else {
        // Distinct pseudo-random indices from a generator seeded by the line itself.
        let mut state = shape_hash(shape) | 1;
        let mut picks = Vec::with_capacity(cap);
        for _ in 0..cap * 8 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let index = (state % total as u64) as usize;
            if !picks.contains(&index) {
                picks.push(index);
            }
            if picks.len() == cap {
                break;
            }
        }
        picks
    };
    picks
        .into_iter()
        .map(|index| {
            let mut parts = Vec::new();
            nth(shape, index, &mut parts);
            parts
        })
        .collect()
}

fn shape_hash(shape: &[Node]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("{shape:?}").bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(corpus: &Corpus) -> Vec<String> {
        corpus
            .phrasings()
            .iter()
            .map(|p| {
                p.parts
                    .iter()
                    .map(|part| match part {
                        Part::Text(t) => t.clone(),
                        Part::Value(v) => format!("{{{v:?}}}"),
                    })
                    .collect::<String>()
            })
            .collect()
    }

    #[test]
    fn templates_expand_to_their_variants() {
        let mut c = Corpus::default();
        c.add(
            "restart_deployment",
            "t",
            "# a comment\n(restart|bounce) {service} (in|on) {environment}\n",
        )
        .unwrap();
        let t = texts(&c);
        assert_eq!(t.len(), 4);
        assert!(
            t.contains(&"bounce {Service} on {Environment}".to_owned()),
            "{t:?}"
        );
        assert!(
            t.contains(&"restart {Service} in {Environment}".to_owned()),
            "{t:?}"
        );
    }

    #[test]
    fn large_products_are_capped_and_stable() {
        let mut c = Corpus::default();
        c.add("x", "t", "(a|b|c|d) (e|f|g|h) (i|j|k) {env}")
            .unwrap();
        let t = texts(&c);
        assert_eq!(t.len(), MAX_VARIANTS);
        let mut unique = t.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), t.len());
        assert_eq!(t, texts(&c));
    }

    #[test]
    fn bad_templates_name_the_line_and_the_reason() {
        let mut c = Corpus::default();
        for (src, needle) in [
            ("ok line\nrestart {servce}", "unknown slot"),
            ("(restart|bounce {service}", "without `)`"),
            ("restart) it", "stray"),
            ("(a|{nope}) x", "unknown slot"),
            ("a } x", "stray"),
        ] {
            let err = c.add("x", "f.txt", src).unwrap_err().to_string();
            assert!(err.contains(needle), "{src:?}: {err}");
        }
        let err = c.add("x", "f.txt", "ok\nrestart {servce}").unwrap_err();
        assert!(err.to_string().starts_with("f.txt:2:"), "{err}");
    }

    #[test]
    fn builtin_files_parse_and_cover_every_tool_and_none() {
        let mut c = Corpus::default();
        for (label, src) in BUILTIN {
            c.add(label, label, src).unwrap();
        }
        let labels: Vec<&str> = c.labels().collect();
        for spec in crate::actions::spec::all_tools() {
            assert!(labels.contains(&spec.name.as_str()), "{}", spec.name);
        }
        assert!(labels.contains(&NONE_LABEL));
        assert_eq!(c, Corpus::builtin());
    }

    #[test]
    fn load_dir_reads_txt_files_as_labels() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pod_logs.txt"), "tail {service}\n").unwrap();
        std::fs::write(dir.path().join("notes.md"), "ignored").unwrap();
        let c = Corpus::load_dir(dir.path()).unwrap();
        assert_eq!(c.labels().collect::<Vec<_>>(), ["pod_logs"]);
        assert_eq!(c.len(), 1);
    }
}
