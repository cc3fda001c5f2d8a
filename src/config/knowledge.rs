//! `[knowledge]`: which documents the docs index reads, where it keeps them
//! (qdrant-edge under the data dir, or a Qdrant server), and the optional
//! embeddings endpoint. Kept beside `config.rs` so that file only wires it in.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, invalid};

/// Below this share of the question's terms in the best passage, docs answers say
/// they found nothing rather than quote something loosely related.
pub const DEFAULT_SCORE_THRESHOLD: f32 = 0.4;
pub const DEFAULT_DOCS_DIR: &str = "docs-index";
pub const DEFAULT_COLLECTION: &str = "platbot-docs";
/// A docs page is far smaller; a bigger file is generated output or a mistake, and would
/// only crowd the index.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 2 * 1024 * 1024;
/// The largest `max_file_bytes` accepted: a file is read whole into memory to be indexed.
const MAX_FILE_BYTES_LIMIT: u64 = 256 * 1024 * 1024;

/// `[knowledge]` as written.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawKnowledge {
    docs_dir: Option<PathBuf>,
    docs_base_url: Option<String>,
    /// Extra folders, files or globs, all under the source name `extra`.
    paths: Vec<PathBuf>,
    sources: Vec<RawSource>,
    score_threshold: Option<f32>,
    max_passages: Option<usize>,
    max_file_bytes: Option<u64>,
    qdrant: Option<RawQdrant>,
    embeddings: Option<RawEmbeddings>,
}

/// `[[knowledge.sources]]`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawSource {
    name: Option<String>,
    path: Option<PathBuf>,
    base_url: Option<String>,
}

/// `[knowledge.qdrant]`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawQdrant {
    url: Option<String>,
    api_key_env: Option<String>,
    collection: Option<String>,
}

/// The dense ranking's default weight in the fusion (BM25 and the semantic model weigh 1).
pub const DEFAULT_DENSE_WEIGHT: f32 = 1.0;

/// `[knowledge.embeddings]`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawEmbeddings {
    base_url: Option<String>,
    model: Option<String>,
    api_key_env: Option<String>,
    batch_size: Option<usize>,
    dimensions: Option<u32>,
    timeout_secs: Option<f64>,
    query_prefix: Option<String>,
    passage_prefix: Option<String>,
    query_input_type: Option<String>,
    passage_input_type: Option<String>,
    weight: Option<f32>,
}

/// One set of documents to index.
#[derive(Debug, Clone, PartialEq)]
pub struct DocSourceSettings {
    /// Stored with each chunk; lowercase letters, digits and `-`.
    pub name: String,
    /// A folder, a file or a glob (`runbooks/**/*.md`).
    pub path: PathBuf,
    /// Citations link to `base_url` + the file's path; to the local path when unset.
    pub base_url: Option<String>,
}

/// A Qdrant server to keep the index in instead of qdrant-edge.
#[derive(Clone, PartialEq)]
pub struct QdrantSettings {
    /// The gRPC URL, e.g. `http://qdrant:6334`.
    pub url: String,
    pub api_key: Option<String>,
    pub api_key_env: Option<String>,
    pub collection: String,
}

impl std::fmt::Debug for QdrantSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QdrantSettings")
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("api_key_env", &self.api_key_env)
            .field("collection", &self.collection)
            .finish()
    }
}

/// An OpenAI-compatible `/v1/embeddings` endpoint for the dense half of hybrid search.
#[derive(Clone, PartialEq)]
pub struct EmbeddingSettings {
    /// Up to and including the version path: `http://localhost:11434/v1`.
    pub base_url: String,
    pub model: String,
    pub api_key: Option<String>,
    pub api_key_env: Option<String>,
    /// Texts per request.
    pub batch_size: usize,
    /// Requested vector size, for models that can shorten theirs.
    pub dimensions: Option<u32>,
    pub timeout: Duration,
    /// How the model tells questions from documents (asymmetric models: e5, bge, nomic).
    pub roles: EmbeddingRoles,
    /// The dense ranking's weight in the fusion, BM25's being 1.
    pub weight: f32,
}

/// What is sent with a question and with a passage: a text prefix (`query: ` and
/// `passage: ` for e5) and/or an `input_type` field for servers that take one
/// (and add the model's prefix themselves). All empty for symmetric models.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmbeddingRoles {
    pub query_prefix: String,
    pub passage_prefix: String,
    pub query_input_type: Option<String>,
    pub passage_input_type: Option<String>,
}

impl std::fmt::Debug for EmbeddingSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddingSettings")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("api_key_env", &self.api_key_env)
            .field("batch_size", &self.batch_size)
            .field("dimensions", &self.dimensions)
            .field("timeout", &self.timeout)
            .field("roles", &self.roles)
            .field("weight", &self.weight)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct KnowledgeSettings {
    /// Every source, the shipped docs (`platform`) first.
    pub sources: Vec<DocSourceSettings>,
    /// 0..1: the share of the question's terms the best passage must contain.
    pub score_threshold: f32,
    /// Passages quoted in an answer.
    pub max_passages: usize,
    /// A docs file larger than this is skipped (and named in the index report).
    pub max_file_bytes: u64,
    pub qdrant: Option<QdrantSettings>,
    pub embeddings: Option<EmbeddingSettings>,
}

impl Default for KnowledgeSettings {
    fn default() -> Self {
        Self {
            sources: vec![DocSourceSettings {
                name: "platform".into(),
                path: PathBuf::from(DEFAULT_DOCS_DIR),
                base_url: None,
            }],
            score_threshold: DEFAULT_SCORE_THRESHOLD,
            max_passages: 3,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            qdrant: None,
            embeddings: None,
        }
    }
}

fn optional_secret(
    field: &'static str,
    var: &Option<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<String>, ConfigError> {
    var.as_ref()
        .map(|v| super::secret(field, v, env).map(|s| s.expose().to_owned()))
        .transpose()
}

fn url(field: &str, raw: Option<String>) -> Result<String, ConfigError> {
    let u = raw.ok_or_else(|| invalid(field, "is required"))?;
    if u.starts_with("http://") || u.starts_with("https://") {
        Ok(u)
    } else {
        Err(invalid(
            field,
            format!("`{u}` must start with http:// or https://"),
        ))
    }
}

pub(super) fn knowledge_settings(
    raw: RawKnowledge,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<KnowledgeSettings, ConfigError> {
    let mut sources = Vec::new();
    let docs_dir = raw
        .docs_dir
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DOCS_DIR));
    if !docs_dir.as_os_str().is_empty() {
        sources.push(DocSourceSettings {
            name: "platform".into(),
            path: docs_dir,
            base_url: raw.docs_base_url,
        });
    }
    for path in raw.paths {
        sources.push(DocSourceSettings {
            name: "extra".into(),
            path,
            base_url: None,
        });
    }
    for (i, s) in raw.sources.into_iter().enumerate() {
        let field = format!("knowledge.sources[{i}]");
        let name = s.name.unwrap_or_else(|| format!("source-{}", i + 1));
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid {
            return Err(invalid(
                &field,
                format!("name `{name}`: use lowercase letters, digits and '-'"),
            ));
        }
        let path = s
            .path
            .ok_or_else(|| invalid(&field, "path is required (a folder, file or glob)"))?;
        sources.push(DocSourceSettings {
            name,
            path,
            base_url: s.base_url,
        });
    }
    let score_threshold = raw.score_threshold.unwrap_or(DEFAULT_SCORE_THRESHOLD);
    if !(0.0..=1.0).contains(&score_threshold) {
        return Err(invalid(
            "knowledge.score_threshold",
            "must be between 0 and 1",
        ));
    }
    let max_passages = raw.max_passages.unwrap_or(3);
    if max_passages == 0 || max_passages > 10 {
        return Err(invalid(
            "knowledge.max_passages",
            "must be between 1 and 10",
        ));
    }
    let max_file_bytes = raw.max_file_bytes.unwrap_or(DEFAULT_MAX_FILE_BYTES);
    if max_file_bytes == 0 || max_file_bytes > MAX_FILE_BYTES_LIMIT {
        return Err(invalid(
            "knowledge.max_file_bytes",
            format!("must be between 1 and {MAX_FILE_BYTES_LIMIT} (bytes)"),
        ));
    }
    let qdrant = match raw.qdrant {
        Some(q) => Some(QdrantSettings {
            url: url("knowledge.qdrant.url", q.url)?,
            api_key: optional_secret("knowledge.qdrant.api_key_env", &q.api_key_env, env)?,
            api_key_env: q.api_key_env,
            collection: q.collection.unwrap_or_else(|| DEFAULT_COLLECTION.into()),
        }),
        None => None,
    };
    let embeddings = match raw.embeddings {
        Some(e) => {
            let timeout = e.timeout_secs.unwrap_or(30.0);
            let weight = e.weight.unwrap_or(DEFAULT_DENSE_WEIGHT);
            if !(weight > 0.0 && weight <= 10.0) {
                return Err(invalid(
                    "knowledge.embeddings.weight",
                    "must be above 0 and at most 10",
                ));
            }
            if !(timeout > 0.0 && timeout <= 600.0) {
                return Err(invalid(
                    "knowledge.embeddings.timeout_secs",
                    "must be between 0 and 600",
                ));
            }
            Some(EmbeddingSettings {
                base_url: url("knowledge.embeddings.base_url", e.base_url)?,
                model: e
                    .model
                    .filter(|m| !m.trim().is_empty())
                    .ok_or_else(|| invalid("knowledge.embeddings.model", "is required"))?,
                api_key: optional_secret("knowledge.embeddings.api_key_env", &e.api_key_env, env)?,
                api_key_env: e.api_key_env,
                batch_size: match e.batch_size.unwrap_or(64) {
                    0 => {
                        return Err(invalid(
                            "knowledge.embeddings.batch_size",
                            "must be at least 1",
                        ));
                    }
                    n => n.min(2048),
                },
                dimensions: e.dimensions,
                timeout: Duration::from_secs_f64(timeout),
                roles: embedding_roles(
                    e.query_prefix,
                    e.passage_prefix,
                    e.query_input_type,
                    e.passage_input_type,
                )?,
                weight,
            })
        }
        None => None,
    };
    Ok(KnowledgeSettings {
        sources,
        score_threshold,
        max_passages,
        max_file_bytes,
        qdrant,
        embeddings,
    })
}

/// Prefixes as written (a trailing space matters: `query: `); an `input_type` must be
/// one plain word, and both or neither are given, since a server told the role of
/// one side only would embed the other with its default.
fn embedding_roles(
    query_prefix: Option<String>,
    passage_prefix: Option<String>,
    query_input_type: Option<String>,
    passage_input_type: Option<String>,
) -> Result<EmbeddingRoles, ConfigError> {
    let word = |field: &str, v: Option<String>| -> Result<Option<String>, ConfigError> {
        match v {
            Some(v)
                if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                Err(invalid(
                    field,
                    format!("`{v}` must be one word (e.g. query, passage)"),
                ))
            }
            other => Ok(other),
        }
    };
    let q = word("knowledge.embeddings.query_input_type", query_input_type)?;
    let p = word(
        "knowledge.embeddings.passage_input_type",
        passage_input_type,
    )?;
    if q.is_some() != p.is_some() {
        return Err(invalid(
            "knowledge.embeddings.query_input_type",
            "set both query_input_type and passage_input_type, or neither",
        ));
    }
    Ok(EmbeddingRoles {
        query_prefix: query_prefix.unwrap_or_default(),
        passage_prefix: passage_prefix.unwrap_or_default(),
        query_input_type: q,
        passage_input_type: p,
    })
}

/// The `knowledge:` line of `platbot check-config`.
pub(super) fn summary(k: &KnowledgeSettings) -> String {
    let sources: Vec<String> = k
        .sources
        .iter()
        .map(|s| format!("{} = {}", s.name, s.path.display()))
        .collect();
    let store = match &k.qdrant {
        Some(q) => format!("Qdrant server {} (collection {})", q.url, q.collection),
        None => "qdrant-edge under the data dir".into(),
    };
    let dense = match &k.embeddings {
        Some(e) => format!("hybrid: BM25 + {} at {}", e.model, e.base_url),
        None => "BM25 only (no embeddings endpoint)".into(),
    };
    format!(
        "knowledge:     [{}]; {store}; {dense}; threshold {}\n",
        sources.join(", "),
        k.score_threshold
    )
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use crate::config::test_env::no_env;

    #[test]
    fn knowledge_defaults_index_the_shipped_docs_with_bm25() {
        let c = Config::from_toml("", &no_env).unwrap();
        let k = &c.knowledge;
        assert_eq!(k.sources.len(), 1);
        assert_eq!(k.sources[0].name, "platform");
        assert_eq!(k.sources[0].path, std::path::PathBuf::from("docs-index"));
        assert!(k.qdrant.is_none() && k.embeddings.is_none());
        assert_eq!(k.max_file_bytes, 2 * 1024 * 1024);
        let c = Config::from_toml("[knowledge]\nmax_file_bytes = 4096\n", &no_env).unwrap();
        assert_eq!(c.knowledge.max_file_bytes, 4096);
    }

    #[test]
    fn knowledge_sources_server_and_embeddings() {
        let toml = r#"
[knowledge]
docs_base_url = "https://git.example.com/platbot/blob/main/docs-index/"
paths = ["more-docs/"]
score_threshold = 0.5
[[knowledge.sources]]
name = "runbooks"
path = "ops/**/*.md"
base_url = "https://runbooks.example.com/"
[knowledge.qdrant]
url = "http://qdrant:6334"
api_key_env = "QDRANT_KEY"
[knowledge.embeddings]
base_url = "http://localhost:11434/v1"
model = "nomic-embed-text"
api_key_env = "EMBED_KEY"
query_prefix = "search_query: "
passage_prefix = "search_document: "
"#;
        let env = |k: &str| match k {
            "QDRANT_KEY" => Some("q".to_owned()),
            "EMBED_KEY" => Some("e".to_owned()),
            _ => None,
        };
        let c = Config::from_toml(toml, &env).unwrap();
        let k = &c.knowledge;
        let names: Vec<&str> = k.sources.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["platform", "extra", "runbooks"]);
        assert_eq!(k.score_threshold, 0.5);
        let q = k.qdrant.as_ref().unwrap();
        assert_eq!(q.api_key.as_deref(), Some("q"));
        assert_eq!(q.collection, "platbot-docs");
        let e = k.embeddings.as_ref().unwrap();
        assert_eq!(e.model, "nomic-embed-text");
        assert_eq!(e.roles.query_prefix, "search_query: ");
        assert_eq!(e.roles.passage_prefix, "search_document: ");
        assert_eq!(e.roles.query_input_type, None);
        assert_eq!(e.weight, super::DEFAULT_DENSE_WEIGHT);
        assert!(!format!("{e:?}{q:?}").contains("\"e\"") && !format!("{q:?}").contains("\"q\""));
        assert!(c.summary().contains("nomic-embed-text"));
    }

    #[test]
    fn knowledge_mistakes_are_named() {
        for (toml, field) in [
            ("[knowledge]\nscore_threshold = 2.0\n", "score_threshold"),
            ("[knowledge]\nunknown = 1\n", "unknown field"),
            (
                "[knowledge]\nmax_file_bytes = 0\n",
                "knowledge.max_file_bytes",
            ),
            (
                "[knowledge.qdrant]\nurl = \"qdrant:6334\"\n",
                "knowledge.qdrant.url",
            ),
            (
                "[knowledge.embeddings]\nbase_url = \"http://x/v1\"\n",
                "knowledge.embeddings.model",
            ),
            (
                "[knowledge.embeddings]\nbase_url = \"http://x/v1\"\nmodel = \"m\"\napi_key_env = \"NOPE\"\n",
                "NOPE",
            ),
            (
                "[[knowledge.sources]]\nname = \"Bad Name\"\npath = \"x\"\n",
                "knowledge.sources[0]",
            ),
            ("[[knowledge.sources]]\nname = \"ok\"\n", "path is required"),
            (
                "[knowledge.embeddings]\nbase_url = \"http://x/v1\"\nmodel = \"m\"\nquery_input_type = \"query\"\n",
                "set both query_input_type and passage_input_type",
            ),
            (
                "[knowledge.embeddings]\nbase_url = \"http://x/v1\"\nmodel = \"m\"\nquery_input_type = \"a b\"\npassage_input_type = \"p\"\n",
                "knowledge.embeddings.query_input_type",
            ),
            (
                "[knowledge.embeddings]\nbase_url = \"http://x/v1\"\nmodel = \"m\"\nweight = 0.0\n",
                "knowledge.embeddings.weight",
            ),
            (
                "[knowledge.embeddings]\nbase_url = \"http://x/v1\"\nmodel = \"m\"\nweight = 11.0\n",
                "knowledge.embeddings.weight",
            ),
        ] {
            let err = Config::from_toml(toml, &no_env).unwrap_err().to_string();
            assert!(err.contains(field), "{toml}: {err}");
        }
    }
}
