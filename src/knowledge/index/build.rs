//! An indexing run: which files changed since the last one, then those parsed,
//! weighted, placed in the semantic space and written, and the manifest last.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::super::KnowledgeError;
use super::super::embed::{ContentHash, write_atomically};
use super::super::ingest::read_file;
use super::super::rank::FileTable;
use super::super::resident::{Resident, ResidentPoint};
use super::super::semantic::{self, SemanticModel, Training};
use super::super::sparse::{ANALYZER_VERSION, Bm25Params};
use super::super::store::{self, DenseDims, EdgeStore, StoredChunk, VectorStore};
use super::manifest::{FileEntry, Layout, MANIFEST_FORMAT, Manifest};
use super::prepare::{Parsed, Prepared};
use super::{
    DocsIndex, IndexEvent, IndexOptions, IndexSummary, Progress, SEAL_ABOVE, SEAL_EVERY,
    SHARD_ABOVE, SkippedFile, State, WRITE_BATCH,
};

/// What `store_all` leaves: the store, the semantic model, whether its
/// learning thread wrote the model's file (aside, for `persist` to move), and,
/// when it wrote a fresh embedded shard (a full build), the rankings of the
/// vectors it wrote, so they need not be read back.
struct Written {
    store: VectorStore,
    model: Option<Arc<SemanticModel>>,
    model_saved: bool,
    resident: Option<Resident>,
}

/// A shard being created, and the layout it was created with.
type EarlyStore = (
    tokio::task::JoinHandle<Result<EdgeStore, KnowledgeError>>,
    DenseDims,
);

/// A file to (re)index: `source:path` key, source number, path, absolute path, hash.
pub(super) type Changed = (String, usize, String, PathBuf, String);

/// Every readable file of the sources by `source:path`: source number, path,
/// absolute path and the hash of its bytes.
type Current = BTreeMap<String, (usize, String, PathBuf, String)>;

/// What is stored now, when it can be kept, and why not otherwise.
struct Stored {
    manifest: Option<Manifest>,
    model: Option<Arc<SemanticModel>>,
    rebuild: Option<String>,
}

/// The chunks a run writes and the stored ones it deletes.
struct Placed {
    write: Vec<Prepared>,
    delete: Vec<u64>,
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
        std::thread::spawn(super::super::chunk::warm_up);
        let (current, skipped) = self.scan(&emit)?;
        let stored = self.stored(opts).await?;
        let old = stored.manifest;
        let changed = changed_files(&current, old.as_ref());
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
            rebuilt: stored.rebuild,
            removed: removed.len(),
            unchanged: current.len() - changed.len(),
            ..IndexSummary::default()
        };
        for (key, ..) in &changed {
            match old.as_ref().and_then(|m| m.files.get(key)) {
                Some(_) => summary.updated += 1,
                None => summary.added += 1,
            }
        }
        if changed.is_empty() && removed.is_empty() && old.is_some() {
            summary.chunks = old.as_ref().map_or(0, Manifest::chunk_count);
            summary.seconds = started.elapsed().as_secs_f64();
            return Ok(summary);
        }

        let early = self.early_store(old.is_none()).await;
        // Parse, chunk and analyse the changed files on every core.
        let parsed = match self.prepare(&changed, &emit) {
            Ok(parsed) => parsed,
            Err(e) => {
                // Back to nothing on disk, as before the run (and not while
                // the shard is still being made).
                if let Some((run, _)) = early {
                    drop(run.await);
                    if let Err(err) = std::fs::remove_dir_all(self.edge_dir()) {
                        tracing::warn!(error = %err, "could not remove the unused index folder");
                    }
                }
                return Err(e);
            }
        };
        tracing::debug!(elapsed = ?started.elapsed(), files = changed.len(), "files parsed and chunked");
        let (mut old, mut model, mut parsed) = (old, stored.model, parsed);
        let embedded = self.settings.qdrant.is_none();
        if let Some(why) = outgrown(old.as_ref().filter(|_| embedded), &current, &parsed, opts) {
            // Built again as a first run would be, split and sealed for its
            // size; the files parsed so far are parsed again with the rest.
            tracing::info!(reason = %why, "building the docs index again");
            parsed = self.prepare(&changed_files(&current, None), &emit)?;
            (old, model) = (None, None);
            summary = IndexSummary {
                files: current.len(),
                skipped: std::mem::take(&mut summary.skipped),
                rebuilt: Some(why),
                added: current.len(),
                ..IndexSummary::default()
            };
        }
        let (params, semantic) = self.learn(old.as_ref(), model, &parsed);
        let full = old.is_none();
        let mut manifest = old.unwrap_or_else(|| self.new_manifest(&params, semantic.dims()));
        let placed = place(&mut manifest, &removed, parsed);
        let files = Arc::new(manifest.file_table());
        // A large full build splits its points over shards and seals segments
        // as it writes; later runs write few points into what is there.
        let seal = match (full, &self.settings.qdrant) {
            (true, None) => {
                let (shards, seal) = plan_shards(placed.write.len(), opts);
                manifest.layout.shards = shards;
                seal
            }
            _ => None,
        };
        let written = self
            .store_all(
                &mut manifest,
                early,
                placed,
                &files,
                &params,
                semantic,
                full,
                seal,
                &emit,
                &mut summary,
            )
            .await?;
        tracing::debug!(elapsed = ?started.elapsed(), "store written and flushed");
        let Written {
            store,
            model,
            model_saved,
            resident,
        } = written;
        let model_file = match (full, model_saved) {
            (false, _) => ModelFile::Keep,
            (true, false) => ModelFile::Save,
            (true, true) => ModelFile::Staged,
        };
        self.persist(&manifest, model.as_deref(), model_file)?;

        summary.chunks = manifest.chunk_count();
        crate::telemetry::docs_index_chunks(summary.chunks);
        let resident = match resident {
            Some(resident) => Some(Arc::new(resident)),
            None => super::resident_of(&store, &files).await?,
        };
        tracing::debug!(elapsed = ?started.elapsed(), "rankings ready");
        *self.state.write().await = State::Ready {
            store,
            files,
            manifest,
            semantic: model,
            resident,
        };
        summary.seconds = started.elapsed().as_secs_f64();
        Ok(summary)
    }

    /// Every file in the sources with the hash of its bytes; what may not be
    /// read is reported, not indexed.
    fn scan(
        &self,
        emit: &(dyn Fn(IndexEvent) + Send + Sync),
    ) -> Result<(Current, Vec<SkippedFile>), KnowledgeError> {
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
        let mut current = Current::new();
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
        Ok((current, skipped))
    }

    /// What is stored now, and whether it can be kept.
    async fn stored(&self, opts: IndexOptions) -> Result<Stored, KnowledgeError> {
        let state = self.state.read().await;
        let rebuild = |why: String| Stored {
            manifest: None,
            model: None,
            rebuild: Some(why),
        };
        Ok(match &*state {
            State::Broken(why) if !opts.rebuild => {
                return Err(KnowledgeError::Corrupt(why.clone()));
            }
            State::Broken(why) => rebuild(format!("--rebuild; it was damaged: {why}")),
            _ if opts.rebuild => rebuild("--rebuild".to_owned()),
            State::NotBuilt => rebuild("first run".to_owned()),
            State::Ready {
                manifest, semantic, ..
            } => match self.layout_change(&manifest.layout) {
                Some(why) => rebuild(why.to_owned()),
                None => Stored {
                    manifest: Some(manifest.clone()),
                    model: semantic.clone(),
                    rebuild: None,
                },
            },
        })
    }

    /// Why vectors stored with `l` cannot be kept, if they cannot.
    fn layout_change(&self, l: &Layout) -> Option<&'static str> {
        let wanted_model = self.embedder.as_ref().map(|e| e.model());
        let stored_model = l.dense.as_ref().map(|d| d.0.as_str());
        let limits = (
            self.limits.max_tokens,
            self.limits.min_tokens,
            self.limits.overlap_tokens,
        );
        if l.analyzer != ANALYZER_VERSION {
            Some("the text analyser changed")
        } else if (l.max_tokens, l.min_tokens, l.overlap_tokens) != limits {
            Some("the chunk limits changed")
        } else if (l.k1, l.b) != (self.bm25.k1, self.bm25.b) {
            Some("the BM25 parameters changed")
        } else if wanted_model != stored_model {
            Some("the embedding model changed")
        } else if l.semantic != semantic::VERSION {
            Some("the semantic model changed")
        } else if l.store != self.store_name() {
            Some("the store changed")
        } else {
            None
        }
    }

    /// The BM25 parameters and the semantic model: a full build learns both
    /// from every chunk (the model's heavy half is left to run while chunks
    /// are written); later runs keep what they have.
    fn learn(
        &self,
        old: Option<&Manifest>,
        old_model: Option<Arc<SemanticModel>>,
        parsed: &[Parsed],
    ) -> (Bm25Params, Semantic) {
        let chunks = || parsed.iter().flat_map(|p| &p.chunks);
        let avg_len = match old {
            Some(m) => m.avg_len,
            None => {
                let (sum, n) = chunks().fold((0.0f64, 0usize), |(s, n), c| {
                    (s + f64::from(c.freqs.len), n + 1)
                });
                if n == 0 { 1.0 } else { (sum / n as f64) as f32 }
            }
        };
        let model = match old {
            Some(_) => Semantic::Ready(old_model),
            None => {
                let docs: Vec<&[(u32, f32)]> = chunks().map(|c| c.freqs.tf.as_slice()).collect();
                match SemanticModel::plan(&docs, semantic::DIMS) {
                    Some(training) => Semantic::Training(training),
                    None => Semantic::Ready(None),
                }
            }
        };
        let params = Bm25Params {
            avg_len,
            ..self.bm25
        };
        (params, model)
    }

    fn new_manifest(&self, params: &Bm25Params, semantic_dims: Option<usize>) -> Manifest {
        Manifest {
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
                semantic_dims,
                store: self.store_name(),
                shards: 1,
            },
            avg_len: params.avg_len,
            files: BTreeMap::new(),
        }
    }

    /// Embeds, places and writes the chunks, deletes the stale ones and makes it
    /// all durable: into a fresh store for a full build, the same one otherwise.
    /// A model still to be learnt is learnt on a blocking thread from before the
    /// store is (re)created; in the embedded shard it also places the chunks
    /// there while they are written (their vectors are set after) and writes
    /// the model's file aside for `persist` to move into place.
    #[allow(clippy::too_many_arguments)]
    async fn store_all(
        &self,
        manifest: &mut Manifest,
        early: Option<EarlyStore>,
        placed: Placed,
        files: &Arc<FileTable>,
        params: &Bm25Params,
        semantic: Semantic,
        full: bool,
        seal: Option<usize>,
        emit: &(dyn Fn(IndexEvent) + Send + Sync),
        summary: &mut IndexSummary,
    ) -> Result<Written, KnowledgeError> {
        let dense = self
            .embed_dense(&placed.write, manifest, emit, summary)
            .await?;
        // Points get their semantic vectors after they are written only in an
        // embedded shard written as one segment; a Qdrant server, or points
        // bound for sealed segments (a vector update would copy each one out of
        // its segment), wait for the model.
        let set_after = self.settings.qdrant.is_none() && seal.is_none();
        let mut pending = Some((placed.write, dense));
        let (mut model, mut points, mut first, mut later) = (None, Vec::new(), None, None);
        let (mut model_saved, mut rows, mut resident) = (false, None, None);
        match semantic {
            Semantic::Ready(m) => model = m,
            Semantic::Training(t) if set_after => {
                let (write, dense) = pending.take().unwrap_or_default();
                let (p, unplaced) = points_of(write, dense, params, None);
                points = p;
                rows = Some(rows_of(&points));
                let path = self.staged_semantic_path();
                later = Some(tokio::task::spawn_blocking(move || {
                    let m = t.run();
                    let vectors = place_all(&m, &unplaced);
                    // Written aside while the points are still being written;
                    // `persist` renames it into place just before the manifest.
                    let saved = m.save(&path);
                    (Arc::new(m), vectors, saved)
                }));
            }
            Semantic::Training(t) => {
                first = Some(tokio::task::spawn_blocking(move || Arc::new(t.run())));
            }
        }
        let store = match self
            .store_to_write(early, full, manifest.layout.dims(), manifest.layout.shards)
            .await
        {
            Ok(store) => store,
            Err(e) => {
                // Not left running past this run: it writes a file.
                if let Some(running) = later {
                    drop(running.await);
                }
                return Err(e);
            }
        };
        if let Some(running) = first {
            model = Some(learnt(running).await?);
        }
        if let Some((write, dense)) = pending {
            points = points_of(write, dense, params, model.as_deref()).0;
            // A fresh embedded shard (sealed segments, or a model already learnt):
            // ranked from the points as written, built while they are written
            // (reading 32,000 back took 0.5 s).
            if full && matches!(store, VectorStore::Edge(_)) {
                resident = Some(rank_written(rows_of(&points), Vec::new(), files));
            }
        }
        let started = Instant::now();
        let mut written = write(&store, points, placed.delete, seal, emit, summary).await;
        tracing::debug!(elapsed = ?started.elapsed(), "points written");
        // Joined whatever the writes did, so that it never writes its file
        // after this run has ended.
        let learning = match later {
            Some(running) => Some(learnt(running).await),
            None => None,
        };
        if let (Some(learning), VectorStore::Edge(edge), Ok(())) = (learning, &store, &written) {
            written = match learning {
                Ok((m, vectors, saved)) => {
                    model = Some(m);
                    model_saved = saved.is_ok();
                    // Ranked from while the shard takes the same vectors.
                    if let Some(rows) = rows.take() {
                        resident = Some(rank_written(rows, vectors.clone(), files));
                    }
                    match saved {
                        Ok(()) => edge.set_semantic(vectors).await,
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
        }
        if let Err(e) = written {
            *self.state.write().await = State::Broken(format!("the last indexing run failed: {e}"));
            return Err(e);
        }
        // Immutable segments after a full build: a restart maps them instead of
        // rebuilding a mutable index point by point.
        if full && let VectorStore::Edge(edge) = &store {
            edge.optimize().await?;
            tracing::debug!(elapsed = ?started.elapsed(), "segments optimised");
        }
        store.commit().await?;
        // The run is committed: should this fail, the rankings are read back.
        let resident = match resident {
            Some(building) => building
                .await
                .inspect_err(|e| tracing::warn!(error = %e, "building the rankings failed"))
                .ok(),
            None => None,
        };
        Ok(Written {
            store,
            model,
            model_saved,
            resident,
        })
    }

    /// The store a run writes into: the early shard when its layout is the
    /// one planned (with more shards added when planned), else a fresh one
    /// for a full build, else the open one.
    async fn store_to_write(
        &self,
        early: Option<EarlyStore>,
        full: bool,
        dims: DenseDims,
        shards: usize,
    ) -> Result<VectorStore, KnowledgeError> {
        if let Some((run, planned)) = early {
            let made = store::finish(run).await?;
            if planned == dims {
                let grown = tokio::task::spawn_blocking(move || made.with_shards(shards, dims));
                return Ok(VectorStore::Edge(store::finish(grown).await?));
            }
            drop(made);
            return self.recreate(dims, shards).await;
        }
        if full {
            // Drop the open shard before its folder is replaced.
            *self.state.write().await = State::NotBuilt;
            return self.recreate(dims, shards).await;
        }
        match &*self.state.read().await {
            State::Ready { store, .. } => Ok(store.clone()),
            _ => Err(KnowledgeError::NotIndexed),
        }
    }

    /// The embedded shard of a first build (nothing on disk yet), created
    /// while the files are parsed: with no embeddings endpoint its layout is
    /// known before the chunks are (the semantic model's usual size; a
    /// smaller corpus gets it recreated). A rebuild waits until the files have
    /// parsed, so a failure leaves what was there.
    async fn early_store(&self, full: bool) -> Option<EarlyStore> {
        if !full || self.settings.qdrant.is_some() || self.embedder.is_some() {
            return None;
        }
        if !matches!(*self.state.read().await, State::NotBuilt) {
            return None;
        }
        let dims = DenseDims {
            dense: None,
            semantic: Some(semantic::DIMS),
        };
        Some((self.replace_edge(dims, 1), dims))
    }

    /// Dense vectors for the chunks being written (the cache answers unchanged
    /// texts); all `None` without an embeddings endpoint.
    async fn embed_dense(
        &self,
        chunks: &[Prepared],
        manifest: &mut Manifest,
        emit: &(dyn Fn(IndexEvent) + Send + Sync),
        summary: &mut IndexSummary,
    ) -> Result<Vec<Option<Vec<f32>>>, KnowledgeError> {
        let Some(embedder) = &self.embedder else {
            return Ok(vec![None; chunks.len()]);
        };
        let texts: Vec<(ContentHash, String)> =
            chunks.iter().filter_map(|c| c.embed.clone()).collect();
        let total = texts.len();
        emit(IndexEvent::Embedding { done: 0, total });
        let (vectors, stats) = embedder.embed_all(&texts).await?;
        emit(IndexEvent::Embedding { done: total, total });
        summary.embedded = stats.embedded;
        summary.embeddings_cached = stats.cached;
        if let Some(dim) = vectors.first().map(Vec::len) {
            manifest.layout.dense = Some((embedder.model().to_owned(), dim));
        }
        Ok(vectors.into_iter().map(Some).collect())
    }

    /// The semantic model's file as `model_file` says, the manifest, then the
    /// embeddings cache pruned to what the manifest still lists.
    fn persist(
        &self,
        manifest: &Manifest,
        model: Option<&SemanticModel>,
        model_file: ModelFile,
    ) -> Result<(), KnowledgeError> {
        let path = self.semantic_path();
        match (model_file, model) {
            (ModelFile::Keep, _) => {}
            (ModelFile::Staged, _) => std::fs::rename(self.staged_semantic_path(), &path)
                .map_err(|source| KnowledgeError::Io { path, source })?,
            (ModelFile::Save, Some(m)) => m.save(&path)?,
            (ModelFile::Save, None) => match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(KnowledgeError::Io { path, source: e });
                }
                _ => {}
            },
        }
        let text = serde_json::to_string(manifest)
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
        Ok(())
    }
}

/// What a run does with the semantic model's file: nothing (it keeps its
/// model), write (or remove) it, or move the one its learning thread wrote.
enum ModelFile {
    Keep,
    Save,
    Staged,
}

/// The semantic model of a run: known (kept, or none for a tiny corpus), or
/// planned with its dimensions and still to be learnt.
enum Semantic {
    Ready(Option<Arc<SemanticModel>>),
    Training(Training),
}

impl Semantic {
    fn dims(&self) -> Option<usize> {
        match self {
            Semantic::Ready(m) => m.as_deref().map(SemanticModel::dims),
            Semantic::Training(t) => Some(t.dims()),
        }
    }
}

/// What a blocking thread learning the model returns (the model, with the
/// chunks it placed), once it does.
async fn learnt<T>(running: tokio::task::JoinHandle<T>) -> Result<T, KnowledgeError> {
    let model = running
        .await
        .map_err(|e| KnowledgeError::Store(format!("learning the semantic model failed: {e}")))?;
    tracing::debug!("semantic model ready");
    Ok(model)
}

/// Chunks written before the semantic model was learnt: id and term frequencies.
type Unplaced = Vec<(u64, Vec<(u32, f32)>)>;

/// The chunks as stored points, weighted; without a model yet, each chunk's
/// term frequencies are kept to place it once there is one.
fn points_of(
    chunks: Vec<Prepared>,
    dense: Vec<Option<Vec<f32>>>,
    params: &Bm25Params,
    model: Option<&SemanticModel>,
) -> (Vec<StoredChunk>, Unplaced) {
    let mut unplaced = Vec::new();
    let points = chunks
        .into_iter()
        .zip(dense)
        .map(|(c, d)| {
            let sparse = c.freqs.bm25(params);
            let semantic = match model {
                Some(m) => m.embed(&c.freqs.tf),
                None => {
                    unplaced.push((c.id, c.freqs.tf));
                    None
                }
            };
            StoredChunk {
                id: c.id,
                sparse,
                dense: d,
                semantic,
                payload: c.payload,
            }
        })
        .collect();
    (points, unplaced)
}

/// The ranking vectors of points about to be written, semantic ones in the
/// form the shard keeps (those still to be placed are attached later).
fn rows_of(points: &[StoredChunk]) -> Vec<ResidentPoint> {
    points
        .iter()
        .map(|p| ResidentPoint {
            id: p.id,
            sparse: p.sparse.clone(),
            semantic: p.semantic.clone().map(EdgeStore::stored_semantic),
        })
        .collect()
}

/// The rankings of the points a fresh embedded shard is taking, built on a
/// blocking thread; `set_after` are semantic vectors set on them after writing.
fn rank_written(
    mut rows: Vec<ResidentPoint>,
    set_after: Vec<(u64, Vec<f32>)>,
    files: &Arc<FileTable>,
) -> tokio::task::JoinHandle<Resident> {
    let files = Arc::clone(files);
    tokio::task::spawn_blocking(move || {
        attach_semantic(&mut rows, set_after);
        Resident::new(rows, &files)
    })
}

/// The semantic vectors set on written points, in the form the shard keeps.
fn attach_semantic(rows: &mut [ResidentPoint], vectors: Vec<(u64, Vec<f32>)>) {
    let at: HashMap<u64, usize> = rows.iter().enumerate().map(|(i, p)| (p.id, i)).collect();
    for (id, v) in vectors {
        if let Some(i) = at.get(&id) {
            rows[*i].semantic = Some(EdgeStore::stored_semantic(v));
        }
    }
}

/// Chunks placed in the semantic space, for the ones the model knows terms
/// of; a large set in two halves on two threads (each chunk is placed alone,
/// so the result is the same).
fn place_all(model: &SemanticModel, chunks: &Unplaced) -> Vec<(u64, Vec<f32>)> {
    let place = |part: &[(u64, Vec<(u32, f32)>)]| -> Vec<(u64, Vec<f32>)> {
        part.iter()
            .filter_map(|(id, tf)| model.embed(tf).map(|v| (*id, v)))
            .collect()
    };
    if chunks.len() < PLACE_IN_HALVES {
        return place(chunks);
    }
    let (first, second) = chunks.split_at(chunks.len() / 2);
    std::thread::scope(|scope| {
        let later = scope.spawn(|| place(second));
        let mut out = place(first);
        match later.join() {
            Ok(rest) => out.extend(rest),
            Err(panic) => std::panic::resume_unwind(panic),
        }
        out
    })
}

/// Chunks from which placing them is worth a second thread.
const PLACE_IN_HALVES: usize = 512;

/// The files that are new or whose bytes changed since `old`.
fn changed_files(current: &Current, old: Option<&Manifest>) -> Vec<Changed> {
    current
        .iter()
        .filter(|(key, (_, _, _, hash))| {
            old.and_then(|m| m.files.get(*key))
                .is_none_or(|f| &f.hash != hash)
        })
        .map(|(k, (i, rel, abs, hash))| (k.clone(), *i, rel.clone(), abs.clone(), hash.clone()))
        .collect()
}

/// Updates the manifest for the removed and parsed files and says which chunks
/// are new (ids are content-addressed, so a kept id is unchanged) and which go.
fn place(manifest: &mut Manifest, removed: &[String], parsed: Vec<Parsed>) -> Placed {
    let mut delete: Vec<u64> = Vec::new();
    for key in removed {
        if let Some(f) = manifest.files.remove(key) {
            delete.extend(f.chunks);
        }
    }
    let mut write: Vec<Prepared> = Vec::new();
    for file in parsed {
        let new_ids: Vec<u64> = file.chunks.iter().map(|c| c.id).collect();
        let old_ids: HashSet<u64> = manifest
            .files
            .get(&file.key)
            .map(|f| f.chunks.iter().copied().collect())
            .unwrap_or_default();
        let keep: HashSet<u64> = new_ids.iter().copied().collect();
        delete.extend(old_ids.iter().filter(|id| !keep.contains(id)));
        let embedded = file
            .chunks
            .iter()
            .filter_map(|c| c.embed.as_ref().map(|(h, _)| hex(&h.0)))
            .collect();
        write.extend(file.chunks.into_iter().filter(|c| !old_ids.contains(&c.id)));
        manifest.files.insert(
            file.key,
            FileEntry {
                hash: file.hash,
                chunks: new_ids,
                embedded,
            },
        );
    }
    Placed { write, delete }
}

/// The embedded shards of a full build of `points` chunks (one per
/// [`SHARD_ABOVE`], or `opts.shard_above`, up to [`store::MAX_SHARDS`]), and
/// the points a shard seals its segment after, when each holds more than a
/// segment should (see [`SEAL_ABOVE`]).
fn plan_shards(points: usize, opts: IndexOptions) -> (usize, Option<usize>) {
    let per_shard = opts.shard_above.unwrap_or(SHARD_ABOVE).max(1);
    let shards = points.div_ceil(per_shard).clamp(1, store::MAX_SHARDS);
    let seal_above = opts.seal_every.map_or(SEAL_ABOVE, |every| every.max(1));
    let seal = (points.div_ceil(shards) > seal_above)
        .then(|| opts.seal_every.unwrap_or(SEAL_EVERY).max(1));
    (shards, seal)
}

/// Why an incremental run over `old` (an embedded index) must build
/// everything again: the chunks it would leave exceed what the shards were
/// planned for. Later runs write into the shards a full build made, so an
/// index grown by many small runs would otherwise keep the layout of its
/// first, smaller build.
fn outgrown(
    old: Option<&Manifest>,
    current: &Current,
    parsed: &[Parsed],
    opts: IndexOptions,
) -> Option<String> {
    let old = old?;
    let reparsed: HashSet<&str> = parsed.iter().map(|p| p.key.as_str()).collect();
    let kept: usize = old
        .files
        .iter()
        .filter(|(key, _)| current.contains_key(*key) && !reparsed.contains(key.as_str()))
        .map(|(_, f)| f.chunks.len())
        .sum();
    let total = kept + parsed.iter().map(|p| p.chunks.len()).sum::<usize>();
    let (shards, _) = plan_shards(total, opts);
    (shards > old.layout.shards).then(|| {
        format!(
            "{total} chunks outgrew {} shard{}, now split over {shards}",
            old.layout.shards,
            if old.layout.shards == 1 { "" } else { "s" }
        )
    })
}

/// Deletes, then writes in batches, reporting progress; with `seal`, each
/// embedded shard's appendable segment is sealed every that many points.
async fn write(
    store: &VectorStore,
    mut points: Vec<StoredChunk>,
    delete: Vec<u64>,
    seal: Option<usize>,
    emit: &(dyn Fn(IndexEvent) + Send + Sync),
    summary: &mut IndexSummary,
) -> Result<(), KnowledgeError> {
    summary.chunks_deleted = delete.len();
    store.delete(delete).await?;
    let total = points.len();
    // Each embedded shard takes each run it seals after (up to `SEAL_ABOVE`
    // points when it does not seal) in one write, to set its sparse vectors
    // head first (`EdgeStore::upsert`), the shards side by side; a server
    // takes requests of `WRITE_BATCH`. Points spread over the shards by id,
    // so a shard's runs are about, not exactly, that long.
    let (batch, seal) = match store {
        VectorStore::Edge(edge) => {
            let shards = edge.shard_count();
            (
                seal.unwrap_or(SEAL_ABOVE).max(1) * shards,
                seal.map(|every| every.max(1) * shards),
            )
        }
        VectorStore::Server(_) => (WRITE_BATCH, None),
    };
    let (mut done, mut unsealed) = (0, 0);
    while !points.is_empty() {
        let rest = points.split_off(points.len().min(batch));
        let n = points.len();
        store.upsert(std::mem::replace(&mut points, rest)).await?;
        done += n;
        unsealed += n;
        emit(IndexEvent::Writing { done, total });
        if let (Some(every), VectorStore::Edge(edge)) = (seal, store)
            && unsealed >= every
        {
            edge.seal().await?;
            unsealed = 0;
        }
    }
    summary.chunks_written = total;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DocSourceSettings, KnowledgeSettings};

    /// Placed in two halves on two threads, a large set comes out as placed in one pass.
    #[test]
    fn chunks_placed_in_halves_are_placed_as_in_one_pass() {
        let docs: Vec<Vec<(u32, f32)>> = (0..PLACE_IN_HALVES as u32 * 2 + 3)
            .map(|i| vec![(i % 7, 1.0), (7 + i % 5, 2.0), (20 + i % 3, 1.0)])
            .collect();
        let refs: Vec<&[(u32, f32)]> = docs.iter().map(Vec::as_slice).collect();
        let model = SemanticModel::train(&refs, 4).expect("model");
        let chunks: Unplaced = docs
            .into_iter()
            .enumerate()
            .map(|(i, d)| (i as u64, d))
            .collect();
        let one_pass: Vec<(u64, Vec<f32>)> = chunks
            .iter()
            .filter_map(|(id, tf)| model.embed(tf).map(|v| (*id, v)))
            .collect();
        assert_eq!(one_pass.len(), chunks.len());
        assert_eq!(place_all(&model, &chunks), one_pass);
    }

    /// Only a first build with nothing on disk, no embeddings endpoint and no
    /// Qdrant server makes its shard early, with the model's full size.
    #[tokio::test]
    async fn only_a_first_embedded_build_makes_its_shard_early() {
        let (docs, data) = (
            tempfile::tempdir().expect("docs"),
            tempfile::tempdir().expect("data"),
        );
        std::fs::write(docs.path().join("a.md"), "# A\n\nrotate the vault token\n").expect("write");
        let settings = KnowledgeSettings {
            sources: vec![DocSourceSettings {
                name: "docs".into(),
                path: docs.path().to_path_buf(),
                base_url: None,
            }],
            ..KnowledgeSettings::default()
        };
        let index = DocsIndex::open(&settings, data.path()).await.expect("open");
        assert!(index.early_store(false).await.is_none());
        let (run, dims) = index.early_store(true).await.expect("a first build");
        assert_eq!(
            dims,
            DenseDims {
                dense: None,
                semantic: Some(semantic::DIMS)
            }
        );
        drop(store::finish(run).await.expect("shard made"));

        // This corpus is too small for that size: the build makes another.
        index
            .index(IndexOptions::default(), None)
            .await
            .expect("index");
        let found = index.search("vault token", 3, None).await.expect("search");
        assert_eq!(
            found.passages.first().map(|p| p.path.as_str()),
            Some("a.md")
        );
        // Over a working index, a rebuild waits for the files.
        assert!(index.early_store(true).await.is_none());
    }
}
