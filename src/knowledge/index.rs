//! [`DocsIndex`]: building the index and keeping it in step with the sources.
//!
//! A manifest next to the store records, per file, the hash of its bytes and
//! the ids of its chunks. Re-indexing reads and hashes every file but parses,
//! embeds and writes only the changed ones; chunk ids are derived from source,
//! path, heading path and content, so an edit rewrites only the chunks it
//! touched, and a deleted file's chunks are removed. A changed analyser,
//! chunker or embedding model makes the next `index` a full rebuild.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, RwLock};

use super::KnowledgeError;
use super::chunk::ChunkLimits;
use super::embed::{ContentHash, Embedder, write_atomically};
use super::ingest::{SkipReason, Source, read_file};
use super::rank::FileTable;
use super::semantic::{self, SemanticModel};
use super::sparse::{ANALYZER_VERSION, Analyzer, Bm25Params};
use super::store::{ChunkPayload, DenseDims, EdgeStore, ServerStore, StoredChunk, VectorStore};
use crate::config::KnowledgeSettings;

mod manifest;
mod prepare;
use manifest::{FileEntry, Layout, MANIFEST_FORMAT, Manifest};
use prepare::Prepared;

/// Points per store write.
const WRITE_BATCH: usize = 512;

#[derive(Debug, Clone, Copy, Default)]
pub struct IndexOptions {
    /// Drop whatever is stored and index every file again.
    pub rebuild: bool,
}

/// Progress of an indexing run, for a terminal progress bar.
#[derive(Debug, Clone)]
pub enum IndexEvent {
    /// Files found in the sources.
    Scanned { files: usize },
    /// Files parsed and chunked so far (of those that changed).
    Parsed { done: usize, total: usize },
    /// Chunks embedded so far.
    Embedding { done: usize, total: usize },
    /// Chunks written so far.
    Writing { done: usize, total: usize },
}

pub type Progress<'a> = &'a (dyn Fn(IndexEvent) + Send + Sync);

/// What an indexing run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IndexSummary {
    pub files: usize,
    pub chunks: usize,
    pub added: usize,
    pub updated: usize,
    pub removed: usize,
    pub unchanged: usize,
    pub chunks_written: usize,
    pub chunks_deleted: usize,
    /// Files in the sources that were not indexed, and why.
    pub skipped: Vec<SkippedFile>,
    pub embedded: usize,
    pub embeddings_cached: usize,
    /// Why everything was indexed again, when it was.
    pub rebuilt: Option<String>,
    pub seconds: f64,
}

/// A file left out of the index (see [`Source::files`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedFile {
    pub source: String,
    pub path: String,
    pub reason: SkipReason,
}

impl IndexSummary {
    pub fn render(&self) -> String {
        let mut s = format!(
            "{} files, {} chunks: {} added, {} updated, {} removed, {} unchanged ({} chunks written, {} deleted) in {:.2}s",
            self.files,
            self.chunks,
            self.added,
            self.updated,
            self.removed,
            self.unchanged,
            self.chunks_written,
            self.chunks_deleted,
            self.seconds
        );
        if self.embedded + self.embeddings_cached > 0 {
            s.push_str(&format!(
                "; embeddings: {} requested, {} from cache",
                self.embedded, self.embeddings_cached
            ));
        }
        if let Some(why) = &self.rebuilt {
            s.push_str(&format!("; full rebuild ({why})"));
        }
        for f in &self.skipped {
            s.push_str(&format!("\nskipped {}:{}: {}", f.source, f.path, f.reason));
        }
        s
    }
}

enum State {
    NotBuilt,
    Ready {
        store: VectorStore,
        manifest: Manifest,
        /// The manifest's chunk -> file map, for ranking the store's bare hits.
        files: Arc<FileTable>,
        semantic: Option<Arc<SemanticModel>>,
    },
    Broken(String),
}

/// What a search reads: the store, which file each chunk is in, the embedder
/// (when the stored dense vectors came from it) and the semantic model.
pub(super) struct Snapshot<'a> {
    pub(super) store: VectorStore,
    pub(super) files: Arc<FileTable>,
    pub(super) embedder: Option<&'a Embedder>,
    pub(super) semantic: Option<Arc<SemanticModel>>,
}

/// The docs index of one platbot: its sources, store and (optional) embedder.
pub struct DocsIndex {
    settings: KnowledgeSettings,
    dir: PathBuf,
    sources: Vec<Source>,
    analyzer: Analyzer,
    embedder: Option<Embedder>,
    limits: ChunkLimits,
    bm25: Bm25Params,
    state: RwLock<State>,
    writing: Mutex<()>,
}

impl std::fmt::Debug for DocsIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocsIndex")
            .field("dir", &self.dir)
            .field("sources", &self.sources.len())
            .finish_non_exhaustive()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return None;
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl DocsIndex {
    /// Opens the index kept under `data_dir` for `settings`. A missing index is
    /// not an error (searches say it is not built); a damaged one is reported
    /// by every search until it is rebuilt.
    pub async fn open(
        settings: &KnowledgeSettings,
        data_dir: &Path,
    ) -> Result<Self, KnowledgeError> {
        let dir = data_dir.join("knowledge");
        let sources = settings
            .sources
            .iter()
            .map(|s| Source::from_path(&s.name, &s.path, s.base_url.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let embedder = settings.embeddings.as_ref().map(|e| Embedder::new(e, &dir));
        let index = Self {
            settings: settings.clone(),
            dir,
            sources,
            analyzer: Analyzer::new(),
            embedder,
            limits: ChunkLimits::default(),
            // Full length normalisation: long sections must not win on sheer size
            // (measured on the Argo CD public set and a held-out set alike).
            bm25: Bm25Params {
                k1: 1.5,
                b: 1.0,
                avg_len: 0.0,
            },
            state: RwLock::new(State::NotBuilt),
            writing: Mutex::new(()),
        };
        let state = index.load_state().await;
        *index.state.write().await = state;
        Ok(index)
    }

    fn manifest_path(&self) -> PathBuf {
        self.dir.join("manifest.json")
    }

    fn semantic_path(&self) -> PathBuf {
        self.dir.join("semantic.bin")
    }

    fn edge_dir(&self) -> PathBuf {
        self.dir.join("edge")
    }

    fn store_name(&self) -> String {
        match &self.settings.qdrant {
            Some(q) => format!("qdrant {} {}", q.url, q.collection),
            None => "edge".into(),
        }
    }

    async fn load_state(&self) -> State {
        let path = self.manifest_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Store data without a manifest is a half-built index.
                if self.settings.qdrant.is_none() && self.edge_dir().exists() {
                    return State::Broken("the manifest is missing".into());
                }
                return State::NotBuilt;
            }
            Err(e) => return State::Broken(format!("cannot read {}: {e}", path.display())),
        };
        let manifest: Manifest = match serde_json::from_str(&text) {
            Ok(m) => m,
            Err(e) => return State::Broken(format!("{} is unreadable: {e}", path.display())),
        };
        if manifest.format != MANIFEST_FORMAT {
            return State::Broken(format!(
                "it was written by another platbot version (format {})",
                manifest.format
            ));
        }
        let semantic = match manifest.layout.semantic_dims {
            Some(_) => match SemanticModel::load(&self.semantic_path()) {
                Ok(m) => Some(Arc::new(m)),
                Err(e) => return State::Broken(e.to_string()),
            },
            None => None,
        };
        let store = match self.connect(manifest.layout.dims()).await {
            Ok(s) => s,
            Err(KnowledgeError::Corrupt(why)) => return State::Broken(why),
            Err(e) => return State::Broken(e.to_string()),
        };
        match store.count().await {
            Ok(n) if n == manifest.chunk_count() => {
                crate::telemetry::docs_index_chunks(n);
                State::Ready {
                    store,
                    files: Arc::new(manifest.file_table()),
                    manifest,
                    semantic,
                }
            }
            Ok(n) => State::Broken(format!(
                "the store holds {n} chunks but the manifest lists {}",
                manifest.chunk_count()
            )),
            Err(e) => State::Broken(e.to_string()),
        }
    }

    /// The existing store (edge: must be on disk).
    async fn connect(&self, dims: DenseDims) -> Result<VectorStore, KnowledgeError> {
        match &self.settings.qdrant {
            Some(q) => Ok(VectorStore::Server(
                ServerStore::connect(&q.url, q.api_key.clone(), &q.collection, dims).await?,
            )),
            None => Ok(VectorStore::Edge(EdgeStore::open(&self.edge_dir()).await?)),
        }
    }

    /// An empty store, replacing whatever was there.
    async fn recreate(&self, dims: DenseDims) -> Result<VectorStore, KnowledgeError> {
        match &self.settings.qdrant {
            Some(q) => {
                let s = ServerStore::connect(
                    &q.url,
                    q.api_key.clone(),
                    &q.collection,
                    DenseDims::default(),
                )
                .await?;
                s.drop_collection().await?;
                Ok(VectorStore::Server(
                    ServerStore::connect(&q.url, q.api_key.clone(), &q.collection, dims).await?,
                ))
            }
            None => {
                let dir = self.edge_dir();
                if dir.exists() {
                    std::fs::remove_dir_all(&dir).map_err(|source| KnowledgeError::Io {
                        path: dir.clone(),
                        source,
                    })?;
                }
                Ok(VectorStore::Edge(EdgeStore::create(&dir, dims).await?))
            }
        }
    }

    /// Whether searches can run, and if not, why.
    pub async fn status(&self) -> Result<usize, KnowledgeError> {
        match &*self.state.read().await {
            State::Ready { manifest, .. } => Ok(manifest.chunk_count()),
            State::NotBuilt => Err(KnowledgeError::NotIndexed),
            State::Broken(why) => Err(KnowledgeError::Corrupt(why.clone())),
        }
    }

    pub fn sources(&self) -> &[Source] {
        &self.sources
    }

    pub fn settings(&self) -> &KnowledgeSettings {
        &self.settings
    }

    pub(super) fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    /// What a search reads, when the index is ready.
    pub(super) async fn snapshot(&self) -> Result<Snapshot<'_>, KnowledgeError> {
        let state = self.state.read().await;
        match &*state {
            State::Ready {
                store,
                manifest,
                files,
                semantic,
            } => {
                let embedder = self.embedder.as_ref().filter(|e| {
                    manifest
                        .layout
                        .dense
                        .as_ref()
                        .is_some_and(|(model, _)| model == e.model())
                });
                Ok(Snapshot {
                    store: store.clone(),
                    files: Arc::clone(files),
                    embedder,
                    semantic: semantic.clone(),
                })
            }
            State::NotBuilt => Err(KnowledgeError::NotIndexed),
            State::Broken(why) => Err(KnowledgeError::Corrupt(why.clone())),
        }
    }

    /// Indexes the sources: everything on the first run, a rebuild, or a layout
    /// change; otherwise only what changed since the last run.
    pub async fn index(
        &self,
        opts: IndexOptions,
        progress: Option<Progress<'_>>,
    ) -> Result<IndexSummary, KnowledgeError> {
        let _one_at_a_time = self.writing.lock().await;
        let started = Instant::now();
        let emit = |e: IndexEvent| {
            if let Some(p) = progress {
                p(e);
            }
        };

        // The token table loads while the files are read and hashed.
        std::thread::spawn(super::chunk::warm_up);
        // Every file with the hash of its bytes; what may not be read is reported, not indexed.
        let max_bytes = self.settings.max_file_bytes;
        let mut files: Vec<(usize, String, PathBuf)> = Vec::new();
        let mut skipped: Vec<SkippedFile> = Vec::new();
        for (i, source) in self.sources.iter().enumerate() {
            let listing = source.files(max_bytes)?;
            for (rel, abs) in listing.files {
                files.push((i, rel, abs));
            }
            skipped.extend(listing.skipped.into_iter().map(|s| SkippedFile {
                source: source.name.clone(),
                path: s.path,
                reason: s.reason,
            }));
        }
        emit(IndexEvent::Scanned { files: files.len() });
        let mut current: BTreeMap<String, (usize, String, PathBuf, String)> = BTreeMap::new();
        for (i, rel, abs) in files {
            let bytes = match read_file(&abs, max_bytes) {
                Ok(Ok(bytes)) => bytes,
                Ok(Err(reason)) => {
                    skipped.push(SkippedFile {
                        source: self.sources[i].name.clone(),
                        path: rel,
                        reason,
                    });
                    continue;
                }
                Err(source) => return Err(KnowledgeError::Io { path: abs, source }),
            };
            let key = format!("{}:{rel}", self.sources[i].name);
            current.insert(key, (i, rel, abs, hex(&Sha256::digest(&bytes))));
        }

        // What is stored now, and whether it can be kept.
        let (old, old_model, rebuild_reason) = {
            let state = self.state.read().await;
            match &*state {
                State::Broken(why) if !opts.rebuild => {
                    return Err(KnowledgeError::Corrupt(why.clone()));
                }
                State::Broken(why) => (
                    None,
                    None,
                    Some(format!("--rebuild; it was damaged: {why}")),
                ),
                _ if opts.rebuild => (None, None, Some("--rebuild".to_owned())),
                State::NotBuilt => (None, None, Some("first run".to_owned())),
                State::Ready {
                    manifest, semantic, ..
                } => {
                    let wanted_model = self.embedder.as_ref().map(|e| e.model().to_owned());
                    let stored_model = manifest.layout.dense.as_ref().map(|d| d.0.clone());
                    let l = &manifest.layout;
                    let why = if l.analyzer != ANALYZER_VERSION {
                        Some("the text analyser changed".to_owned())
                    } else if (l.max_tokens, l.min_tokens, l.overlap_tokens)
                        != (
                            self.limits.max_tokens,
                            self.limits.min_tokens,
                            self.limits.overlap_tokens,
                        )
                    {
                        Some("the chunk limits changed".to_owned())
                    } else if (l.k1, l.b) != (self.bm25.k1, self.bm25.b) {
                        Some("the BM25 parameters changed".to_owned())
                    } else if wanted_model != stored_model {
                        Some("the embedding model changed".to_owned())
                    } else if l.semantic != semantic::VERSION {
                        Some("the semantic model changed".to_owned())
                    } else if l.store != self.store_name() {
                        Some("the store changed".to_owned())
                    } else {
                        None
                    };
                    match why {
                        Some(w) => (None, None, Some(w)),
                        None => (Some(manifest.clone()), semantic.clone(), None),
                    }
                }
            }
        };

        let changed: Vec<(String, usize, String, PathBuf, String)> = current
            .iter()
            .filter(|(key, (_, _, _, hash))| {
                old.as_ref()
                    .and_then(|m| m.files.get(*key))
                    .is_none_or(|f| &f.hash != hash)
            })
            .map(|(k, (i, rel, abs, hash))| (k.clone(), *i, rel.clone(), abs.clone(), hash.clone()))
            .collect();
        let removed: Vec<String> = old
            .as_ref()
            .map(|m| {
                m.files
                    .keys()
                    .filter(|k| !current.contains_key(*k))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let mut summary = IndexSummary {
            files: current.len(),
            skipped,
            rebuilt: rebuild_reason.clone(),
            ..IndexSummary::default()
        };
        for (key, ..) in &changed {
            match old.as_ref().and_then(|m| m.files.get(key)) {
                Some(_) => summary.updated += 1,
                None => summary.added += 1,
            }
        }
        summary.removed = removed.len();
        summary.unchanged = current.len() - changed.len();

        if changed.is_empty() && removed.is_empty() && old.is_some() {
            summary.chunks = old.as_ref().map_or(0, Manifest::chunk_count);
            summary.seconds = started.elapsed().as_secs_f64();
            return Ok(summary);
        }

        // Parse, chunk and analyse the changed files on every core.
        let parsed = self.prepare(&changed, &emit)?;
        tracing::debug!(elapsed = ?started.elapsed(), files = changed.len(), "files parsed and chunked");

        let avg_len = match &old {
            Some(m) => m.avg_len,
            None => {
                let (sum, n) = parsed
                    .iter()
                    .flat_map(|p| &p.chunks)
                    .fold((0.0f64, 0usize), |(s, n), c| {
                        (s + f64::from(c.freqs.len), n + 1)
                    });
                if n == 0 { 1.0 } else { (sum / n as f64) as f32 }
            }
        };
        let params = Bm25Params {
            avg_len,
            ..self.bm25
        };
        // A full build learns the semantic model from every chunk; later runs place
        // new chunks with the model they have.
        let model = match &old {
            Some(_) => old_model,
            None => {
                let docs: Vec<&[(u32, f32)]> = parsed
                    .iter()
                    .flat_map(|p| &p.chunks)
                    .map(|c| c.freqs.tf.as_slice())
                    .collect();
                SemanticModel::train(&docs, semantic::DIMS).map(Arc::new)
            }
        };

        // Which chunks are new: ids are content-addressed, so a kept id is unchanged.
        let mut manifest = old.clone().unwrap_or(Manifest {
            format: MANIFEST_FORMAT,
            layout: Layout {
                analyzer: ANALYZER_VERSION,
                max_tokens: self.limits.max_tokens,
                min_tokens: self.limits.min_tokens,
                overlap_tokens: self.limits.overlap_tokens,
                k1: params.k1,
                b: params.b,
                dense: None,
                semantic: semantic::VERSION,
                semantic_dims: model.as_ref().map(|m| m.dims()),
                store: self.store_name(),
            },
            avg_len,
            files: BTreeMap::new(),
        });
        let mut to_delete: Vec<u64> = Vec::new();
        for key in &removed {
            if let Some(f) = manifest.files.remove(key) {
                to_delete.extend(f.chunks);
            }
        }
        let mut to_write: Vec<Prepared> = Vec::new();
        for file in parsed {
            let new_ids: Vec<u64> = file.chunks.iter().map(|c| c.id).collect();
            let old_ids: HashSet<u64> = manifest
                .files
                .get(&file.key)
                .map(|f| f.chunks.iter().copied().collect())
                .unwrap_or_default();
            let keep: HashSet<u64> = new_ids.iter().copied().collect();
            to_delete.extend(old_ids.iter().filter(|id| !keep.contains(id)));
            let embedded = file
                .chunks
                .iter()
                .filter_map(|c| c.embed.as_ref().map(|(h, _)| hex(&h.0)))
                .collect();
            to_write.extend(file.chunks.into_iter().filter(|c| !old_ids.contains(&c.id)));
            manifest.files.insert(
                file.key,
                FileEntry {
                    hash: file.hash,
                    chunks: new_ids,
                    embedded,
                },
            );
        }

        // Dense vectors for the chunks being written (the cache answers unchanged texts).
        let mut dense: Vec<Option<Vec<f32>>> = vec![None; to_write.len()];
        if let Some(embedder) = &self.embedder {
            let texts: Vec<(ContentHash, String)> =
                to_write.iter().filter_map(|c| c.embed.clone()).collect();
            emit(IndexEvent::Embedding {
                done: 0,
                total: texts.len(),
            });
            let (vectors, stats) = embedder.embed_all(&texts).await?;
            emit(IndexEvent::Embedding {
                done: texts.len(),
                total: texts.len(),
            });
            summary.embedded = stats.embedded;
            summary.embeddings_cached = stats.cached;
            if let Some(dim) = vectors.first().map(Vec::len) {
                manifest.layout.dense = Some((embedder.model().to_owned(), dim));
            }
            dense = vectors.into_iter().map(Some).collect();
        }
        tracing::debug!(elapsed = ?started.elapsed(), "semantic model ready");
        let semantic_vectors: Vec<Option<Vec<f32>>> = to_write
            .iter()
            .map(|c| model.as_ref().and_then(|m| m.embed(&c.freqs.tf)))
            .collect();

        // Write: a fresh store for a full build, the same one otherwise.
        let store = if old.is_some() {
            let state = self.state.read().await;
            match &*state {
                State::Ready { store, .. } => store.clone(),
                _ => return Err(KnowledgeError::NotIndexed),
            }
        } else {
            // Drop the open shard before its folder is replaced.
            *self.state.write().await = State::NotBuilt;
            self.recreate(manifest.layout.dims()).await?
        };
        let result = self
            .write(
                &store,
                to_write,
                dense,
                semantic_vectors,
                to_delete,
                &params,
                &emit,
                &mut summary,
            )
            .await;
        if let Err(e) = result {
            *self.state.write().await = State::Broken(format!("the last indexing run failed: {e}"));
            return Err(e);
        }
        if old.is_none()
            && let VectorStore::Edge(edge) = &store
        {
            tracing::debug!(elapsed = ?started.elapsed(), "chunks written");
            edge.optimize().await?;
        }
        store.commit().await?;
        tracing::debug!(elapsed = ?started.elapsed(), "store optimised and flushed");

        if old.is_none() {
            match &model {
                Some(m) => m.save(&self.semantic_path())?,
                None => match std::fs::remove_file(self.semantic_path()) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(KnowledgeError::Io {
                            path: self.semantic_path(),
                            source: e,
                        });
                    }
                    _ => {}
                },
            }
        }
        let text = serde_json::to_string(&manifest)
            .map_err(|e| KnowledgeError::Store(format!("manifest: {e}")))?;
        write_atomically(&self.manifest_path(), text.as_bytes())?;
        if let Some(embedder) = &self.embedder {
            let keep: HashSet<ContentHash> = manifest
                .files
                .values()
                .flat_map(|f| f.embedded.iter().filter_map(|h| unhex(h)).map(ContentHash))
                .collect();
            embedder.save_cache(&keep)?;
        }
        summary.chunks = manifest.chunk_count();
        crate::telemetry::docs_index_chunks(summary.chunks);
        *self.state.write().await = State::Ready {
            store,
            files: Arc::new(manifest.file_table()),
            manifest,
            semantic: model,
        };
        summary.seconds = started.elapsed().as_secs_f64();
        Ok(summary)
    }

    #[allow(clippy::too_many_arguments)]
    async fn write(
        &self,
        store: &VectorStore,
        chunks: Vec<Prepared>,
        dense: Vec<Option<Vec<f32>>>,
        semantic: Vec<Option<Vec<f32>>>,
        delete: Vec<u64>,
        params: &Bm25Params,
        emit: &(dyn Fn(IndexEvent) + Send + Sync),
        summary: &mut IndexSummary,
    ) -> Result<(), KnowledgeError> {
        summary.chunks_deleted = delete.len();
        store.delete(delete).await?;
        let total = chunks.len();
        let mut points: Vec<StoredChunk> = chunks
            .into_iter()
            .zip(dense)
            .zip(semantic)
            .map(|((c, d), s)| StoredChunk {
                id: c.id,
                sparse: c.freqs.bm25(params),
                dense: d,
                semantic: s,
                payload: c.payload,
            })
            .collect();
        let mut done = 0;
        while !points.is_empty() {
            let rest = points.split_off(points.len().min(WRITE_BATCH));
            let n = points.len();
            store.upsert(std::mem::replace(&mut points, rest)).await?;
            done += n;
            emit(IndexEvent::Writing { done, total });
        }
        summary.chunks_written = total;
        Ok(())
    }

    /// The manifest's file list (for tests and `check-config`).
    pub async fn indexed_files(&self) -> Vec<String> {
        match &*self.state.read().await {
            State::Ready { manifest, .. } => manifest.files.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }

    pub(super) fn source_named(&self, name: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.name == name)
    }

    /// Per-source link for a stored chunk.
    pub(super) fn link_for(&self, payload: &ChunkPayload) -> String {
        let anchor = payload.headings.last().map(|h| super::ingest::anchor(h));
        match self.source_named(&payload.source) {
            Some(s) => s.link(&payload.path, anchor.as_deref()),
            None => payload.path.clone(),
        }
    }

    /// For the benchmark: queries the edge store directly, without the async runtime.
    pub async fn edge_store(&self) -> Option<EdgeStore> {
        match &*self.state.read().await {
            State::Ready {
                store: VectorStore::Edge(e),
                ..
            } => Some(e.clone()),
            _ => None,
        }
    }

    #[doc(hidden)]
    pub fn query_terms_for_bench(&self, q: &str) -> Vec<(String, f32)> {
        self.analyzer.query_terms(q, 1.0)
    }
}
