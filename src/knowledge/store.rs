//! Where chunks live: qdrant-edge (embedded, on disk under the data dir) by
//! default, or a Qdrant server through qdrant-client. Both hold the same
//! layout: a sparse vector `bm25` with the IDF modifier, a dense vector
//! `semantic` (cosine) from the corpus's own latent semantic model, an optional
//! dense vector `dense` (cosine) from an embeddings endpoint, and the chunk as
//! payload.
//!
//! qdrant-edge 0.7 is synchronous and has no WAL replay, so every call runs on
//! the blocking pool and a run of writes ends with [`VectorStore::commit`],
//! which flushes everything to disk once (the index's manifest is written only
//! after it, so a run cut short is seen as a half-built index and rebuilt).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::KnowledgeError;
use super::rank::Hit;
use super::resident::ResidentPoint;
use super::sparse::SparseVec;

/// Points per page when reading the whole store back.
const SCROLL_PAGE: usize = 4096;

pub const SPARSE: &str = "bm25";
pub const DENSE: &str = "dense";
pub const SEMANTIC: &str = "semantic";

/// The sizes of the dense vectors a collection holds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DenseDims {
    /// From the embeddings endpoint.
    pub dense: Option<usize>,
    /// From the latent semantic model.
    pub semantic: Option<usize>,
}

/// What a point carries besides its vectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkPayload {
    /// The configured source's name.
    pub source: String,
    /// The file, relative to the source's root, with `/`.
    pub path: String,
    pub title: String,
    pub headings: Vec<String>,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct StoredChunk {
    pub id: u64,
    pub sparse: SparseVec,
    pub dense: Option<Vec<f32>>,
    pub semantic: Option<Vec<f32>>,
    pub payload: ChunkPayload,
}

/// One ranking asked of the store.
#[derive(Debug, Clone)]
pub enum VectorQuery {
    /// BM25 (the store multiplies in the IDF).
    Sparse(SparseVec),
    /// The embeddings endpoint's vector of the question.
    Dense(Vec<f32>),
    /// The latent semantic model's vector of the question.
    Semantic(Vec<f32>),
}

/// Rankings to run in one go: each returns its best `limit` chunks, lean (ids
/// and scores: the manifest knows each chunk's file), the whole chunks being
/// fetched later for the few quoted.
#[derive(Debug, Clone)]
pub struct CandidateQuery {
    pub rankings: Vec<VectorQuery>,
    pub limit: usize,
    /// Only chunks from these sources (all when `None`).
    pub sources: Option<Vec<String>>,
}

/// A chunk read whole, to be quoted.
#[derive(Debug, Clone)]
pub struct FetchedChunk {
    pub id: u64,
    pub payload: ChunkPayload,
    /// The chunk's sparse term ids, sorted, where the store returns them cheaply.
    pub terms: Option<Vec<u32>>,
}

#[derive(Clone)]
pub enum VectorStore {
    Edge(EdgeStore),
    Server(ServerStore),
}

impl std::fmt::Debug for VectorStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Edge(e) if e.shards.len() > 1 => write!(
                f,
                "qdrant-edge at {} ({} shards)",
                e.dir.display(),
                e.shards.len()
            ),
            Self::Edge(e) => write!(f, "qdrant-edge at {}", e.dir.display()),
            Self::Server(s) => write!(f, "Qdrant server {} collection {}", s.url, s.collection),
        }
    }
}

impl VectorStore {
    pub fn describe(&self) -> String {
        format!("{self:?}")
    }

    pub async fn upsert(&self, points: Vec<StoredChunk>) -> Result<(), KnowledgeError> {
        if points.is_empty() {
            return Ok(());
        }
        match self {
            Self::Edge(e) => e.upsert(points).await,
            Self::Server(s) => s.upsert(points).await,
        }
    }

    pub async fn delete(&self, ids: Vec<u64>) -> Result<(), KnowledgeError> {
        if ids.is_empty() {
            return Ok(());
        }
        match self {
            Self::Edge(e) => e.delete(ids).await,
            Self::Server(s) => s.delete(ids).await,
        }
    }

    /// Makes the writes so far durable (a server's writes already are: they wait).
    pub async fn commit(&self) -> Result<(), KnowledgeError> {
        match self {
            Self::Edge(e) => e.commit().await,
            Self::Server(_) => Ok(()),
        }
    }

    /// One list of candidate chunks per ranking asked, best first.
    pub async fn candidates(&self, q: CandidateQuery) -> Result<Vec<Vec<Hit>>, KnowledgeError> {
        match self {
            Self::Edge(e) => {
                let e = e.clone();
                blocking(move || e.candidates_blocking(q)).await
            }
            Self::Server(s) => s.candidates(q).await,
        }
    }

    /// The chunks with these ids, whole, in the order asked (missing ones left
    /// out); with their term ids when `with_terms` and the store returns them cheaply.
    pub async fn fetch(
        &self,
        ids: Vec<u64>,
        with_terms: bool,
    ) -> Result<Vec<FetchedChunk>, KnowledgeError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            // A few chunks by id: tens of µs of reads, less than a hop to the
            // blocking pool and back would cost.
            Self::Edge(e) => inline(|| e.fetch_blocking(&ids, with_terms)),
            Self::Server(s) => s.fetch(ids).await,
        }
    }

    pub async fn count(&self) -> Result<usize, KnowledgeError> {
        match self {
            Self::Edge(e) => e.count().await,
            Self::Server(s) => s.count().await,
        }
    }
}

fn store_err(e: impl std::fmt::Display) -> KnowledgeError {
    KnowledgeError::Store(e.to_string())
}

fn payload_of(
    map: serde_json::Map<String, serde_json::Value>,
) -> Result<ChunkPayload, KnowledgeError> {
    serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| {
        KnowledgeError::Corrupt(format!("a stored chunk has an unreadable payload: {e}"))
    })
}

fn edge_id(id: &qdrant_edge::PointId) -> u64 {
    match id {
        qdrant_edge::PointId::NumId(n) => *n,
        qdrant_edge::PointId::Uuid(_) => 0,
    }
}

/// The `bm25` vector of a point, when it came back with it.
fn edge_sparse(vector: Option<qdrant_edge::VectorStructInternal>) -> Option<SparseVec> {
    match vector {
        Some(qdrant_edge::VectorStructInternal::Named(mut named)) => match named.remove(SPARSE) {
            Some(qdrant_edge::VectorInternal::Sparse(sv)) => Some(SparseVec {
                indices: sv.indices,
                values: sv.values,
            }),
            _ => None,
        },
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// qdrant-edge

/// Sealed segments an embedded shard keeps before merging them.
const SEALED_SEGMENTS: usize = 32;

/// Points in one write from which their sparse vectors are set head first
/// (see [`EdgeStore::upsert`]).
const HEAD_FIRST_POINTS: usize = 256;
/// Points per update in such a write: qdrant-edge takes the points of one
/// update in hash order, so in a fresh segment an entry lands at most this
/// far from its list's head (in one that held points, that far from them).
const HEAD_FIRST_BATCH: usize = 32;

/// A vector to set on a stored point.
enum SetVector {
    Dense(Vec<f32>),
    Sparse(SparseVec),
}

/// Shards a full build may split its points over (see [`EdgeStore`]).
pub const MAX_SHARDS: usize = 8;

/// The embedded store: one qdrant-edge shard in a folder or, for a large
/// build, several in sibling folders (`edge`, `edge.1`, ...), each point in
/// the one its id picks. qdrant-edge's mutable sparse index makes a segment's
/// writes quadratic in its size, and a shard is written on one thread: split,
/// each shard's segment stays small and the shards are written side by side.
/// Rankings do not move with the split: the embedded index ranks BM25 and the
/// semantic model in process (`resident`), and merges the shards' dense hits.
#[derive(Clone)]
pub struct EdgeStore {
    dir: PathBuf,
    shards: Arc<[Arc<qdrant_edge::EdgeShard>]>,
}

/// The folder of shard `k` of the store in `dir`.
fn shard_dir(dir: &Path, k: usize) -> PathBuf {
    if k == 0 {
        return dir.to_owned();
    }
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{k}"));
    dir.with_file_name(name)
}

/// Removes the store in `dir` and every sibling shard folder, however many
/// an earlier build made.
fn remove_shards(dir: &Path) -> Result<(), KnowledgeError> {
    let remove = |path: &Path| {
        std::fs::remove_dir_all(path).map_err(|source| KnowledgeError::Io {
            path: path.to_owned(),
            source,
        })
    };
    if dir.exists() {
        remove(dir)?;
    }
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name().and_then(|n| n.to_str()))
    else {
        return Ok(());
    };
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let sibling = file
            .to_str()
            .and_then(|f| f.strip_prefix(name))
            .and_then(|rest| rest.strip_prefix('.'))
            .is_some_and(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()));
        if sibling {
            remove(&entry.path())?;
        }
    }
    Ok(())
}

impl EdgeStore {
    fn config(dims: DenseDims) -> qdrant_edge::EdgeConfig {
        use qdrant_edge::{
            Distance, EdgeConfigBuilder, EdgeSparseVectorParams, EdgeVectorParams, Modifier,
        };
        let mut builder = EdgeConfigBuilder::new().sparse_vector(
            SPARSE,
            EdgeSparseVectorParams::builder()
                .modifier(Modifier::Idf)
                .build(),
        );
        if let Some(dim) = dims.dense {
            builder = builder.vector(
                DENSE,
                EdgeVectorParams::builder(dim, Distance::Cosine).build(),
            );
        }
        if let Some(dim) = dims.semantic {
            // Ranked in process (`resident`), never by the shard: no graph to build.
            let no_graph = qdrant_edge::HnswIndexConfig {
                m: 0,
                ..Default::default()
            };
            builder = builder.vector(
                SEMANTIC,
                EdgeVectorParams::builder(dim, Distance::Cosine)
                    .hnsw_config(no_graph)
                    .build(),
            );
        }
        builder.build()
    }

    /// An empty shard in `dir`, replacing whatever the folder held; blocks.
    fn create(dir: &Path, dims: DenseDims) -> Result<Arc<qdrant_edge::EdgeShard>, KnowledgeError> {
        let io = |source| KnowledgeError::Io {
            path: dir.to_owned(),
            source,
        };
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(io)?;
        }
        std::fs::create_dir_all(dir).map_err(io)?;
        let shard = qdrant_edge::EdgeShard::new(dir, Self::config(dims)).map_err(store_err)?;
        Ok(Arc::new(shard))
    }

    /// An empty store of `shards` shards in `dir` (and its siblings),
    /// replacing whatever the folders held; blocks.
    pub fn replace(dir: PathBuf, dims: DenseDims, shards: usize) -> Result<Self, KnowledgeError> {
        remove_shards(&dir)?;
        let shards = (0..shards.max(1))
            .map(|k| Self::create(&shard_dir(&dir, k), dims))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            dir,
            shards: shards.into(),
        })
    }

    /// This empty store grown to `shards` shards; blocks.
    pub fn with_shards(self, shards: usize, dims: DenseDims) -> Result<Self, KnowledgeError> {
        let mut all = self.shards.to_vec();
        for k in all.len()..shards {
            all.push(Self::create(&shard_dir(&self.dir, k), dims)?);
        }
        Ok(Self {
            dir: self.dir,
            shards: all.into(),
        })
    }

    /// Opens the `shards` shards of the store in `dir`, side by side; a
    /// missing or unreadable one is `Corrupt`.
    pub async fn open(dir: &Path, shards: usize) -> Result<Self, KnowledgeError> {
        let paths: Vec<PathBuf> = (0..shards.max(1)).map(|k| shard_dir(dir, k)).collect();
        // Every folder checked before any shard loads: a load left running
        // would still hold its folder when a rebuild removes it.
        if let Some(path) = paths.iter().find(|p| !p.join("edge_config.json").is_file()) {
            return Err(KnowledgeError::Corrupt(format!(
                "the index data in {} is missing",
                path.display()
            )));
        }
        let mut runs = Vec::new();
        for path in paths {
            runs.push(tokio::task::spawn_blocking(move || {
                qdrant_edge::EdgeShard::load(&path, None)
                    .map(Arc::new)
                    .map_err(|e| {
                        KnowledgeError::Corrupt(format!(
                            "cannot load the index in {}: {e}",
                            path.display()
                        ))
                    })
            }));
        }
        let loaded = join_all(runs).await?;
        Ok(Self {
            dir: dir.to_owned(),
            shards: loaded.into(),
        })
    }

    /// How many shards the store has.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Splits `items` by the shard their id picks.
    fn split<T>(&self, items: Vec<T>, id: impl Fn(&T) -> u64) -> Vec<Vec<T>> {
        let n = self.shards.len();
        if n == 1 {
            return vec![items];
        }
        let mut parts: Vec<Vec<T>> = (0..n).map(|_| Vec::new()).collect();
        for item in items {
            // A remainder below `n`, which is a `usize`.
            parts[(id(&item) % n as u64) as usize].push(item);
        }
        parts
    }

    /// Runs `f` on every shard with its input, each on the blocking pool at
    /// the same time; the results in shard order.
    async fn on_shards<I: Send + 'static, T: Send + 'static>(
        &self,
        inputs: Vec<I>,
        f: impl Fn(&qdrant_edge::EdgeShard, I) -> Result<T, KnowledgeError> + Send + Sync + 'static,
    ) -> Result<Vec<T>, KnowledgeError> {
        let f = Arc::new(f);
        let runs = self
            .shards
            .iter()
            .zip(inputs)
            .map(|(shard, input)| {
                let (shard, f) = (Arc::clone(shard), Arc::clone(&f));
                tokio::task::spawn_blocking(move || f(&shard, input))
            })
            .collect();
        join_all(runs).await
    }

    /// Runs `f` on every shard at the same time.
    async fn on_each<T: Send + 'static>(
        &self,
        f: impl Fn(&qdrant_edge::EdgeShard) -> Result<T, KnowledgeError> + Send + Sync + 'static,
    ) -> Result<Vec<T>, KnowledgeError> {
        let inputs = vec![(); self.shards.len()];
        self.on_shards(inputs, move |shard, ()| f(shard)).await
    }

    /// Writes the points, one blocking call a shard, the shards side by side.
    async fn upsert(&self, points: Vec<StoredChunk>) -> Result<(), KnowledgeError> {
        let ops = self
            .split(points, |p| p.id)
            .into_iter()
            .map(Self::upsert_ops)
            .collect::<Result<Vec<_>, _>>()?;
        self.on_shards(ops, |shard, ops| {
            for op in ops {
                shard.update(op).map_err(store_err)?;
            }
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// The updates that write the points into one shard. From [`HEAD_FIRST_POINTS`] on,
    /// the points go in first without their sparse vectors, in batches, and
    /// the sparse vectors follow batch by batch from the last: qdrant-edge 0.7
    /// numbers a shard's points in the order they come and, on every entry
    /// added to a posting list, walks the list from there back to its head,
    /// so entries appended in order cost the square of a term's chunks (0.1 s
    /// of CPU for 3194 chunks, an eighth of a build) where entries set last
    /// first land within a batch of the head.
    fn upsert_ops(
        points: Vec<StoredChunk>,
    ) -> Result<Vec<qdrant_edge::UpdateOperation>, KnowledgeError> {
        let mut ops = Vec::new();
        if points.is_empty() {
            return Ok(ops);
        }
        if points.len() < HEAD_FIRST_POINTS {
            let structs = points
                .into_iter()
                .map(|p| Self::point_struct(p, true).map(|(s, _)| s))
                .collect::<Result<_, _>>()?;
            ops.push(Self::upsert_op(structs));
        } else {
            let mut sparse = Vec::new();
            let mut points = points.into_iter().peekable();
            while points.peek().is_some() {
                let mut structs = Vec::with_capacity(HEAD_FIRST_BATCH);
                let mut vectors = Vec::with_capacity(HEAD_FIRST_BATCH);
                for p in points.by_ref().take(HEAD_FIRST_BATCH) {
                    let id = p.id;
                    let (s, v) = Self::point_struct(p, false)?;
                    structs.push(s);
                    vectors.extend(v.map(|v| (id, SetVector::Sparse(v))));
                }
                ops.push(Self::upsert_op(structs));
                sparse.push(Self::set_vectors_op(SPARSE, vectors)?);
            }
            ops.extend(sparse.into_iter().rev());
        }
        Ok(ops)
    }

    /// A point to write; without its sparse vector (handed back) unless `with_sparse`.
    fn point_struct(
        p: StoredChunk,
        with_sparse: bool,
    ) -> Result<(qdrant_edge::PointStructPersisted, Option<SparseVec>), KnowledgeError> {
        use qdrant_edge::{PointStruct, Vector, Vectors};
        let mut named = Vec::with_capacity(3);
        let mut held = None;
        if with_sparse {
            named.push((
                SPARSE.to_owned(),
                Vector::new_sparse(p.sparse.indices, p.sparse.values).map_err(store_err)?,
            ));
        } else {
            held = Some(p.sparse);
        }
        if let Some(d) = p.dense {
            named.push((DENSE.to_owned(), Vector::new_dense(d)));
        }
        if let Some(d) = p.semantic {
            named.push((SEMANTIC.to_owned(), Vector::new_dense(d)));
        }
        let payload = serde_json::to_value(&p.payload).map_err(store_err)?;
        Ok((
            PointStruct::new(p.id, Vectors::from(named), payload).into(),
            held,
        ))
    }

    fn upsert_op(points: Vec<qdrant_edge::PointStructPersisted>) -> qdrant_edge::UpdateOperation {
        use qdrant_edge::{PointInsertOperations, PointOperations, UpdateOperation};
        UpdateOperation::PointOperation(PointOperations::UpsertPoints(
            PointInsertOperations::PointsList(points),
        ))
    }

    /// An update setting the vector `name` of existing points.
    fn set_vectors_op(
        name: &str,
        vectors: Vec<(u64, SetVector)>,
    ) -> Result<qdrant_edge::UpdateOperation, KnowledgeError> {
        use qdrant_edge::{
            PointId, PointVectorsPersisted, UpdateOperation, UpdateVectorsOp, VectorOperations,
            VectorPersisted, VectorStructPersisted,
        };
        let points = vectors
            .into_iter()
            .map(|(id, v)| {
                let vector = match v {
                    SetVector::Dense(d) => VectorPersisted::Dense(d),
                    SetVector::Sparse(s) => VectorPersisted::Sparse(
                        qdrant_edge::SparseVector::new(s.indices, s.values).map_err(store_err)?,
                    ),
                };
                Ok(PointVectorsPersisted {
                    id: PointId::NumId(id),
                    vector: VectorStructPersisted::Named(
                        [(name.to_owned(), vector)].into_iter().collect(),
                    ),
                })
            })
            .collect::<Result<_, KnowledgeError>>()?;
        Ok(UpdateOperation::VectorOperation(
            VectorOperations::UpdateVectors(UpdateVectorsOp {
                points,
                update_filter: None,
            }),
        ))
    }

    /// A semantic vector as the shard stores it (qdrant normalises a cosine
    /// vector on the way in, with its own arithmetic), so that rankings read
    /// from a build's own copy match those read back from the shard bit for bit.
    pub fn stored_semantic(v: Vec<f32>) -> Vec<f32> {
        qdrant_edge::Distance::Cosine.preprocess_vector::<f32>(v)
    }

    /// Sets the semantic vector of points written without one (the model was
    /// still being learnt when they were written).
    pub async fn set_semantic(&self, vectors: Vec<(u64, Vec<f32>)>) -> Result<(), KnowledgeError> {
        let ops = self
            .split(vectors, |v| v.0)
            .into_iter()
            .map(|part| {
                let part: Vec<_> = part
                    .into_iter()
                    .map(|(id, v)| (id, SetVector::Dense(v)))
                    .collect();
                match part.is_empty() {
                    true => Ok(None),
                    false => Self::set_vectors_op(SEMANTIC, part).map(Some),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.on_shards(ops, |shard, op| match op {
            Some(op) => shard.update(op).map(|_| ()).map_err(store_err),
            None => Ok(()),
        })
        .await?;
        Ok(())
    }

    async fn delete(&self, ids: Vec<u64>) -> Result<(), KnowledgeError> {
        use qdrant_edge::{PointId, PointOperations, UpdateOperation};
        let parts = self.split(ids, |id| *id);
        self.on_shards(parts, |shard, ids| {
            if ids.is_empty() {
                return Ok(());
            }
            let ids = ids.into_iter().map(PointId::NumId).collect();
            shard
                .update(UpdateOperation::PointOperation(
                    PointOperations::DeletePoints { ids },
                ))
                .map(|_| ())
                .map_err(store_err)
        })
        .await?;
        Ok(())
    }

    async fn commit(&self) -> Result<(), KnowledgeError> {
        self.on_each(|shard| {
            shard.flush();
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// Seals the appendable segment into an immutable one, whatever its size,
    /// for a large build written in slices (see `SEAL_EVERY`). From then on the
    /// shard seals any appendable segment when optimised, and keeps up to
    /// [`SEALED_SEGMENTS`] of them apart (a merge rewrites every one it takes).
    /// A small build is not sealed: its one segment serves queries faster as
    /// it is (measured: 0.3 against 0.8 ms cold, and 0.2 s less to build).
    pub async fn seal(&self) -> Result<(), KnowledgeError> {
        self.on_each(|shard| {
            shard
                .set_optimizers_config(qdrant_edge::EdgeOptimizersConfig {
                    indexing_threshold: Some(1),
                    default_segment_number: Some(SEALED_SEGMENTS),
                    ..Default::default()
                })
                .map_err(store_err)?;
            shard.optimize().map(|_| ()).map_err(store_err)
        })
        .await?;
        Ok(())
    }

    /// Builds the optimised (immutable) segments after a large write, so that
    /// opening the shard maps them rather than rebuilding a mutable index.
    pub async fn optimize(&self) -> Result<(), KnowledgeError> {
        self.on_each(|shard| shard.optimize().map(|_| ()).map_err(store_err))
            .await?;
        Ok(())
    }

    fn source_filter(
        sources: &Option<Vec<String>>,
    ) -> Result<Option<qdrant_edge::Filter>, KnowledgeError> {
        use qdrant_edge::{Condition, FieldCondition, Filter, JsonPath, Match};
        let Some(sources) = sources else {
            return Ok(None);
        };
        let key: JsonPath = "source".parse().map_err(|_| store_err("bad payload key"))?;
        Ok(Some(Filter::new_must(Condition::Field(
            FieldCondition::new_match(key, Match::from(sources.clone())),
        ))))
    }

    /// Every ranking of `q` on the caller's thread (benchmarks and the
    /// blocking pool); over several shards, their best merged by score, ties
    /// by id.
    fn candidates_blocking(&self, q: CandidateQuery) -> Result<Vec<Vec<Hit>>, KnowledgeError> {
        use qdrant_edge::{
            NamedQuery, QueryEnum, QueryRequest, ScoringQuery, VectorInternal,
            WithPayloadInterface, WithVector,
        };
        let filter = Self::source_filter(&q.sources)?;
        let mut out = Vec::with_capacity(q.rankings.len());
        for ranking in q.rankings {
            let (vector, name) = match ranking {
                VectorQuery::Sparse(v) => (
                    VectorInternal::Sparse(
                        qdrant_edge::SparseVector::new(v.indices, v.values).map_err(store_err)?,
                    ),
                    SPARSE,
                ),
                VectorQuery::Dense(v) => (VectorInternal::Dense(v), DENSE),
                VectorQuery::Semantic(v) => (VectorInternal::Dense(v), SEMANTIC),
            };
            let mut hits = Vec::new();
            for shard in self.shards.iter() {
                let request = QueryRequest {
                    prefetches: Vec::new(),
                    query: Some(ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery::new(
                        vector.clone(),
                        name,
                    )))),
                    filter: filter.clone(),
                    score_threshold: None,
                    limit: q.limit,
                    offset: 0,
                    params: None,
                    with_vector: WithVector::Bool(false),
                    with_payload: WithPayloadInterface::Bool(false),
                };
                let points = shard.query(request).map_err(store_err)?;
                hits.extend(points.into_iter().map(|p| Hit {
                    id: edge_id(&p.id),
                    score: p.score,
                }));
            }
            if self.shards.len() > 1 {
                hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
                hits.truncate(q.limit);
            }
            out.push(hits);
        }
        Ok(out)
    }

    /// The chunks with these ids, in the order asked (see [`VectorStore::fetch`]).
    fn fetch_blocking(
        &self,
        ids: &[u64],
        with_terms: bool,
    ) -> Result<Vec<FetchedChunk>, KnowledgeError> {
        if let [shard] = &*self.shards {
            return Self::fetch_from(shard, ids, with_terms);
        }
        let mut found = std::collections::HashMap::with_capacity(ids.len());
        for (shard, part) in self.shards.iter().zip(self.split(ids.to_vec(), |id| *id)) {
            if !part.is_empty() {
                found.extend(
                    Self::fetch_from(shard, &part, with_terms)?
                        .into_iter()
                        .map(|c| (c.id, c)),
                );
            }
        }
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    fn fetch_from(
        shard: &qdrant_edge::EdgeShard,
        ids: &[u64],
        with_terms: bool,
    ) -> Result<Vec<FetchedChunk>, KnowledgeError> {
        use qdrant_edge::{PointId, WithPayloadInterface, WithVector};
        let ids: Vec<PointId> = ids.iter().map(|id| PointId::NumId(*id)).collect();
        let vectors = match with_terms {
            true => WithVector::Selector(vec![SPARSE.into()]),
            false => WithVector::Bool(false),
        };
        let records = shard
            .retrieve(&ids, Some(WithPayloadInterface::Bool(true)), Some(vectors))
            .map_err(store_err)?;
        records
            .into_iter()
            .map(|r| {
                Ok(FetchedChunk {
                    id: edge_id(&r.id),
                    payload: payload_of(r.payload.map(|pl| pl.0).unwrap_or_default())?,
                    terms: edge_sparse(r.vector).map(|v| {
                        let mut ids = v.indices;
                        ids.sort_unstable();
                        ids
                    }),
                })
            })
            .collect()
    }

    /// Every point's ranking vectors (no payload), in id order: each shard
    /// read page by page, the shards side by side.
    pub async fn resident_points(&self) -> Result<Vec<ResidentPoint>, KnowledgeError> {
        let mut parts = self.on_each(Self::resident_points_of).await?;
        if parts.len() == 1 {
            return Ok(parts.pop().unwrap_or_default());
        }
        let mut all: Vec<ResidentPoint> = parts.into_iter().flatten().collect();
        all.sort_unstable_by_key(|p| p.id);
        Ok(all)
    }

    /// One shard's points as [`Self::resident_points`] reads them; blocks.
    fn resident_points_of(
        shard: &qdrant_edge::EdgeShard,
    ) -> Result<Vec<ResidentPoint>, KnowledgeError> {
        use qdrant_edge::{ScrollRequest, VectorInternal, VectorStructInternal, WithVector};
        // A corpus too small for a semantic model has no such vector.
        let mut vectors = vec![SPARSE.into()];
        if shard.config().vectors.contains_key(SEMANTIC) {
            vectors.push(SEMANTIC.into());
        }
        let mut out = Vec::new();
        let mut offset = None;
        loop {
            let (records, next) = shard
                .scroll(ScrollRequest {
                    offset,
                    limit: Some(SCROLL_PAGE),
                    filter: None,
                    with_payload: Some(qdrant_edge::WithPayloadInterface::Bool(false)),
                    with_vector: WithVector::Selector(vectors.clone()),
                    order_by: None,
                })
                .map_err(store_err)?;
            for r in records {
                let Some(VectorStructInternal::Named(mut named)) = r.vector else {
                    continue;
                };
                // Every point is written with one; a point without is one
                // whose run stopped between writing it and its vectors.
                let Some(VectorInternal::Sparse(sv)) = named.remove(SPARSE) else {
                    return Err(KnowledgeError::Corrupt(format!(
                        "chunk {} has no BM25 vector: the last indexing run did not finish",
                        edge_id(&r.id)
                    )));
                };
                let semantic = match named.remove(SEMANTIC) {
                    Some(VectorInternal::Dense(v)) => Some(v),
                    _ => None,
                };
                out.push(ResidentPoint {
                    id: edge_id(&r.id),
                    sparse: SparseVec {
                        indices: sv.indices,
                        values: sv.values,
                    },
                    semantic,
                });
            }
            match next {
                Some(n) => offset = Some(n),
                None => return Ok(out),
            }
        }
    }

    async fn count(&self) -> Result<usize, KnowledgeError> {
        let counts = self
            .on_each(|shard| {
                shard
                    .count(qdrant_edge::CountRequest {
                        filter: None,
                        exact: true,
                    })
                    .map_err(store_err)
            })
            .await?;
        Ok(counts.into_iter().sum())
    }
}

/// Runs short qdrant-edge work on the calling thread; a panic inside it (a
/// damaged segment can do that) becomes a `Corrupt` error, as in [`blocking`].
fn inline<T>(f: impl FnOnce() -> Result<T, KnowledgeError>) -> Result<T, KnowledgeError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(KnowledgeError::Corrupt(
            "the index failed while reading".to_owned(),
        ))
    })
}

/// Runs qdrant-edge work on the blocking pool; a panic inside it (a damaged
/// segment can do that) becomes a `Corrupt` error instead of killing the turn.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, KnowledgeError> + Send + 'static,
) -> Result<T, KnowledgeError> {
    finish(tokio::task::spawn_blocking(f)).await
}

/// The results of qdrant-edge work running on the blocking pool, every run
/// joined before an error is returned (none is left writing past its caller).
async fn join_all<T>(
    runs: Vec<tokio::task::JoinHandle<Result<T, KnowledgeError>>>,
) -> Result<Vec<T>, KnowledgeError> {
    let mut results = Vec::with_capacity(runs.len());
    for run in runs {
        results.push(finish(run).await);
    }
    results.into_iter().collect()
}

/// The result of qdrant-edge work already running on the blocking pool, with
/// a panic inside it turned into a `Corrupt` error as in [`blocking`].
pub async fn finish<T>(
    run: tokio::task::JoinHandle<Result<T, KnowledgeError>>,
) -> Result<T, KnowledgeError> {
    run.await.map_err(|e| {
        KnowledgeError::Corrupt(format!("the index failed while reading or writing: {e}"))
    })?
}

// ---------------------------------------------------------------------------
// Qdrant server

/// A collection on a Qdrant server (or cluster).
#[derive(Clone)]
pub struct ServerStore {
    client: Arc<qdrant_client::Qdrant>,
    url: String,
    collection: String,
}

impl ServerStore {
    /// Connects and makes sure the collection exists with the expected layout.
    pub async fn connect(
        url: &str,
        api_key: Option<String>,
        collection: &str,
        dims: DenseDims,
    ) -> Result<Self, KnowledgeError> {
        use qdrant_client::qdrant::{
            CreateCollectionBuilder, Distance, Modifier, SparseVectorParamsBuilder,
            SparseVectorsConfigBuilder, VectorParamsBuilder, VectorsConfigBuilder,
        };
        let mut builder = qdrant_client::Qdrant::from_url(url);
        if let Some(key) = api_key {
            builder = builder.api_key(key);
        }
        let client = builder.build().map_err(store_err)?;
        let exists = client
            .collection_exists(collection)
            .await
            .map_err(|e| KnowledgeError::Store(format!("Qdrant at {url}: {e}")))?;
        if !exists {
            let mut sparse = SparseVectorsConfigBuilder::default();
            sparse.add_named_vector_params(
                SPARSE,
                SparseVectorParamsBuilder::default().modifier(Modifier::Idf),
            );
            let mut create = CreateCollectionBuilder::new(collection).sparse_vectors_config(sparse);
            let mut dense = VectorsConfigBuilder::default();
            let mut any = false;
            for (name, dim) in [(DENSE, dims.dense), (SEMANTIC, dims.semantic)] {
                if let Some(dim) = dim {
                    dense.add_named_vector_params(
                        name,
                        VectorParamsBuilder::new(dim as u64, Distance::Cosine),
                    );
                    any = true;
                }
            }
            if any {
                create = create.vectors_config(dense);
            }
            client.create_collection(create).await.map_err(store_err)?;
        }
        Ok(Self {
            client: Arc::new(client),
            url: url.to_owned(),
            collection: collection.to_owned(),
        })
    }

    /// Drops the collection (for a rebuild).
    pub async fn drop_collection(&self) -> Result<(), KnowledgeError> {
        if self
            .client
            .collection_exists(&self.collection)
            .await
            .map_err(store_err)?
        {
            self.client
                .delete_collection(&self.collection)
                .await
                .map_err(store_err)?;
        }
        Ok(())
    }

    async fn upsert(&self, points: Vec<StoredChunk>) -> Result<(), KnowledgeError> {
        use qdrant_client::qdrant::{NamedVectors, PointStruct, UpsertPointsBuilder, Vector};
        let mut structs = Vec::with_capacity(points.len());
        for p in points {
            let mut vectors = NamedVectors::default().add_vector(
                SPARSE,
                Vector::new_sparse(p.sparse.indices, p.sparse.values),
            );
            if let Some(d) = p.dense {
                vectors = vectors.add_vector(DENSE, Vector::new_dense(d));
            }
            if let Some(d) = p.semantic {
                vectors = vectors.add_vector(SEMANTIC, Vector::new_dense(d));
            }
            let payload: qdrant_client::Payload = serde_json::to_value(&p.payload)
                .map_err(store_err)?
                .try_into()
                .map_err(store_err)?;
            structs.push(PointStruct::new(p.id, vectors, payload));
        }
        for batch in structs.chunks(256) {
            self.client
                .upsert_points(
                    UpsertPointsBuilder::new(&self.collection, batch.to_vec()).wait(true),
                )
                .await
                .map_err(store_err)?;
        }
        Ok(())
    }

    async fn delete(&self, ids: Vec<u64>) -> Result<(), KnowledgeError> {
        use qdrant_client::qdrant::{DeletePointsBuilder, PointsIdsList};
        let ids = ids.into_iter().map(Into::into).collect();
        self.client
            .delete_points(
                DeletePointsBuilder::new(&self.collection)
                    .points(PointsIdsList { ids })
                    .wait(true),
            )
            .await
            .map_err(store_err)?;
        Ok(())
    }

    async fn candidates(&self, q: CandidateQuery) -> Result<Vec<Vec<Hit>>, KnowledgeError> {
        use qdrant_client::qdrant::{
            Condition, Filter, Query, QueryBatchPointsBuilder, QueryPointsBuilder, VectorInput,
        };
        let filter = q
            .sources
            .as_ref()
            .map(|sources| Filter::must([Condition::matches("source", sources.clone())]));
        let requests: Vec<_> = q
            .rankings
            .into_iter()
            .map(|ranking| {
                let (input, name) = match ranking {
                    VectorQuery::Sparse(v) => {
                        (VectorInput::new_sparse(v.indices, v.values), SPARSE)
                    }
                    VectorQuery::Dense(v) => (VectorInput::new_dense(v), DENSE),
                    VectorQuery::Semantic(v) => (VectorInput::new_dense(v), SEMANTIC),
                };
                let mut b = QueryPointsBuilder::new(&self.collection)
                    .query(Query::new_nearest(input))
                    .using(name)
                    .limit(q.limit as u64)
                    .with_payload(false);
                if let Some(f) = &filter {
                    b = b.filter(f.clone());
                }
                b.build()
            })
            .collect();
        let response = self
            .client
            .query_batch(QueryBatchPointsBuilder::new(&self.collection, requests))
            .await
            .map_err(store_err)?;
        Ok(response
            .result
            .into_iter()
            .map(|batch| {
                batch
                    .result
                    .into_iter()
                    .map(|p| Hit {
                        id: server_id(p.id),
                        score: p.score,
                    })
                    .collect()
            })
            .collect())
    }

    async fn fetch(&self, ids: Vec<u64>) -> Result<Vec<FetchedChunk>, KnowledgeError> {
        use qdrant_client::qdrant::{GetPointsBuilder, PointId, VectorsSelector};
        let wanted: Vec<PointId> = ids.iter().map(|id| PointId::from(*id)).collect();
        let response = self
            .client
            .get_points(
                GetPointsBuilder::new(&self.collection, wanted)
                    .with_payload(true)
                    .with_vectors(VectorsSelector::from(vec![SPARSE.to_owned()])),
            )
            .await
            .map_err(store_err)?;
        let mut found: std::collections::HashMap<u64, FetchedChunk> =
            std::collections::HashMap::new();
        for p in response.result {
            let id = server_id(p.id);
            found.insert(
                id,
                FetchedChunk {
                    id,
                    payload: payload_of(server_payload(p.payload))?,
                    terms: server_sparse(p.vectors).map(|v| {
                        let mut ids = v.indices;
                        ids.sort_unstable();
                        ids
                    }),
                },
            );
        }
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    async fn count(&self) -> Result<usize, KnowledgeError> {
        use qdrant_client::qdrant::CountPointsBuilder;
        let r = self
            .client
            .count(CountPointsBuilder::new(&self.collection).exact(true))
            .await
            .map_err(store_err)?;
        Ok(r.result.map_or(0, |c| c.count as usize))
    }
}

fn server_id(id: Option<qdrant_client::qdrant::PointId>) -> u64 {
    use qdrant_client::qdrant::point_id::PointIdOptions;
    match id.and_then(|i| i.point_id_options) {
        Some(PointIdOptions::Num(n)) => n,
        _ => 0,
    }
}

fn server_payload(
    payload: std::collections::HashMap<String, qdrant_client::qdrant::Value>,
) -> serde_json::Map<String, serde_json::Value> {
    payload
        .into_iter()
        .map(|(k, v)| (k, v.into_json()))
        .collect()
}

/// The `bm25` vector of a point, when it came back with it.
fn server_sparse(vectors: Option<qdrant_client::qdrant::VectorsOutput>) -> Option<SparseVec> {
    use qdrant_client::qdrant::vector_output::Vector;
    use qdrant_client::qdrant::vectors_output::VectorsOptions;
    match vectors?.vectors_options? {
        VectorsOptions::Vectors(mut named) => match named.vectors.remove(SPARSE)?.vector? {
            Vector::Sparse(v) => Some(SparseVec {
                indices: v.indices,
                values: v.values,
            }),
            _ => None,
        },
        VectorsOptions::Vector(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(id: u64, semantic: Option<Vec<f32>>) -> StoredChunk {
        StoredChunk {
            id,
            sparse: SparseVec {
                indices: vec![3, 7],
                values: vec![0.5, 1.25],
            },
            dense: None,
            semantic,
            payload: ChunkPayload {
                source: "docs".into(),
                path: "a.md".into(),
                title: "A".into(),
                headings: Vec::new(),
                text: "text".into(),
            },
        }
    }

    /// The store's best `limit` for one ranking: ids and score bits.
    async fn top(store: VectorStore, ranking: VectorQuery, limit: usize) -> Vec<(u64, u32)> {
        store
            .candidates(CandidateQuery {
                rankings: vec![ranking],
                limit,
                sources: None,
            })
            .await
            .expect("query")
            .remove(0)
            .into_iter()
            .map(|h| (h.id, h.score.to_bits()))
            .collect()
    }

    /// A large write sets its sparse vectors after the points, last batch
    /// first; the shard must hold and rank them exactly as when the same
    /// points come a few at a time (its search prunes with each posting
    /// list's running maxima, which that order builds differently).
    #[tokio::test]
    async fn a_large_write_stores_and_ranks_like_small_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dims = DenseDims::default();
        let points: Vec<StoredChunk> = (0..HEAD_FIRST_POINTS as u64 * 3 + 7)
            .map(|i| {
                let mut p = chunk(1000 + i * 7919 % 4099, None);
                p.payload.text = format!("chunk {i}");
                // Terms shared by many points with weights that rise and fall.
                let mut terms: Vec<(u32, f32)> = (0..6)
                    .map(|t| {
                        let w = (i * (u64::from(t) + 5) * 7919) % 1009;
                        (t * 3 + (i % 3) as u32, 0.1 + w as f32 / 97.0)
                    })
                    .collect();
                terms.push((100 + (i % 50) as u32, 1.0 + (i % 13) as f32 / 7.0));
                terms.sort_by_key(|(t, _)| *t);
                terms.dedup_by_key(|(t, _)| *t);
                p.sparse = SparseVec {
                    indices: terms.iter().map(|(t, _)| *t).collect(),
                    values: terms.iter().map(|(_, w)| *w).collect(),
                };
                p
            })
            .collect();
        let large = EdgeStore::replace(dir.path().join("large"), dims, 1).expect("shard");
        large.upsert(points.clone()).await.expect("upsert");
        // As a build ends: optimised, flushed, and read by the next process.
        large.optimize().await.expect("optimize");
        large.commit().await.expect("commit");
        drop(large);
        let large = EdgeStore::open(&dir.path().join("large"), 1)
            .await
            .expect("reopen");
        let fetched = VectorStore::Edge(large.clone())
            .fetch(points.iter().map(|p| p.id).collect(), true)
            .await
            .expect("fetch");
        assert_eq!(fetched.len(), points.len());
        for (f, p) in fetched.iter().zip(&points) {
            assert_eq!((f.id, &f.payload), (p.id, &p.payload));
            let mut terms = p.sparse.indices.clone();
            terms.sort_unstable();
            assert_eq!(f.terms.as_ref(), Some(&terms));
        }
        let small = EdgeStore::replace(dir.path().join("small"), dims, 1).expect("shard");
        for part in points.chunks(HEAD_FIRST_POINTS - 1) {
            small.upsert(part.to_vec()).await.expect("upsert");
        }
        let read = |store: EdgeStore| async move {
            let mut back = store.resident_points().await.expect("read back");
            back.sort_by_key(|p| p.id);
            back.into_iter()
                .map(|p| (p.id, p.sparse.indices, p.sparse.values))
                .collect::<Vec<_>>()
        };
        let mut written: Vec<_> = points
            .iter()
            .map(|p| (p.id, p.sparse.indices.clone(), p.sparse.values.clone()))
            .collect();
        written.sort_by_key(|p| p.0);
        assert_eq!(read(large.clone()).await, written);
        assert_eq!(read(small.clone()).await, written);
        for query in [vec![0, 4, 8], vec![1, 2, 101], vec![5, 17, 120, 149]] {
            let ask = |store: EdgeStore, query: Vec<u32>| {
                let values = vec![1.0; query.len()];
                let sparse = SparseVec {
                    indices: query,
                    values,
                };
                top(VectorStore::Edge(store), VectorQuery::Sparse(sparse), 20)
            };
            // Equal scores may come in either order (there are few).
            let sorted = |mut hits: Vec<(u64, u32)>| {
                hits.sort_by(|a, b| {
                    f32::from_bits(b.1)
                        .total_cmp(&f32::from_bits(a.1))
                        .then(a.0.cmp(&b.0))
                });
                hits
            };
            let got = sorted(ask(large.clone(), query.clone()).await);
            let want = sorted(ask(small.clone(), query).await);
            assert_eq!(got.len(), 20);
            // The same points in the same order; the shard sums a point's terms
            // in an order its internal numbering decides (hash order, per run),
            // so a score may differ in its last bit (the embedded index ranks
            // in process, `resident`, never by these scores).
            let ids = |hits: &[(u64, u32)]| hits.iter().map(|h| h.0).collect::<Vec<_>>();
            assert_eq!(ids(&got), ids(&want));
            for (g, w) in got.iter().zip(&want) {
                let (g, w) = (f32::from_bits(g.1), f32::from_bits(w.1));
                assert!((g - w).abs() <= 1e-5 * w.abs(), "{g} vs {w}");
            }
        }
    }

    /// Points split over shards by id are counted, fetched, read back and
    /// found by a dense query as in one shard; a replace with fewer shards
    /// leaves none of the others' folders.
    #[tokio::test]
    async fn points_split_over_shards_read_and_rank_as_in_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dims = DenseDims {
            dense: Some(3),
            semantic: None,
        };
        let points: Vec<StoredChunk> = (0..60u64)
            .map(|i| {
                let mut p = chunk(1 + i * 7919 % 1009, None);
                let x = i as f32;
                p.dense = Some(vec![(x * 0.37).sin(), (x * 0.91).cos(), 0.5 + x / 60.0]);
                p.payload.text = format!("chunk {i}");
                p
            })
            .collect();
        let one = EdgeStore::replace(dir.path().join("one"), dims, 1).expect("one");
        let three = EdgeStore::replace(dir.path().join("three"), dims, 3).expect("three");
        for store in [&one, &three] {
            store.upsert(points.clone()).await.expect("upsert");
            store.commit().await.expect("commit");
        }
        drop(three);
        let three = EdgeStore::open(&dir.path().join("three"), 3)
            .await
            .expect("reopen");
        let (one_v, three_v) = (
            VectorStore::Edge(one.clone()),
            VectorStore::Edge(three.clone()),
        );
        assert_eq!(three_v.count().await.expect("count"), points.len());
        for (k, shard) in three.shards.iter().enumerate() {
            let held = shard
                .count(qdrant_edge::CountRequest {
                    filter: None,
                    exact: true,
                })
                .expect("count");
            assert!(held > 0 && held < points.len(), "shard {k} holds {held}");
        }

        let mut ids: Vec<u64> = points.iter().map(|p| p.id).collect();
        ids.reverse();
        let fetched = three_v.fetch(ids.clone(), false).await.expect("fetch");
        assert_eq!(fetched.iter().map(|c| c.id).collect::<Vec<_>>(), ids);
        for c in &fetched {
            let p = points.iter().find(|p| p.id == c.id).expect("written");
            assert_eq!(c.payload, p.payload);
        }

        let ranked = |store: VectorStore, v: Vec<f32>| top(store, VectorQuery::Dense(v), 12);
        for v in [
            vec![1.0, 0.2, 0.3],
            vec![-0.5, 1.0, 0.9],
            vec![0.1, -1.0, 0.2],
        ] {
            let got = ranked(three_v.clone(), v.clone()).await;
            assert_eq!(got.len(), 12);
            assert_eq!(got, ranked(one_v.clone(), v).await);
        }

        drop((one_v, three_v));
        let read = |store: EdgeStore| async move {
            store
                .resident_points()
                .await
                .expect("read back")
                .into_iter()
                .map(|p| (p.id, p.sparse.indices, p.sparse.values))
                .collect::<Vec<_>>()
        };
        let back = read(three.clone()).await;
        assert!(back.windows(2).all(|w| w[0].0 < w[1].0), "not in id order");
        assert_eq!(back, read(one).await);

        drop(three);
        EdgeStore::replace(dir.path().join("three"), dims, 1).expect("replace");
        assert!(dir.path().join("three").is_dir());
        assert!(!dir.path().join("three.1").exists());
        assert!(!dir.path().join("three.2").exists());
    }

    /// A point whose run stopped between writing it and its sparse vector
    /// is not read back as a chunk that matches nothing: the index is broken.
    #[tokio::test]
    async fn a_point_left_without_its_sparse_vector_is_corruption() {
        use qdrant_edge::{PointStruct, Vectors};
        let dir = tempfile::tempdir().expect("tempdir");
        let store =
            EdgeStore::replace(dir.path().join("edge"), DenseDims::default(), 1).expect("shard");
        store.upsert(vec![chunk(1, None)]).await.expect("upsert");
        let no_vectors: Vec<(String, qdrant_edge::Vector)> = Vec::new();
        let bare = PointStruct::new(2, Vectors::from(no_vectors), serde_json::json!({})).into();
        let shard = Arc::clone(&store.shards[0]);
        blocking(move || {
            shard
                .update(EdgeStore::upsert_op(vec![bare]))
                .map_err(store_err)
        })
        .await
        .expect("bare point");
        assert!(matches!(
            store.resident_points().await,
            Err(KnowledgeError::Corrupt(why)) if why.contains("did not finish")
        ));
    }

    /// A build ranks from its own copy of what it wrote; it must be what a
    /// restart reads back, written with the point or set after it.
    #[tokio::test]
    async fn stored_semantic_is_what_the_shard_keeps() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dims = DenseDims {
            dense: None,
            semantic: Some(3),
        };
        let store = EdgeStore::replace(dir.path().join("edge"), dims, 1).expect("shard");
        let (a, b) = (vec![0.3, -0.4, 1.7], vec![2.0, 0.1, -0.7]);
        store
            .upsert(vec![chunk(1, Some(a.clone())), chunk(2, None)])
            .await
            .expect("upsert");
        store.set_semantic(vec![(2, b.clone())]).await.expect("set");
        let mut back = store.resident_points().await.expect("read back");
        back.sort_by_key(|p| p.id);
        let kept: Vec<Option<Vec<f32>>> = back.into_iter().map(|p| p.semantic).collect();
        let ours = vec![
            Some(EdgeStore::stored_semantic(a.clone())),
            Some(EdgeStore::stored_semantic(b)),
        ];
        assert_eq!(kept, ours);
        // Not the input as given: the shard does change it.
        assert_ne!(kept[0], Some(a));
    }
}
