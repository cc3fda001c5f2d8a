//! Parsing, chunking and analysing changed files, spread over the available
//! cores: what a chunk is stored as, before the corpus-wide BM25 weighting.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use sha2::{Digest, Sha256};

use super::super::KnowledgeError;
use super::super::chunk::chunk;
use super::super::embed::ContentHash;
use super::super::ingest::{parse, plain_links, read_file};
use super::super::sparse::{Field, TermFreqs};
use super::super::store::ChunkPayload;
use super::{DocsIndex, IndexEvent};

/// Field weights (BM25F): a term in the title or the heading path says more
/// about what a chunk is about than one in its body. Measured against 2/1.5 and
/// 4/3 and against no path field: no better on held-out questions.
const TITLE_WEIGHT: f32 = 3.0;
const HEADINGS_WEIGHT: f32 = 2.0;
const PATH_WEIGHT: f32 = 1.0;

/// A chunk ready to be stored, before BM25 weighting.
pub(super) struct Prepared {
    pub(super) id: u64,
    pub(super) payload: ChunkPayload,
    pub(super) freqs: TermFreqs,
    pub(super) embed: Option<(ContentHash, String)>,
}

/// One changed file, parsed and chunked.
pub(super) struct Parsed {
    pub(super) key: String,
    pub(super) hash: String,
    pub(super) chunks: Vec<Prepared>,
}

/// `user-guide/sync_windows.md` -> `user guide sync windows`: path words are a weak title.
fn path_words(rel: &str) -> String {
    let stem = rel
        .rsplit_once('.')
        .map_or(rel, |(s, ext)| if ext.len() <= 8 { s } else { rel });
    stem.replace(['/', '-', '_', '.'], " ")
}

/// A chunk's id, content-addressed so that an unchanged chunk keeps its id
/// across edits elsewhere; rehashed until it is unique within the file.
fn chunk_id(parts: [&str; 4], seen: &mut HashSet<u64>) -> u64 {
    let mut h = Sha256::new();
    for part in parts {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    let mut digest: [u8; 32] = h.finalize().into();
    let mut id = u64::from_le_bytes(digest[..8].try_into().unwrap_or_default());
    while !seen.insert(id) {
        digest = Sha256::digest(digest).into();
        id = u64::from_le_bytes(digest[..8].try_into().unwrap_or_default());
    }
    id
}

impl DocsIndex {
    /// Parses, chunks and analyses files, spread over the available cores.
    /// Workers take the next file from a shared counter, largest files first
    /// (a fixed split left one core with most of the text); results go back in
    /// the input order, so the output does not depend on the schedule.
    pub(super) fn prepare(
        &self,
        files: &[(String, usize, String, PathBuf, String)],
        emit: &(dyn Fn(IndexEvent) + Send + Sync),
    ) -> Result<Vec<Parsed>, KnowledgeError> {
        let workers = std::thread::available_parallelism()
            .map_or(2, usize::from)
            .clamp(1, 8)
            .min(files.len().max(1));
        let mut order: Vec<(u64, usize)> = files
            .iter()
            .enumerate()
            .map(|(i, f)| (std::fs::metadata(&f.3).map_or(0, |m| m.len()), i))
            .collect();
        order.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let next = AtomicUsize::new(0);
        let done = AtomicUsize::new(0);
        let total = files.len();
        let results: Vec<Result<Vec<(usize, Parsed)>, KnowledgeError>> =
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..workers)
                    .map(|_| {
                        let (next, done, order) = (&next, &done, &order);
                        scope.spawn(move || {
                            let mut out = Vec::new();
                            loop {
                                let Some((_, i)) = order.get(next.fetch_add(1, Relaxed)) else {
                                    return Ok(out);
                                };
                                let (key, source, rel, abs, hash) = &files[*i];
                                out.push((*i, self.prepare_file(key, *source, rel, abs, hash)?));
                                let n = done.fetch_add(1, Relaxed) + 1;
                                if n.is_multiple_of(16) || n == total {
                                    emit(IndexEvent::Parsed { done: n, total });
                                }
                            }
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(KnowledgeError::Store("a parser thread panicked".into()))
                        })
                    })
                    .collect()
            });
        let mut out: Vec<(usize, Parsed)> = Vec::with_capacity(files.len());
        for r in results {
            out.extend(r?);
        }
        out.sort_unstable_by_key(|(i, _)| *i);
        Ok(out.into_iter().map(|(_, p)| p).collect())
    }

    fn prepare_file(
        &self,
        key: &str,
        source: usize,
        rel: &str,
        abs: &Path,
        hash: &str,
    ) -> Result<Parsed, KnowledgeError> {
        let bytes = match read_file(abs, self.settings.max_file_bytes) {
            Ok(Ok(bytes)) => bytes,
            // Changed since it was hashed a moment ago; the next run sees it as it is then.
            Ok(Err(reason)) => {
                return Err(KnowledgeError::Source {
                    source_name: self.sources[source].name.clone(),
                    message: format!("{rel} changed while indexing: {reason}"),
                });
            }
            Err(e) => {
                return Err(KnowledgeError::Io {
                    path: abs.to_owned(),
                    source: e,
                });
            }
        };
        let text = String::from_utf8_lossy(&bytes);
        let doc = parse(rel, &text);
        let source_name = &self.sources[source].name;
        let path_text = path_words(rel);
        let mut seen = HashSet::new();
        let mut chunks = Vec::new();
        for c in chunk(&doc, &self.limits) {
            let headings = c.headings.join(" \u{203a} ");
            let body = plain_links(&c.text);
            let freqs = self.analyzer.term_freqs(&[
                Field {
                    text: &doc.title,
                    weight: TITLE_WEIGHT,
                },
                Field {
                    text: &headings,
                    weight: HEADINGS_WEIGHT,
                },
                Field {
                    text: &path_text,
                    weight: PATH_WEIGHT,
                },
                Field {
                    text: &body,
                    weight: 1.0,
                },
            ]);
            let id = chunk_id([source_name.as_str(), rel, &headings, &c.text], &mut seen);
            let embed = self.embedder.as_ref().map(|e| {
                if headings.is_empty() {
                    e.passage(&format!("{}\n\n{}", doc.title, c.text))
                } else {
                    e.passage(&format!("{} \u{203a} {headings}\n\n{}", doc.title, c.text))
                }
            });
            chunks.push(Prepared {
                id,
                payload: ChunkPayload {
                    source: source_name.clone(),
                    path: rel.to_owned(),
                    title: doc.title.clone(),
                    headings: c.headings,
                    text: c.text,
                },
                freqs,
                embed,
            });
        }
        Ok(Parsed {
            key: key.to_owned(),
            hash: hash.to_owned(),
            chunks,
        })
    }
}
