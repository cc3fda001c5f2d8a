//! [`DocsIndex`]: building the index and keeping it in step with the sources.
//!
//! A manifest next to the store records, per file, the hash of its bytes and
//! the ids of its chunks. Re-indexing reads and hashes every file but parses,
//! embeds and writes only the changed ones; chunk ids are derived from source,
//! path, heading path and content, so an edit rewrites only the chunks it
//! touched, and a deleted file's chunks are removed. A changed analyser,
//! chunker or embedding model makes the next `index` a full rebuild.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::{Mutex, RwLock};

use super::KnowledgeError;
use super::chunk::ChunkLimits;
use super::embed::Embedder;
use super::ingest::{SkipReason, Source};
use super::rank::FileTable;
use super::resident::Resident;
use super::semantic::SemanticModel;
use super::sparse::{Analyzer, Bm25Params};
use super::store::{self, ChunkPayload, DenseDims, EdgeStore, ServerStore, VectorStore};
use crate::config::KnowledgeSettings;

mod build;
mod manifest;
mod prepare;
use manifest::{MANIFEST_FORMAT, Manifest};

/// Points per write to a Qdrant server (the embedded shard takes a run at once).
const WRITE_BATCH: usize = 512;
/// Points a large full build writes into the embedded shard's appendable
/// segment before sealing it (optimising it into an immutable one).
/// qdrant-edge's mutable sparse index costs each insert a pass over the term's
/// posting list (a walk, or a move when set head first), so one segment for
/// everything makes writing quadratic in the corpus size.
pub const SEAL_EVERY: usize = 4096;
/// Chunks up to which an embedded shard of a full build is one appendable
/// segment written in one write (head first) and never sealed. Sealing has its
/// own costs (the model learnt before writing, each sealed segment built and
/// synced), which the quadratic term only outweighs past about this size
/// (measured, three alternated runs: 6,415 chunks 0.89-0.92 s sealed against
/// 0.51-0.59 s not, 16,059 chunks 2.09-2.23 against 2.04-2.15 s; 32,143 chunks
/// 4.5 against 5.8 s). Reopening one segment of 16,059 chunks and answering
/// took 0.50 s and 203 MB, sealed 0.58 s and 306 MB.
pub const SEAL_ABOVE: usize = 16_384;
/// Chunks per embedded shard past which a full build splits its points over
/// more shards (up to [`store::MAX_SHARDS`]), each written on its own thread
/// with a shorter posting list per term. Measured (`cargo bench --bench docs`,
/// 2 cores): 16,059 chunks 1.67 s in one shard, 1.04 s in two; 32,143 chunks
/// 2.38 s in two, 1.98 s in four; 6,415 chunks 0.45-0.47 s in one, 0.49 s in
/// two (every shard has its own files to create and sync).
pub const SHARD_ABOVE: usize = 8192;

#[derive(Debug, Clone, Copy, Default)]
pub struct IndexOptions {
    /// Drop whatever is stored and index every file again.
    pub rebuild: bool,
    /// Points per sealed segment of the embedded shard in a full build
    /// ([`SEAL_EVERY`] past [`SEAL_ABOVE`] chunks when `None`; when set, a
    /// build of more chunks than that seals). Tests set it low to write many
    /// segments.
    pub seal_every: Option<usize>,
    /// Chunks per embedded shard past which a full build splits its points
    /// over more shards, up to [`store::MAX_SHARDS`] ([`SHARD_ABOVE`] when
    /// `None`). Tests set it low to write several.
    pub shard_above: Option<usize>,
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

// One per index, never in a collection: boxing the large variant saves nothing.
#[allow(clippy::large_enum_variant)]
enum State {
    NotBuilt,
    Ready {
        store: VectorStore,
        manifest: Manifest,
        /// The manifest's chunk -> file map, for ranking the store's bare hits.
        files: Arc<FileTable>,
        semantic: Option<Arc<SemanticModel>>,
        /// The embedded store's rankings, held in process (none for a server).
        resident: Option<Arc<Resident>>,
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
    pub(super) resident: Option<Arc<Resident>>,
}

/// The embedded store's ranking vectors, read back into process (a server
/// ranks on its side).
async fn resident_of(
    store: &VectorStore,
    files: &FileTable,
) -> Result<Option<Arc<Resident>>, KnowledgeError> {
    match store {
        VectorStore::Edge(edge) => {
            let points = edge.resident_points().await?;
            Ok(Some(Arc::new(Resident::new(points, files))))
        }
        VectorStore::Server(_) => Ok(None),
    }
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

    /// Where a full build's learning thread writes the model before the run
    /// moves it into place (a failed run leaves it unread, the next overwrites it).
    fn staged_semantic_path(&self) -> PathBuf {
        self.dir.join("semantic-next.bin")
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
        let store = match self
            .connect(manifest.layout.dims(), manifest.layout.shards)
            .await
        {
            Ok(s) => s,
            Err(KnowledgeError::Corrupt(why)) => return State::Broken(why),
            Err(e) => return State::Broken(e.to_string()),
        };
        match store.count().await {
            Ok(n) if n == manifest.chunk_count() => {
                crate::telemetry::docs_index_chunks(n);
                let files = Arc::new(manifest.file_table());
                match resident_of(&store, &files).await {
                    Ok(resident) => State::Ready {
                        store,
                        files,
                        manifest,
                        semantic,
                        resident,
                    },
                    Err(e) => State::Broken(e.to_string()),
                }
            }
            Ok(n) => State::Broken(format!(
                "the store holds {n} chunks but the manifest lists {}",
                manifest.chunk_count()
            )),
            Err(e) => State::Broken(e.to_string()),
        }
    }

    /// The existing store (edge: its `shards` must be on disk).
    async fn connect(&self, dims: DenseDims, shards: usize) -> Result<VectorStore, KnowledgeError> {
        match &self.settings.qdrant {
            Some(q) => Ok(VectorStore::Server(
                ServerStore::connect(&q.url, q.api_key.clone(), &q.collection, dims).await?,
            )),
            None => Ok(VectorStore::Edge(
                EdgeStore::open(&self.edge_dir(), shards).await?,
            )),
        }
    }

    /// An empty store (of `shards` shards when embedded), replacing whatever was there.
    async fn recreate(
        &self,
        dims: DenseDims,
        shards: usize,
    ) -> Result<VectorStore, KnowledgeError> {
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
            None => Ok(VectorStore::Edge(
                store::finish(self.replace_edge(dims, shards)).await?,
            )),
        }
    }

    /// An empty embedded store replacing the folders', made on the blocking pool.
    fn replace_edge(
        &self,
        dims: DenseDims,
        shards: usize,
    ) -> tokio::task::JoinHandle<Result<EdgeStore, KnowledgeError>> {
        let dir = self.edge_dir();
        tokio::task::spawn_blocking(move || EdgeStore::replace(dir, dims, shards))
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
                resident,
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
                    resident: resident.clone(),
                })
            }
            State::NotBuilt => Err(KnowledgeError::NotIndexed),
            State::Broken(why) => Err(KnowledgeError::Corrupt(why.clone())),
        }
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
}
