//! The docs index: platform documentation, chunked along its headings, kept in
//! Qdrant (embedded qdrant-edge by default, a server when configured) and
//! searched with BM25, a latent semantic model learnt from the docs themselves
//! and, when an embeddings endpoint is configured, dense vectors, fused by
//! score.
//!
//! - [`ingest`]: sources (folders, files, globs) and parsing into sections
//! - [`chunk`]: heading-tree chunks with tiktoken limits
//! - [`sparse`]: the code-aware BM25 encoder
//! - [`embed`]: the embeddings client and its content-hash cache
//! - [`semantic`]: the latent semantic model (LSA) learnt at index time
//! - [`store`]: qdrant-edge and Qdrant-server storage behind one layout
//! - [`index`]: [`DocsIndex`], incremental (re)indexing and its manifest
//! - [`search`]: a question in, cited passages out
//!
//! Retrieved text is data: it is only ever quoted back to the user.

pub mod chunk;
pub mod embed;
pub mod index;
pub mod ingest;
mod linalg;
pub mod progress;
pub mod rank;
pub mod resident;
pub mod search;
pub mod semantic;
pub mod sparse;
pub mod store;

use std::path::PathBuf;

pub use index::{DocsIndex, IndexEvent, IndexOptions, IndexSummary, SkippedFile};
pub use search::{Passage, SearchResults};

#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    #[error("docs source `{source_name}`: {message}")]
    Source {
        source_name: String,
        message: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("docs index store: {0}")]
    Store(String),
    #[error("embeddings endpoint: {0}")]
    Embed(String),
    /// The index on disk cannot be used as it is; a rebuild fixes it.
    #[error("the docs index is damaged or incomplete ({0}); run `platbot index --rebuild`")]
    Corrupt(String),
    #[error("the docs index has not been built yet; run `platbot index`")]
    NotIndexed,
}
