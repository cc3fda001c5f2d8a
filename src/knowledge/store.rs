//! Where chunks live: qdrant-edge (embedded, on disk under the data dir) by
//! default, or a Qdrant server through qdrant-client. Both hold the same
//! layout: a sparse vector `bm25` with the IDF modifier, a dense vector
//! `semantic` (cosine) from the corpus's own latent semantic model, an optional
//! dense vector `dense` (cosine) from an embeddings endpoint, and the chunk as
//! payload.
//!
//! qdrant-edge 0.7 is synchronous and has no WAL replay, so every call runs on
//! the blocking pool and every write is followed by a flush before it returns.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::KnowledgeError;
use super::sparse::SparseVec;

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

#[derive(Debug, Clone)]
pub struct ScoredChunk {
    pub id: u64,
    pub score: f32,
    pub payload: ChunkPayload,
    /// The chunk's sparse term ids, sorted, where the store returns them cheaply.
    pub terms: Option<Vec<u32>>,
}

/// A query: the sparse part always, the semantic part when the index has a model,
/// the dense part when embeddings are configured.
#[derive(Debug, Clone)]
pub struct HybridQuery {
    pub sparse: SparseVec,
    pub dense: Option<Vec<f32>>,
    pub semantic: Option<Vec<f32>>,
    pub limit: usize,
    /// Only chunks from these sources (all when `None`).
    pub sources: Option<Vec<String>>,
}

/// Candidates each retriever contributes to the fusion.
const PREFETCH: usize = 50;
/// The RRF constant: the usual 60 flattens the top too much for a few hundred candidates.
const RRF_K: usize = 20;

#[derive(Clone)]
pub enum VectorStore {
    Edge(EdgeStore),
    Server(ServerStore),
}

impl std::fmt::Debug for VectorStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
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

    pub async fn query(&self, q: HybridQuery) -> Result<Vec<ScoredChunk>, KnowledgeError> {
        match self {
            Self::Edge(e) => e.query(q).await,
            Self::Server(s) => s.query(q).await,
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

// ---------------------------------------------------------------------------
// qdrant-edge

/// The embedded store: one qdrant-edge shard in a folder.
#[derive(Clone)]
pub struct EdgeStore {
    dir: PathBuf,
    shard: Arc<qdrant_edge::EdgeShard>,
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
        for (name, dim) in [(DENSE, dims.dense), (SEMANTIC, dims.semantic)] {
            if let Some(dim) = dim {
                builder = builder.vector(
                    name,
                    EdgeVectorParams::builder(dim, Distance::Cosine).build(),
                );
            }
        }
        builder.build()
    }

    /// Creates an empty shard in `dir` (which must not hold one).
    pub async fn create(dir: &Path, dims: DenseDims) -> Result<Self, KnowledgeError> {
        let dir = dir.to_owned();
        std::fs::create_dir_all(&dir).map_err(|source| KnowledgeError::Io {
            path: dir.clone(),
            source,
        })?;
        let path = dir.clone();
        let shard = blocking(move || {
            qdrant_edge::EdgeShard::new(&path, Self::config(dims)).map_err(store_err)
        })
        .await?;
        Ok(Self {
            dir,
            shard: Arc::new(shard),
        })
    }

    /// Opens the shard in `dir`; a missing or unreadable one is `Corrupt`.
    pub async fn open(dir: &Path) -> Result<Self, KnowledgeError> {
        if !dir.join("edge_config.json").is_file() {
            return Err(KnowledgeError::Corrupt(format!(
                "the index data in {} is missing",
                dir.display()
            )));
        }
        let path = dir.to_owned();
        let shard = blocking(move || {
            qdrant_edge::EdgeShard::load(&path, None).map_err(|e| {
                KnowledgeError::Corrupt(format!("cannot load the index in {}: {e}", path.display()))
            })
        })
        .await?;
        Ok(Self {
            dir: dir.to_owned(),
            shard: Arc::new(shard),
        })
    }

    async fn upsert(&self, points: Vec<StoredChunk>) -> Result<(), KnowledgeError> {
        use qdrant_edge::{
            PointInsertOperations, PointOperations, PointStruct, UpdateOperation, Vector, Vectors,
        };
        let mut structs = Vec::with_capacity(points.len());
        for p in points {
            let mut named = vec![(
                SPARSE.to_owned(),
                Vector::new_sparse(p.sparse.indices, p.sparse.values).map_err(store_err)?,
            )];
            if let Some(d) = p.dense {
                named.push((DENSE.to_owned(), Vector::new_dense(d)));
            }
            if let Some(d) = p.semantic {
                named.push((SEMANTIC.to_owned(), Vector::new_dense(d)));
            }
            let payload = serde_json::to_value(&p.payload).map_err(store_err)?;
            structs.push(PointStruct::new(p.id, Vectors::from(named), payload).into());
        }
        let shard = Arc::clone(&self.shard);
        blocking(move || {
            shard
                .update(UpdateOperation::PointOperation(
                    PointOperations::UpsertPoints(PointInsertOperations::PointsList(structs)),
                ))
                .map_err(store_err)?;
            shard.flush();
            Ok(())
        })
        .await
    }

    async fn delete(&self, ids: Vec<u64>) -> Result<(), KnowledgeError> {
        use qdrant_edge::{PointId, PointOperations, UpdateOperation};
        let shard = Arc::clone(&self.shard);
        blocking(move || {
            let ids = ids.into_iter().map(PointId::NumId).collect();
            shard
                .update(UpdateOperation::PointOperation(
                    PointOperations::DeletePoints { ids },
                ))
                .map_err(store_err)?;
            shard.flush();
            Ok(())
        })
        .await
    }

    /// Builds the optimised segments (an inverted index for the sparse vectors)
    /// after a large write, so queries do not scan.
    pub async fn optimize(&self) -> Result<(), KnowledgeError> {
        let shard = Arc::clone(&self.shard);
        blocking(move || {
            shard.optimize().map_err(store_err)?;
            shard.flush();
            Ok(())
        })
        .await
    }

    async fn query(&self, q: HybridQuery) -> Result<Vec<ScoredChunk>, KnowledgeError> {
        let shard = Arc::clone(&self.shard);
        blocking(move || Self::query_blocking(&shard, q)).await
    }

    /// The query on the caller's thread (benchmarks and the blocking pool).
    fn query_blocking(
        shard: &qdrant_edge::EdgeShard,
        q: HybridQuery,
    ) -> Result<Vec<ScoredChunk>, KnowledgeError> {
        use qdrant_edge::external::ordered_float::OrderedFloat;
        use qdrant_edge::{
            Condition, FieldCondition, Filter, Fusion, JsonPath, Match, NamedQuery, Prefetch,
            QueryEnum, QueryRequest, ScoringQuery, VectorInternal, WithPayloadInterface,
            WithVector,
        };

        let filter = match &q.sources {
            Some(sources) => {
                let key: JsonPath = "source".parse().map_err(|_| store_err("bad payload key"))?;
                Some(Filter::new_must(Condition::Field(
                    FieldCondition::new_match(key, Match::from(sources.clone())),
                )))
            }
            None => None,
        };
        let sparse = ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery::new(
            VectorInternal::Sparse(
                qdrant_edge::SparseVector::new(q.sparse.indices, q.sparse.values)
                    .map_err(store_err)?,
            ),
            SPARSE,
        )));
        let dense: Vec<ScoringQuery> = [(DENSE, q.dense), (SEMANTIC, q.semantic)]
            .into_iter()
            .filter_map(|(name, v)| {
                v.map(|v| {
                    ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery::new(
                        VectorInternal::Dense(v),
                        name,
                    )))
                })
            })
            .collect();
        // BM25 alone, or every ranking prefetched and fused.
        let (prefetches, query, filter) = if dense.is_empty() {
            (Vec::new(), sparse, filter)
        } else {
            let prefetch = |query| Prefetch {
                prefetches: Vec::new(),
                query: Some(query),
                limit: PREFETCH.max(q.limit),
                params: None,
                filter: filter.clone(),
                score_threshold: None,
            };
            let prefetches: Vec<Prefetch> =
                std::iter::once(sparse).chain(dense).map(prefetch).collect();
            let weights = vec![OrderedFloat(1.0); prefetches.len()];
            let fusion = ScoringQuery::Fusion(Fusion::Rrf {
                k: RRF_K,
                weights: Some(weights),
            });
            (prefetches, fusion, None)
        };
        let request = QueryRequest {
            prefetches,
            query: Some(query),
            filter,
            score_threshold: None,
            limit: q.limit,
            offset: 0,
            params: None,
            with_vector: WithVector::Selector(vec![SPARSE.into()]),
            with_payload: WithPayloadInterface::Bool(true),
        };
        let points = shard.query(request).map_err(store_err)?;
        points
            .into_iter()
            .map(|p| {
                let id = match p.id {
                    qdrant_edge::PointId::NumId(n) => n,
                    qdrant_edge::PointId::Uuid(_) => 0,
                };
                let payload = payload_of(p.payload.map(|pl| pl.0).unwrap_or_default())?;
                let terms = match p.vector {
                    Some(qdrant_edge::VectorStructInternal::Named(mut named)) => {
                        match named.remove(SPARSE) {
                            Some(VectorInternal::Sparse(sv)) => {
                                let mut ids = sv.indices;
                                ids.sort_unstable();
                                Some(ids)
                            }
                            _ => None,
                        }
                    }
                    _ => None,
                };
                Ok(ScoredChunk {
                    id,
                    score: p.score,
                    payload,
                    terms,
                })
            })
            .collect()
    }

    async fn count(&self) -> Result<usize, KnowledgeError> {
        let shard = Arc::clone(&self.shard);
        blocking(move || {
            shard
                .count(qdrant_edge::CountRequest {
                    filter: None,
                    exact: true,
                })
                .map_err(store_err)
        })
        .await
    }
}

/// Runs qdrant-edge work on the blocking pool; a panic inside it (a damaged
/// segment can do that) becomes a `Corrupt` error instead of killing the turn.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, KnowledgeError> + Send + 'static,
) -> Result<T, KnowledgeError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
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

    async fn query(&self, q: HybridQuery) -> Result<Vec<ScoredChunk>, KnowledgeError> {
        use qdrant_client::qdrant::{
            Condition, Filter, PrefetchQueryBuilder, Query, QueryPointsBuilder, RrfBuilder,
            VectorInput, point_id::PointIdOptions,
        };
        let filter = q
            .sources
            .as_ref()
            .map(|sources| Filter::must([Condition::matches("source", sources.clone())]));
        let sparse = Query::new_nearest(VectorInput::new_sparse(q.sparse.indices, q.sparse.values));
        let mut builder = QueryPointsBuilder::new(&self.collection)
            .limit(q.limit as u64)
            .with_payload(true);
        let dense: Vec<(&str, Vec<f32>)> = [(DENSE, q.dense), (SEMANTIC, q.semantic)]
            .into_iter()
            .filter_map(|(name, v)| v.map(|v| (name, v)))
            .collect();
        if dense.is_empty() {
            builder = builder.query(sparse).using(SPARSE);
            if let Some(f) = filter {
                builder = builder.filter(f);
            }
        } else {
            let limit = PREFETCH.max(q.limit) as u64;
            let prefetches = std::iter::once((SPARSE, sparse)).chain(
                dense
                    .into_iter()
                    .map(|(name, v)| (name, Query::new_nearest(VectorInput::new_dense(v)))),
            );
            for (name, query) in prefetches {
                let mut p = PrefetchQueryBuilder::default()
                    .query(query)
                    .using(name)
                    .limit(limit);
                if let Some(f) = &filter {
                    p = p.filter(f.clone());
                }
                builder = builder.add_prefetch(p);
            }
            builder = builder.query(Query::new_rrf(RrfBuilder::with_k(RRF_K as u32)));
        }
        let response = self.client.query(builder).await.map_err(store_err)?;
        response
            .result
            .into_iter()
            .map(|p| {
                let id = match p.id.and_then(|i| i.point_id_options) {
                    Some(PointIdOptions::Num(n)) => n,
                    _ => 0,
                };
                let json: serde_json::Map<String, serde_json::Value> = p
                    .payload
                    .into_iter()
                    .map(|(k, v)| (k, v.into_json()))
                    .collect();
                Ok(ScoredChunk {
                    id,
                    score: p.score,
                    payload: payload_of(json)?,
                    terms: None,
                })
            })
            .collect()
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

/// Queries an edge store synchronously (used by the benchmark to time the store alone).
pub fn query_edge_blocking(
    store: &EdgeStore,
    q: HybridQuery,
) -> Result<Vec<ScoredChunk>, KnowledgeError> {
    EdgeStore::query_blocking(&store.shard, q)
}
