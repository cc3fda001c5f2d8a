//! The code-aware BM25 encoder behind the index's sparse vectors.
//!
//! Platform docs are full of identifiers that a prose tokenizer shreds:
//! `argocd-cm`, `--grpc-web`, `ImagePullBackOff`, `values.yaml`. Each such
//! token is kept whole (lowercased, unstemmed) *and* split into its parts
//! (stemmed), so `argocd-cm` matches a query for `argocd-cm` exactly and a
//! query for "argocd cm" loosely. Plain words are lowercased, stopword-filtered
//! and Snowball-stemmed.
//!
//! Documents get BM25 term weights (saturated term frequency with length
//! normalisation, BM25F-style field weights for title and headings); queries
//! get weight 1 per term. The store applies the IDF modifier at query time, so
//! the dot product of the two is the BM25 score.

use std::collections::{HashMap, HashSet};

use rust_stemmers::{Algorithm, Stemmer};
use serde::{Deserialize, Serialize};

/// Bumped whenever analysis changes: an index built by another version must be rebuilt.
pub const ANALYZER_VERSION: u32 = 1;

/// A sparse vector: term ids (stable hashes of the analysed terms) and weights, sorted by id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SparseVec {
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl SparseVec {
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
}

/// BM25 parameters. `avg_len` is the mean weighted document length of the corpus,
/// fixed when the index is built so unchanged chunks keep their vectors.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bm25Params {
    pub k1: f32,
    pub b: f32,
    pub avg_len: f32,
}

impl Default for Bm25Params {
    fn default() -> Self {
        Self {
            k1: 1.2,
            b: 0.75,
            avg_len: 200.0,
        }
    }
}

/// One field of a document and how much a term in it counts (BM25F-style).
#[derive(Debug, Clone, Copy)]
pub struct Field<'a> {
    pub text: &'a str,
    pub weight: f32,
}

pub struct Analyzer {
    stemmer: Stemmer,
    stopwords: HashSet<&'static str>,
}

impl Default for Analyzer {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer").finish_non_exhaustive()
    }
}

impl Analyzer {
    pub fn new() -> Self {
        Self {
            stemmer: Stemmer::create(Algorithm::English),
            stopwords: STOPWORDS.iter().copied().collect(),
        }
    }

    /// The analysed terms of `text`, in order, with repeats.
    pub fn terms(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for raw in raw_tokens(text) {
            self.analyse_token(raw, &mut out);
        }
        out
    }

    /// The terms of a query with their weights: an identifier's parts share
    /// `part_weight` so a made-up name (`prod-eu`) does not outweigh the question,
    /// while the identifier itself keeps full weight.
    pub fn query_terms(&self, text: &str, part_weight: f32) -> Vec<(String, f32)> {
        let mut out = Vec::new();
        let mut buf = Vec::new();
        for raw in raw_tokens(text) {
            buf.clear();
            self.analyse_token(raw, &mut buf);
            let compound = split_parts(raw).len() > 1;
            for (i, t) in buf.drain(..).enumerate() {
                let w = if compound && i > 0 { part_weight } else { 1.0 };
                out.push((t, w));
            }
        }
        out
    }

    /// Whether `word` (lowercase) is a stopword.
    pub fn is_stopword(&self, word: &str) -> bool {
        self.stopwords.contains(word)
    }

    fn analyse_token(&self, raw: &str, out: &mut Vec<String>) {
        let parts = split_parts(raw);
        if parts.len() > 1 {
            // The identifier as written, minus case: `argocd-cm`, `imagepullbackoff`.
            let base = raw.strip_suffix("'s").unwrap_or(raw);
            let compound: String = base.chars().filter(|c| *c != '\'').collect();
            out.push(compound.to_lowercase());
        }
        for part in parts {
            let lower: String = part
                .chars()
                .filter(|c| *c != '\'')
                .flat_map(char::to_lowercase)
                .collect();
            if lower.is_empty() || self.stopwords.contains(lower.as_str()) {
                continue;
            }
            // Lone letters carry no meaning outside an identifier.
            if lower.chars().count() == 1 && !lower.chars().all(|c| c.is_ascii_digit()) {
                continue;
            }
            out.push(self.stemmer.stem(&lower).into_owned());
        }
    }

    /// BM25 document weights over weighted fields.
    pub fn encode_document(&self, fields: &[Field<'_>], params: &Bm25Params) -> SparseVec {
        self.term_freqs(fields).bm25(params)
    }

    /// Field-weighted term frequencies and length: the part of a document's
    /// vector that does not depend on the corpus. Sorted by term id.
    pub fn term_freqs(&self, fields: &[Field<'_>]) -> TermFreqs {
        let mut ids: Vec<(u32, f32)> = Vec::new();
        let mut len = 0.0;
        TOKEN_IDS.with_borrow_mut(|cache| {
            if cache.len() > TOKEN_CACHE_MAX {
                cache.clear();
            }
            let mut terms = Vec::new();
            for field in fields {
                for raw in raw_tokens(field.text) {
                    // Docs repeat their words: each distinct token is analysed once per thread.
                    let known = match cache.get(raw) {
                        Some(known) => known,
                        None => {
                            terms.clear();
                            self.analyse_token(raw, &mut terms);
                            let v: Vec<u32> = terms.iter().map(|t| term_id(t)).collect();
                            cache.entry(raw.to_owned()).or_insert(v)
                        }
                    };
                    for id in known {
                        ids.push((*id, field.weight));
                        len += field.weight;
                    }
                }
            }
        });
        // Sum per term in a fixed order, so equal inputs give bit-equal weights.
        ids.sort_by_key(|p| p.0);
        let mut tf: Vec<(u32, f32)> = Vec::with_capacity(ids.len() / 2);
        for (id, w) in ids {
            match tf.last_mut() {
                Some(last) if last.0 == id => last.1 += w,
                _ => tf.push((id, w)),
            }
        }
        TermFreqs { tf, len }
    }

    /// A query: one weight per distinct term, the highest it was given (the
    /// store multiplies in the IDF).
    pub fn encode_query(&self, terms: &[(String, f32)]) -> SparseVec {
        let mut weights: HashMap<u32, f32> = HashMap::new();
        for (t, w) in terms {
            let e = weights.entry(term_id(t)).or_insert(0.0);
            *e = e.max(*w);
        }
        let mut pairs: Vec<(u32, f32)> = weights.into_iter().collect();
        sorted(&mut pairs)
    }
}

/// Distinct tokens remembered per thread before the cache starts over.
const TOKEN_CACHE_MAX: usize = 200_000;

thread_local! {
    /// Raw token -> the ids of its analysed terms.
    static TOKEN_IDS: std::cell::RefCell<rustc_hash::FxHashMap<String, Vec<u32>>> =
        std::cell::RefCell::new(rustc_hash::FxHashMap::default());
}

/// A document's weighted term frequencies, before BM25 saturation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TermFreqs {
    pub tf: Vec<(u32, f32)>,
    /// Weighted length, in terms (what `avg_len` averages).
    pub len: f32,
}

impl TermFreqs {
    /// BM25 term weights: saturated frequency with length normalisation.
    pub fn bm25(&self, params: &Bm25Params) -> SparseVec {
        let norm = 1.0 - params.b + params.b * self.len / params.avg_len.max(1.0);
        let mut pairs: Vec<(u32, f32)> = self
            .tf
            .iter()
            .map(|(id, f)| (*id, f * (params.k1 + 1.0) / (f + params.k1 * norm)))
            .collect();
        sorted(&mut pairs)
    }
}

fn sorted(pairs: &mut [(u32, f32)]) -> SparseVec {
    pairs.sort_unstable_by_key(|p| p.0);
    SparseVec {
        indices: pairs.iter().map(|p| p.0).collect(),
        values: pairs.iter().map(|p| p.1).collect(),
    }
}

/// A term's dimension: FNV-1a, stable across processes and versions (ids are stored).
pub fn term_id(term: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in term.as_bytes() {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '\''
}

fn is_joiner(c: char) -> bool {
    matches!(c, '-' | '.')
}

/// Maximal runs of word characters joined by single `-` or `.`: `argocd-cm`,
/// `values.yaml`, `v2.4`, `grpc-web` (from `--grpc-web`).
fn raw_tokens(text: &str) -> impl Iterator<Item = &str> {
    let bytes: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !is_word_char(bytes[i].1) || bytes[i].1 == '\'' {
            i += 1;
            continue;
        }
        let start = i;
        let mut end = i;
        while end < bytes.len() {
            let c = bytes[end].1;
            // A joiner only continues the token when a word character follows it.
            let joins = is_joiner(c)
                && bytes
                    .get(end + 1)
                    .is_some_and(|n| is_word_char(n.1) && n.1 != '\'');
            if !(is_word_char(c) || joins) {
                break;
            }
            end += 1;
        }
        // Drop a trailing apostrophe run (`teams'`).
        let mut last = end;
        while last > start && bytes[last - 1].1 == '\'' {
            last -= 1;
        }
        let s = bytes[start].0;
        let e = bytes.get(last).map_or(text.len(), |b| b.0);
        if e > s {
            out.push(&text[s..e]);
        }
        i = end.max(i + 1);
    }
    out.into_iter()
}

/// The parts of a token: split at joiners, `_`, and camelCase boundaries
/// (`ImagePullBackOff` -> Image Pull Back Off, `HTTPServer` -> HTTP Server).
/// A trailing possessive `'s` is dropped.
fn split_parts(raw: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for piece in raw.split(['-', '.', '_']) {
        let piece = piece.strip_suffix("'s").unwrap_or(piece);
        if piece.is_empty() {
            continue;
        }
        let chars: Vec<(usize, char)> = piece.char_indices().collect();
        let mut start = 0;
        for k in 1..chars.len() {
            let (prev, cur) = (chars[k - 1].1, chars[k].1);
            let next_lower = chars.get(k + 1).is_some_and(|n| n.1.is_lowercase());
            let boundary = (prev.is_lowercase() && cur.is_uppercase())
                || (prev.is_uppercase() && cur.is_uppercase() && next_lower);
            if boundary {
                out.push(&piece[start..chars[k].0]);
                start = chars[k].0;
            }
        }
        out.push(&piece[start..]);
    }
    out
}

/// English stopwords, plus the apostrophe-less contractions people type in chat.
const STOPWORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "am",
    "an",
    "and",
    "any",
    "are",
    "aren",
    "arent",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "cant",
    "cannot",
    "could",
    "couldnt",
    "did",
    "didnt",
    "do",
    "does",
    "doesnt",
    "doing",
    "dont",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "hadnt",
    "has",
    "hasnt",
    "have",
    "havent",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "id",
    "if",
    "im",
    "in",
    "into",
    "is",
    "isnt",
    "it",
    "its",
    "itself",
    "ive",
    "just",
    "let",
    "lets",
    "me",
    "more",
    "most",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "ought",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "same",
    "shall",
    "she",
    "should",
    "shouldnt",
    "so",
    "some",
    "such",
    "than",
    "that",
    "thats",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "theres",
    "these",
    "they",
    "theyre",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "very",
    "was",
    "wasnt",
    "we",
    "were",
    "weve",
    "werent",
    "what",
    "whats",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "wont",
    "would",
    "wouldnt",
    "you",
    "youre",
    "youve",
    "your",
    "yours",
    "yourself",
    "yourselves",
    "s",
    "t",
    "e",
    "g",
    "eg",
    "ie",
    "etc",
    "also",
    "may",
    "might",
    "must",
    "via",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<String> {
        Analyzer::new().terms(text)
    }

    #[test]
    fn identifiers_survive_whole_and_in_parts() {
        let t = terms("Edit the argocd-cm ConfigMap");
        assert!(t.contains(&"argocd-cm".to_owned()), "{t:?}");
        assert!(t.contains(&"argocd".to_owned()), "{t:?}");
        assert!(t.contains(&"cm".to_owned()), "{t:?}");
        assert!(t.contains(&"configmap".to_owned()), "{t:?}");
        assert!(t.contains(&"config".to_owned()), "{t:?}");

        let t = terms("start it with --grpc-web");
        assert!(t.contains(&"grpc-web".to_owned()), "{t:?}");
        assert!(t.contains(&"grpc".to_owned()), "{t:?}");

        let t = terms("pods stuck in ImagePullBackOff.");
        assert!(t.contains(&"imagepullbackoff".to_owned()), "{t:?}");
        assert!(t.contains(&"pull".to_owned()), "{t:?}");
        assert!(t.contains(&"back".to_owned()), "{t:?}");
    }

    #[test]
    fn prose_is_stemmed_and_stopwords_dropped() {
        assert_eq!(terms("The pods are restarting"), ["pod", "restart"]);
        assert_eq!(
            terms("isn't it the team's namespace?"),
            ["team", "namespac"]
        );
        assert_eq!(
            terms("HTTPServer values.yaml"),
            [
                "httpserver",
                "http",
                "server",
                "values.yaml",
                "valu",
                "yaml"
            ]
        );
    }

    #[test]
    fn sentence_punctuation_is_not_a_joiner() {
        assert_eq!(terms("rotate it. Then - restart"), ["rotat", "restart"]);
        assert_eq!(terms("v2.4 upgrade..."), ["v2.4", "v2", "4", "upgrad"]);
    }

    #[test]
    fn bm25_weights_saturate_and_normalise_length() {
        let a = Analyzer::new();
        let p = Bm25Params::default();
        let short = a.encode_document(
            &[Field {
                text: "quota quota",
                weight: 1.0,
            }],
            &p,
        );
        let once = a.encode_document(
            &[Field {
                text: "quota",
                weight: 1.0,
            }],
            &p,
        );
        assert_eq!(short.indices, once.indices);
        assert!(short.values[0] > once.values[0]);
        assert!(short.values[0] < p.k1 + 1.0);
        let q = a.encode_query(&a.query_terms("quota quota raise", 0.5));
        assert_eq!(q.indices.len(), 2);
        assert!(q.indices.windows(2).all(|w| w[0] < w[1]));
    }
}
