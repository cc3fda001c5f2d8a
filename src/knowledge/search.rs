//! A question in, ranked passages out: one passage per document (its best
//! chunk), each with its link, and how much of the question it covers.
//!
//! Coverage, the share of the question's terms found in the passage, is what
//! the relevance threshold applies to: fused or BM25 scores depend on the
//! query's length and the corpus, a share does not.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::KnowledgeError;
use super::index::{DocsIndex, Snapshot};
use super::rank::{self, Hit};
use super::resident::Resident;
use super::sparse::{SparseVec, term_id};
use super::store::{CandidateQuery, FetchedChunk, VectorQuery};

/// Chunks fetched per passage asked for: several chunks of one file collapse into one passage.
const CHUNKS_PER_PASSAGE: usize = 6;
/// Candidate chunks each ranking contributes, at least.
const CANDIDATES: usize = 60;
/// The semantic ranking's weight in the fusion (BM25's is 1). With scores
/// fused, 0.3 to 0.6 read alike on the tuning questions (MRR@10 within 0.002
/// on 100 dev questions and on the public set's tune half); 1 lost 0.02-0.03.
const SEMANTIC_WEIGHT: f32 = 0.5;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Passage {
    pub source: String,
    pub path: String,
    pub title: String,
    pub headings: Vec<String>,
    pub text: String,
    pub link: String,
    /// The BM25 score, or the fused one when there are several rankings; only
    /// comparable within one search.
    pub score: f32,
    /// 0..1: the share of the question's terms that occur in this passage.
    pub coverage: f32,
}

impl Passage {
    /// `Secrets › Rotating a database password`.
    pub fn heading(&self) -> String {
        let mut parts = vec![self.title.as_str()];
        parts.extend(self.headings.iter().map(String::as_str));
        parts.join(" \u{203a} ")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchResults {
    /// Ranked, one per document.
    pub passages: Vec<Passage>,
    pub threshold: f32,
}

impl SearchResults {
    /// The passages good enough to answer with; empty when the best one is not.
    pub fn relevant(&self) -> Vec<&Passage> {
        match self.passages.first() {
            Some(best) if best.coverage >= self.threshold => self
                .passages
                .iter()
                .filter(|p| p.coverage >= self.threshold)
                .collect(),
            _ => Vec::new(),
        }
    }
}

impl DocsIndex {
    /// The best `limit` documents for `query`, optionally only from `sources`.
    pub async fn search(
        &self,
        query: &str,
        limit: usize,
        sources: Option<Vec<String>>,
    ) -> Result<SearchResults, KnowledgeError> {
        let started = std::time::Instant::now();
        let found = self.search_timed(query, limit, sources).await;
        crate::telemetry::docs_query(started.elapsed());
        found
    }

    async fn search_timed(
        &self,
        query: &str,
        limit: usize,
        sources: Option<Vec<String>>,
    ) -> Result<SearchResults, KnowledgeError> {
        let threshold = self.settings().score_threshold;
        let terms = self.analyzer().query_terms(query, 1.0);
        let snap = match self.snapshot().await {
            // A fresh data dir: build the index now rather than answer "not indexed".
            Err(KnowledgeError::NotIndexed) => {
                let summary = self.index(super::IndexOptions::default(), None).await?;
                tracing::info!(summary = %summary.render(), "built the docs index on first use");
                self.snapshot().await?
            }
            other => other?,
        };
        if terms.is_empty() || limit == 0 {
            return Ok(SearchResults {
                passages: Vec::new(),
                threshold,
            });
        }
        let vectors = self.vectors(query, &terms, &snap).await;
        let depth = (limit * CHUNKS_PER_PASSAGE).max(CANDIDATES);
        let lists = match &snap.resident {
            Some(r) => resident_lists(r, &snap, vectors, depth, sources).await?,
            None => store_lists(&snap, vectors, depth, sources).await?,
        };
        let table = &snap.files;
        let fused: Vec<(f32, Vec<rank::RankedFile>)> = lists
            .into_iter()
            .map(|(w, hits)| (w, rank::files(&hits, table)))
            .collect();
        let ranked = match <[_; 1]>::try_from(fused) {
            Ok([(_, only)]) => only,
            Err(many) => rank::fuse(&many),
        };
        let top: Vec<rank::RankedFile> = ranked.into_iter().take(limit).collect();
        let resident = snap.resident.as_deref();
        let chunks = snap
            .store
            .fetch(top.iter().map(|f| f.chunk).collect(), resident.is_none())
            .await?;
        Ok(SearchResults {
            passages: self.passages(&top, chunks, &terms, resident),
            threshold,
        })
    }

    /// The question's vector for each ranking the index has.
    async fn vectors(&self, query: &str, terms: &[(String, f32)], snap: &Snapshot<'_>) -> Vectors {
        let semantic = snap.semantic.as_ref().and_then(|m| {
            let tf: Vec<(u32, f32)> = terms.iter().map(|(t, w)| (term_id(t), *w)).collect();
            m.embed(&tf)
        });
        let dense = match snap.embedder {
            Some(e) => match e.embed_query(query).await {
                Ok(v) => Some((v, e.weight())),
                Err(err) => {
                    // Keyword search alone still answers.
                    tracing::warn!(error = %err, "query embedding failed; searching with BM25 only");
                    None
                }
            },
            None => None,
        };
        Vectors {
            sparse: self.analyzer().encode_query(terms),
            semantic,
            dense,
        }
    }

    /// The ranked files' quoted chunks as passages, with their coverage of the question.
    fn passages(
        &self,
        top: &[rank::RankedFile],
        chunks: Vec<FetchedChunk>,
        terms: &[(String, f32)],
        resident: Option<&Resident>,
    ) -> Vec<Passage> {
        let mut chunks: HashMap<u64, FetchedChunk> =
            chunks.into_iter().map(|c| (c.id, c)).collect();
        let wanted: HashSet<u32> = terms.iter().map(|(t, _)| term_id(t)).collect();
        let wanted_ids: Vec<u32> = wanted.iter().copied().collect();
        top.iter()
            .filter_map(|f| chunks.remove(&f.chunk).map(|c| (f, c)))
            .map(|(f, c)| {
                let terms = c
                    .terms
                    .or_else(|| resident.and_then(|r| r.terms_of(c.id, &wanted_ids)));
                let coverage = match &terms {
                    Some(ids) => {
                        let found = wanted
                            .iter()
                            .filter(|t| ids.binary_search(t).is_ok())
                            .count();
                        found as f32 / wanted.len().max(1) as f32
                    }
                    None => self.coverage(&wanted, &c.payload),
                };
                Passage {
                    link: self.link_for(&c.payload),
                    source: c.payload.source,
                    path: c.payload.path,
                    title: c.payload.title,
                    headings: c.payload.headings,
                    text: c.payload.text,
                    score: f.score,
                    coverage,
                }
            })
            .collect()
    }

    /// For the benchmark: `query` analysed and ranked in process (BM25 and the
    /// semantic model, 60 candidates each), without fusion or fetching; the
    /// candidates found.
    #[doc(hidden)]
    pub async fn rankings_for_bench(&self, query: &str) -> Result<usize, KnowledgeError> {
        let snap = self.snapshot().await?;
        let resident = snap.resident.as_deref().ok_or(KnowledgeError::NotIndexed)?;
        let terms = self.analyzer().query_terms(query, 1.0);
        let vectors = self.vectors(query, &terms, &snap).await;
        let lists = resident_lists(resident, &snap, vectors, CANDIDATES, None).await?;
        Ok(lists.iter().map(|(_, l)| l.len()).sum())
    }

    /// Coverage from the passage's text, for stores that do not return term ids.
    fn coverage(&self, wanted: &HashSet<u32>, p: &super::store::ChunkPayload) -> f32 {
        if wanted.is_empty() {
            return 0.0;
        }
        let a = self.analyzer();
        let mut found: HashSet<u32> = HashSet::new();
        for text in [p.title.as_str(), &p.headings.join(" "), &p.path, &p.text] {
            found.extend(a.terms(text).iter().map(|t| term_id(t)));
        }
        let hit = wanted.iter().filter(|t| found.contains(*t)).count();
        hit as f32 / wanted.len() as f32
    }
}

/// A question's vectors: BM25 always, the semantic model's and the embeddings
/// endpoint's when the index has them.
struct Vectors {
    sparse: SparseVec,
    semantic: Option<Vec<f32>>,
    /// With its fusion weight.
    dense: Option<(Vec<f32>, f32)>,
}

/// The rankings, weighted, from the embedded store's in-process copy; only
/// the embeddings endpoint's vectors are searched in the store.
async fn resident_lists(
    resident: &Resident,
    snap: &Snapshot<'_>,
    vectors: Vectors,
    depth: usize,
    sources: Option<Vec<String>>,
) -> Result<Vec<(f32, Vec<Hit>)>, KnowledgeError> {
    let allowed: Option<Vec<bool>> = sources.as_ref().map(|wanted| {
        (0..snap.files.len())
            .map(|f| {
                let file = u32::try_from(f).unwrap_or(u32::MAX);
                snap.files
                    .name(file)
                    .is_some_and(|(source, _)| wanted.iter().any(|w| w == source))
            })
            .collect()
    });
    let allowed = allowed.as_deref();
    let mut lists = vec![(1.0, resident.sparse(&vectors.sparse, allowed, depth))];
    if let Some(v) = vectors.semantic {
        lists.push((SEMANTIC_WEIGHT, resident.semantic(&v, allowed, depth)));
    }
    if let Some((v, weight)) = vectors.dense {
        let found = snap
            .store
            .candidates(CandidateQuery {
                rankings: vec![VectorQuery::Dense(v)],
                limit: depth,
                sources,
            })
            .await?;
        lists.push((weight, found.into_iter().next().unwrap_or_default()));
    }
    Ok(lists)
}

/// The rankings, weighted, as the store runs them.
async fn store_lists(
    snap: &Snapshot<'_>,
    vectors: Vectors,
    depth: usize,
    sources: Option<Vec<String>>,
) -> Result<Vec<(f32, Vec<Hit>)>, KnowledgeError> {
    let mut weights = vec![1.0];
    let mut rankings = vec![VectorQuery::Sparse(vectors.sparse)];
    if let Some(v) = vectors.semantic {
        weights.push(SEMANTIC_WEIGHT);
        rankings.push(VectorQuery::Semantic(v));
    }
    if let Some((v, weight)) = vectors.dense {
        weights.push(weight);
        rankings.push(VectorQuery::Dense(v));
    }
    let lists = snap
        .store
        .candidates(CandidateQuery {
            rankings,
            limit: depth,
            sources,
        })
        .await?;
    let mut lists = lists.into_iter();
    Ok(weights
        .into_iter()
        .map(|w| (w, lists.next().unwrap_or_default()))
        .collect())
}
