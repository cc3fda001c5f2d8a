//! Dense embeddings through any OpenAI-compatible `/v1/embeddings` endpoint
//! (async-openai), batched, with an on-disk cache keyed by the content hash of
//! what was embedded, so re-indexing (even `--rebuild`) never pays for an
//! unchanged chunk twice.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::embeddings::CreateEmbeddingResponse;
use sha2::{Digest, Sha256};

use super::KnowledgeError;
use crate::config::{EmbeddingRoles, EmbeddingSettings};

/// SHA-256 of the text that is embedded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    pub fn of(text: &str) -> Self {
        Self(Sha256::digest(text.as_bytes()).into())
    }
}

const CACHE_MAGIC: &[u8; 8] = b"PBEMB001";

pub struct Embedder {
    client: Client<OpenAIConfig>,
    model: String,
    batch_size: usize,
    dimensions: Option<u32>,
    timeout: Duration,
    roles: EmbeddingRoles,
    weight: f32,
    cache_path: PathBuf,
    cache: Mutex<HashMap<ContentHash, Vec<f32>>>,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

/// How many vectors an indexing run embedded and how many came from the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmbedStats {
    pub embedded: usize,
    pub cached: usize,
}

impl Embedder {
    /// An embedder for `settings`, with its cache in `cache_dir`.
    pub fn new(settings: &EmbeddingSettings, cache_dir: &Path) -> Self {
        // The reqwest inside async-openai has no provider of its own (see dependency notes).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut config = OpenAIConfig::new().with_api_base(settings.base_url.trim_end_matches('/'));
        if let Some(key) = &settings.api_key {
            config = config.with_api_key(key);
        }
        let slug: String = settings
            .model
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let cache_path = cache_dir.join(format!("embeddings-{slug}.bin"));
        let cache = load_cache(&cache_path).unwrap_or_default();
        Self {
            client: Client::with_config(config),
            model: settings.model.clone(),
            batch_size: settings.batch_size.max(1),
            dimensions: settings.dimensions,
            timeout: settings.timeout,
            roles: settings.roles.clone(),
            weight: settings.weight,
            cache_path,
            cache: Mutex::new(cache),
        }
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// Its ranking's weight in the fusion.
    pub fn weight(&self) -> f32 {
        self.weight
    }

    /// One query's vector (not cached: queries rarely repeat exactly).
    pub async fn embed_query(&self, text: &str) -> Result<Vec<f32>, KnowledgeError> {
        let input = format!("{}{text}", self.roles.query_prefix);
        let mut v = self
            .request(vec![input], self.roles.query_input_type.as_deref())
            .await?;
        v.pop()
            .ok_or_else(|| KnowledgeError::Embed("the endpoint returned no vector".into()))
    }

    /// A passage as it is sent (with the passage prefix) and its cache key, which
    /// covers the `input_type` too: the same text embedded as another role is
    /// another vector.
    pub fn passage(&self, text: &str) -> (ContentHash, String) {
        let input = format!("{}{text}", self.roles.passage_prefix);
        let key = match &self.roles.passage_input_type {
            Some(t) => ContentHash::of(&format!("{t}\0{input}")),
            None => ContentHash::of(&input),
        };
        (key, input)
    }

    /// Vectors for `texts`, from the cache where their hash is known, the rest in batches.
    pub async fn embed_all(
        &self,
        texts: &[(ContentHash, String)],
    ) -> Result<(Vec<Vec<f32>>, EmbedStats), KnowledgeError> {
        let mut out: Vec<Option<Vec<f32>>> = {
            let cache = self
                .cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            texts.iter().map(|(h, _)| cache.get(h).cloned()).collect()
        };
        let missing: Vec<usize> = (0..texts.len()).filter(|i| out[*i].is_none()).collect();
        let stats = EmbedStats {
            embedded: missing.len(),
            cached: texts.len() - missing.len(),
        };
        for batch in missing.chunks(self.batch_size) {
            let inputs = batch.iter().map(|i| texts[*i].1.clone()).collect();
            let vectors = self
                .request(inputs, self.roles.passage_input_type.as_deref())
                .await?;
            let mut cache = self
                .cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (i, v) in batch.iter().zip(vectors) {
                cache.insert(texts[*i].0, v.clone());
                out[*i] = Some(v);
            }
        }
        let vectors = out.into_iter().map(Option::unwrap_or_default).collect();
        Ok((vectors, stats))
    }

    /// One `/v1/embeddings` call. The body is built here rather than from the typed
    /// request, which has no `input_type`.
    async fn request(
        &self,
        inputs: Vec<String>,
        input_type: Option<&str>,
    ) -> Result<Vec<Vec<f32>>, KnowledgeError> {
        let n = inputs.len();
        let mut body = serde_json::json!({
            "model": self.model,
            "input": inputs,
            "encoding_format": "float",
        });
        if let Some(d) = self.dimensions {
            body["dimensions"] = d.into();
        }
        if let Some(t) = input_type {
            body["input_type"] = t.into();
        }
        let embeddings = self.client.embeddings();
        let call = embeddings.create_byot::<_, CreateEmbeddingResponse>(body);
        let response = tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| {
                KnowledgeError::Embed(format!(
                    "no answer within {:.0?} for {n} texts (a slow endpoint: raise \
                     [knowledge.embeddings] timeout_secs or lower batch_size)",
                    self.timeout
                ))
            })?
            .map_err(|e| KnowledgeError::Embed(e.to_string()))?;
        let mut data = response.data;
        if data.len() != n {
            return Err(KnowledgeError::Embed(format!(
                "asked for {n} vectors, got {}",
                data.len()
            )));
        }
        data.sort_by_key(|e| e.index);
        let vectors: Vec<Vec<f32>> = data.into_iter().map(|e| e.embedding).collect();
        let dim = vectors.first().map_or(0, Vec::len);
        if dim == 0 || vectors.iter().any(|v| v.len() != dim) {
            return Err(KnowledgeError::Embed(
                "the endpoint returned vectors of differing or zero length".into(),
            ));
        }
        Ok(vectors)
    }

    /// Writes the cache, keeping only the hashes in `keep` (what the index still holds).
    pub fn save_cache(
        &self,
        keep: &std::collections::HashSet<ContentHash>,
    ) -> Result<(), KnowledgeError> {
        let cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entries: Vec<(&ContentHash, &Vec<f32>)> =
            cache.iter().filter(|(h, _)| keep.contains(h)).collect();
        let mut buf = Vec::with_capacity(16 + entries.len() * 1024);
        buf.extend_from_slice(CACHE_MAGIC);
        let dim = entries.first().map_or(0, |(_, v)| v.len());
        buf.extend_from_slice(&(dim as u32).to_le_bytes());
        buf.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        for (h, v) in entries.iter().filter(|(_, v)| v.len() == dim) {
            buf.extend_from_slice(&h.0);
            for x in v.iter() {
                buf.extend_from_slice(&x.to_le_bytes());
            }
        }
        write_atomically(&self.cache_path, &buf)
    }
}

fn load_cache(path: &Path) -> Option<HashMap<ContentHash, Vec<f32>>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .read_to_end(&mut bytes)
        .ok()?;
    if bytes.len() < 16 || &bytes[..8] != CACHE_MAGIC {
        tracing::warn!(path = %path.display(), "ignoring an unreadable embeddings cache");
        return None;
    }
    let dim = u32::from_le_bytes(bytes[8..12].try_into().ok()?) as usize;
    let count = u32::from_le_bytes(bytes[12..16].try_into().ok()?) as usize;
    let record = 32 + dim * 4;
    let mut map = HashMap::with_capacity(count);
    for rec in bytes[16..].chunks_exact(record) {
        let hash: [u8; 32] = rec[..32].try_into().ok()?;
        let v = rec[32..]
            .chunks_exact(4)
            .filter_map(|b| b.try_into().ok().map(f32::from_le_bytes))
            .collect();
        map.insert(ContentHash(hash), v);
    }
    Some(map)
}

/// Writes `bytes` to a temporary file next to `path` and renames it into place,
/// so a crash leaves either the old file or the new one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), KnowledgeError> {
    let io = |source| KnowledgeError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}
