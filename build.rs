//! Writes cl100k_base's vocabulary as a compact table the token counter
//! reads without loading tiktoken (`src/knowledge/chunk.rs`): building
//! tiktoken's encoder at run time took about 70 ms of CPU at the start of
//! every index build. Made from tiktoken-rs itself, so the two cannot drift
//! apart (the counter's tests compare its counts with tiktoken's).
//!
//! Format: for each ordinary rank from 0, one byte of length then the
//! token's bytes (length 0: no token has that rank).

use std::io::Write;

/// cl100k's ordinary tokens are numbered below this (the special ones above).
const ORDINARY_TOKENS: u32 = 100_256;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo::rerun-if-changed=build.rs");
    let bpe = tiktoken_rs::cl100k_base()?;
    let mut table = Vec::with_capacity(1 << 20);
    for rank in 0..ORDINARY_TOKENS {
        let bytes = bpe.decode_bytes(&[rank])?;
        let len = u8::try_from(bytes.len())?;
        table.push(len);
        table.extend_from_slice(&bytes);
    }
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?).join("cl100k_ranks.bin");
    std::fs::File::create(out)?.write_all(&table)?;
    Ok(())
}
