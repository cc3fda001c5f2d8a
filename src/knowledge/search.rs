//! A question in, ranked passages out: one passage per document (its best
//! chunk), each with its link, and how much of the question it covers.
//!
//! Coverage, the share of the question's terms found in the passage, is what
//! the relevance threshold applies to: fused or BM25 scores depend on the
//! query's length and the corpus, a share does not.

use std::collections::HashSet;

use serde::Serialize;

use super::KnowledgeError;
use super::index::DocsIndex;
use super::sparse::term_id;
use super::store::HybridQuery;

/// Chunks fetched per passage asked for: several chunks of one file collapse into one passage.
const CHUNKS_PER_PASSAGE: usize = 6;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Passage {
    pub source: String,
    pub path: String,
    pub title: String,
    pub headings: Vec<String>,
    pub text: String,
    pub link: String,
    /// The store's score (BM25, or RRF when hybrid); only comparable within one search.
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
        let (store, embedder, model) = match self.snapshot().await {
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
        let sparse = self.analyzer().encode_query(&terms);
        let semantic = model.and_then(|m| {
            let tf: Vec<(u32, f32)> = terms.iter().map(|(t, w)| (term_id(t), *w)).collect();
            m.embed(&tf)
        });
        let dense = match embedder {
            Some(e) => match e.embed_query(query).await {
                Ok(v) => Some(v),
                Err(err) => {
                    // Keyword search alone still answers.
                    tracing::warn!(error = %err, "query embedding failed; searching with BM25 only");
                    None
                }
            },
            None => None,
        };
        let hits = store
            .query(HybridQuery {
                sparse,
                dense,
                semantic,
                limit: (limit * CHUNKS_PER_PASSAGE).max(20),
                sources,
            })
            .await?;

        let wanted: HashSet<u32> = terms.iter().map(|(t, _)| term_id(t)).collect();
        let mut seen = HashSet::new();
        let mut passages = Vec::with_capacity(limit);
        for hit in hits {
            if !seen.insert((hit.payload.source.clone(), hit.payload.path.clone())) {
                continue;
            }
            let coverage = match &hit.terms {
                Some(ids) => {
                    let found = wanted
                        .iter()
                        .filter(|t| ids.binary_search(t).is_ok())
                        .count();
                    found as f32 / wanted.len().max(1) as f32
                }
                None => self.coverage(&wanted, &hit.payload),
            };
            passages.push(Passage {
                link: self.link_for(&hit.payload),
                source: hit.payload.source,
                path: hit.payload.path,
                title: hit.payload.title,
                headings: hit.payload.headings,
                text: hit.payload.text,
                score: hit.score,
                coverage,
            });
            if passages.len() == limit {
                break;
            }
        }
        Ok(SearchResults {
            passages,
            threshold,
        })
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
