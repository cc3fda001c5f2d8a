//! The manifest kept next to the store: what each indexed file's chunks are,
//! and the layout the stored vectors were made with.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::super::rank::FileTable;
use super::super::store::DenseDims;

pub(super) const MANIFEST_FORMAT: u32 = 1;

/// What must match for stored vectors to be reused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Layout {
    pub(super) analyzer: u32,
    pub(super) max_tokens: usize,
    pub(super) min_tokens: usize,
    pub(super) overlap_tokens: usize,
    pub(super) k1: f32,
    pub(super) b: f32,
    /// The embedding model and its vector size; `None` for BM25 only.
    pub(super) dense: Option<(String, usize)>,
    /// The latent semantic model's version (0: none) and its size.
    #[serde(default)]
    pub(super) semantic: u32,
    #[serde(default)]
    pub(super) semantic_dims: Option<usize>,
    pub(super) store: String,
    /// The embedded store's shards (1 for a Qdrant server).
    #[serde(default = "one_shard")]
    pub(super) shards: usize,
}

fn one_shard() -> usize {
    1
}

impl Layout {
    pub(super) fn dims(&self) -> DenseDims {
        DenseDims {
            dense: self.dense.as_ref().map(|d| d.1),
            semantic: self.semantic_dims,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct FileEntry {
    pub(super) hash: String,
    pub(super) chunks: Vec<u64>,
    /// Content hashes of the embedded texts (hex), to prune the embeddings cache.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) embedded: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Manifest {
    pub(super) format: u32,
    pub(super) layout: Layout,
    pub(super) avg_len: f32,
    /// `source:path` -> what is stored for that file.
    pub(super) files: BTreeMap<String, FileEntry>,
}

impl Manifest {
    pub(super) fn chunk_count(&self) -> usize {
        self.files.values().map(|f| f.chunks.len()).sum()
    }

    /// Which file each stored chunk belongs to, files in key order.
    pub(super) fn file_table(&self) -> FileTable {
        FileTable::new(self.files.iter().map(|(key, f)| {
            // Source names are lowercase letters, digits and '-': the first ':' ends one.
            let (source, path) = key.split_once(':').unwrap_or(("", key.as_str()));
            (source, path, f.chunks.as_slice())
        }))
    }
}
