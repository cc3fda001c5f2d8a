//! Chunking along the heading tree, with token limits counted as tiktoken
//! counts cl100k_base (from its vocabulary, which `build.rs` writes out).
//!
//! A chunk never crosses into another part of the tree except to absorb a
//! small subsection into its parent (a two-line "Example" section is better
//! read with the text it illustrates). A section over the limit is split at
//! block boundaries with a small overlap; code blocks and tables stay whole
//! unless they alone exceed the limit.

use std::cell::RefCell;
use std::sync::LazyLock;

use rustc_hash::FxHashMap;

use super::ingest::{Block, BlockKind, Document, Section};

/// A token's rank in cl100k_base.
type Rank = u32;

/// cl100k's ordinary tokens (ranks below this; the special ones are above).
const ORDINARY_TOKENS: usize = 100_256;

/// cl100k's vocabulary as `build.rs` writes it: per rank, a length byte and the bytes.
static TABLE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/cl100k_ranks.bin"));

/// cl100k's vocabulary (token bytes -> rank), read from [`TABLE`]: a few ms,
/// where building tiktoken's encoder took about 70 ms of CPU.
static RANKS: LazyLock<FxHashMap<&'static [u8], Rank>> = LazyLock::new(|| {
    let mut ranks = FxHashMap::with_capacity_and_hasher(ORDINARY_TOKENS, Default::default());
    let (mut at, mut rank) = (0, 0);
    while let Some(&len) = TABLE.get(at) {
        let end = at + 1 + usize::from(len);
        if len > 0
            && let Some(bytes) = TABLE.get(at + 1..end)
        {
            ranks.insert(bytes, rank);
        }
        at = end;
        rank += 1;
    }
    ranks
});

/// cl100k's pre-tokenizer pattern, for text that is not ASCII (ASCII text is
/// cut by [`piece_end`], much faster).
const PATTERN: &str = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s";

static PIECES: LazyLock<Option<fancy_regex::Regex>> =
    LazyLock::new(|| fancy_regex::Regex::new(PATTERN).ok());

/// Builds the rank table and compiles the pattern now, e.g. on another
/// thread while files are read, rather than in the first worker to count.
pub fn warm_up() {
    LazyLock::force(&RANKS);
    LazyLock::force(&PIECES);
}

/// Segments remembered per thread before the cache starts over.
const SEGMENT_CACHE_MAX: usize = 100_000;

thread_local! {
    /// Segment -> its token count: docs repeat their words, so most segments are known.
    static SEGMENTS: RefCell<FxHashMap<String, usize>> = RefCell::new(FxHashMap::default());
}

/// Tokens in `text` as cl100k_base counts them.
///
/// The text is cut into segments at places where cl100k's pre-tokenizer always
/// ends a piece whatever follows (see [`segments`]), so the count is the sum of
/// the segments' counts, and each distinct segment is counted once per thread.
pub fn count_tokens(text: &str) -> usize {
    let ranks = &*RANKS;
    SEGMENTS.with_borrow_mut(|cache| {
        if cache.len() > SEGMENT_CACHE_MAX {
            cache.clear();
        }
        segments(text)
            .map(|seg| match cache.get(seg) {
                Some(n) => *n,
                None => {
                    let n = match seg.is_ascii() {
                        true => ascii_tokens(seg.as_bytes(), ranks),
                        false => unicode_tokens(seg, ranks),
                    };
                    cache.insert(seg.to_owned(), n);
                    n
                }
            })
            .sum()
    })
}

/// cl100k's count of a piece of the pre-tokenizer: one token when it is in
/// the vocabulary, else as many as byte-pair merging leaves.
fn piece_tokens(piece: &[u8], ranks: &FxHashMap<&'static [u8], Rank>) -> usize {
    if piece.len() < 2 || ranks.contains_key(piece) {
        1
    } else {
        merged_parts(piece, ranks)
    }
}

/// Pieces from which [`merged_parts`] keeps its candidate pairs in a heap
/// (a scan of every pair per merge is quadratic: a long run of CJK letters
/// or of `=` is one piece).
const HEAP_MERGE_BYTES: usize = 100;

/// Byte-pair merging as cl100k encodes: from single bytes, the adjacent pair
/// whose joined bytes have the lowest rank is merged (the leftmost of equals)
/// until no adjacent pair is a token; the parts left are the tokens.
fn merged_parts(piece: &[u8], ranks: &FxHashMap<&'static [u8], Rank>) -> usize {
    match piece.len() >= HEAP_MERGE_BYTES {
        true => heap_merged_parts(piece, ranks),
        false => scan_merged_parts(piece, ranks),
    }
}

/// [`merged_parts`] for a short piece: every pair scanned per merge.
fn scan_merged_parts(piece: &[u8], ranks: &FxHashMap<&'static [u8], Rank>) -> usize {
    // Where each part starts; part i is piece[starts[i]..starts[i + 1]].
    let mut starts: Vec<usize> = (0..=piece.len()).collect();
    let pair = |starts: &[usize], i: usize| -> Option<Rank> {
        starts
            .get(i + 2)
            .and_then(|end| ranks.get(&piece[starts[i]..*end]).copied())
    };
    let mut pairs: Vec<Option<Rank>> = (0..starts.len() - 2).map(|i| pair(&starts, i)).collect();
    loop {
        let best = pairs
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.map(|r| (r, i)))
            .min();
        let Some((_, i)) = best else {
            return starts.len() - 1;
        };
        starts.remove(i + 1);
        pairs.remove(i);
        if i < pairs.len() {
            pairs[i] = pair(&starts, i);
        }
        if i > 0 {
            pairs[i - 1] = pair(&starts, i - 1);
        }
    }
}

/// [`merged_parts`] in O(n log n): the parts are a linked list over the
/// piece's bytes and the candidate pairs a min-heap of (rank, start), so the
/// lowest rank and, among equals, the leftmost pair comes out first, as in
/// the scan; an entry whose parts have changed since it was pushed is stale
/// and skipped.
fn heap_merged_parts(piece: &[u8], ranks: &FxHashMap<&'static [u8], Rank>) -> usize {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let n = piece.len();
    // Part at byte i (when alive): piece[i..end[i]]; the next part starts at end[i].
    let mut end: Vec<usize> = (1..=n).collect();
    let mut prev: Vec<Option<usize>> = (0..n).map(|i| i.checked_sub(1)).collect();
    let mut alive = vec![true; n];
    let pair = |end: &[usize], i: usize| -> Option<(Rank, usize)> {
        let j = end[i];
        (j < n)
            .then(|| ranks.get(&piece[i..end[j]]).map(|r| (*r, end[j])))
            .flatten()
    };
    // (rank, start, end of the pair when pushed)
    let mut heap: BinaryHeap<Reverse<(Rank, usize, usize)>> = (0..n)
        .filter_map(|i| pair(&end, i).map(|(r, e)| Reverse((r, i, e))))
        .collect();
    let mut parts = n;
    while let Some(Reverse((_, i, pair_end))) = heap.pop() {
        // Stale: a side of the pair merged since (its span ends elsewhere now).
        let j = end[i];
        if !alive[i] || j >= n || end[j] != pair_end {
            continue;
        }
        end[i] = pair_end;
        alive[j] = false;
        if pair_end < n {
            prev[pair_end] = Some(i);
        }
        parts -= 1;
        if let Some((r, e)) = pair(&end, i) {
            heap.push(Reverse((r, i, e)));
        }
        if let Some(p) = prev[i]
            && let Some((r, e)) = pair(&end, p)
        {
            heap.push(Reverse((r, p, e)));
        }
    }
    parts
}

/// cl100k's count of any text: the pre-tokenizer's pieces, each counted.
fn unicode_tokens(text: &str, ranks: &FxHashMap<&'static [u8], Rank>) -> usize {
    let Some(pieces) = PIECES.as_ref() else {
        return text.len().div_ceil(4);
    };
    let (mut count, mut at) = (0, 0);
    loop {
        match pieces.find_from_pos(text, at) {
            // Never empty: every character matches some alternative.
            Ok(Some(m)) if m.end() > at => {
                count += piece_tokens(m.as_str().as_bytes(), ranks);
                at = m.end();
            }
            Ok(_) => return count,
            // Past the backtracking limit: an estimate for the rest, not none.
            Err(_) => return count + text[at..].len().div_ceil(4),
        }
    }
}

/// cl100k's count of ASCII text: its pre-tokenizer's pieces (see [`piece_end`]),
/// each counted.
fn ascii_tokens(text: &[u8], ranks: &FxHashMap<&'static [u8], Rank>) -> usize {
    let mut count = 0;
    let mut i = 0;
    while i < text.len() {
        let end = piece_end(text, i);
        count += piece_tokens(&text[i..end], ranks);
        i = end;
    }
    count
}

/// Where the pre-tokenizer's piece starting at `i` (< `s.len()`) ends, in ASCII
/// text. cl100k's pattern ([`PATTERN`]), alternatives tried in order, possessive
/// where marked.
/// In ASCII, `\p{L}` is a letter, `\p{N}` a digit and `\s` one of `\t\n\x0B\x0C\r `.
fn piece_end(s: &[u8], i: usize) -> usize {
    let is = |j: usize, f: fn(u8) -> bool| s.get(j).copied().is_some_and(f);
    let run = |mut j: usize, f: fn(u8) -> bool| {
        while is(j, f) {
            j += 1;
        }
        j
    };
    let letter = |b: u8| b.is_ascii_alphabetic();
    let space = |b: u8| matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ');
    let other = |b: u8| {
        !b.is_ascii_alphanumeric() && !matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ')
    };
    let newline = |b: u8| matches!(b, b'\r' | b'\n');
    let c = s[i];
    // 's 'd 'm 't 'll 've 're, any case.
    if c == b'\'' {
        let lower = |j: usize| s.get(j).map(u8::to_ascii_lowercase);
        match (lower(i + 1), lower(i + 2)) {
            (Some(b's' | b'd' | b'm' | b't'), _) => return i + 2,
            (Some(b'l'), Some(b'l')) | (Some(b'v' | b'r'), Some(b'e')) => return i + 3,
            _ => {}
        }
    }
    // Letters, after at most one character that is not CR, LF or a digit.
    if letter(c) {
        return run(i + 1, letter);
    }
    if !newline(c) && !c.is_ascii_digit() && is(i + 1, letter) {
        return run(i + 2, letter);
    }
    // Up to three digits.
    if c.is_ascii_digit() {
        return (i + 1..(i + 3).min(s.len()))
            .find(|&j| !s[j].is_ascii_digit())
            .unwrap_or((i + 3).min(s.len()));
    }
    // Other characters, after at most one space, then any CR and LF.
    let start = if c == b' ' && is(i + 1, other) {
        i + 1
    } else {
        i
    };
    if is(start, other) {
        return run(run(start, other), newline);
    }
    // Whitespace: to the end; or up to its last CR or LF; or all but its last
    // character when it is followed by text; or one character.
    let end = run(i, space);
    if end == s.len() {
        return end;
    }
    if let Some(k) = (i..end).rev().find(|&k| newline(s[k])) {
        return k + 1;
    }
    if end - i >= 2 { end - 1 } else { i + 1 }
}

/// `text` cut before every space that stands alone between two non-space
/// characters (`a b` -> `a`, ` b`) and after every newline followed by a
/// non-space character. cl100k's pattern ([`PATTERN`])
/// has no piece with an inner space followed by a non-space, nor one with a
/// newline followed by a non-space; and at such a cut the piece before ends
/// the same way whether or not text follows (it ends in a non-space, or in a
/// newline that `\s++$` and `\s*[\r\n]` both stop at), so encoding the
/// segments apart gives the same pieces.
fn segments(text: &str) -> impl Iterator<Item = &str> {
    let mut start = 0;
    let mut prev: Option<char> = None;
    let mut chars = text.char_indices().peekable();
    std::iter::from_fn(move || {
        while let Some((i, c)) = chars.next() {
            let next = chars.peek().map(|(_, n)| *n);
            let next_solid = next.is_some_and(|n| !n.is_whitespace());
            let before_space =
                c == ' ' && next_solid && prev.is_some_and(|p| !p.is_whitespace()) && i > start;
            prev = Some(c);
            if before_space {
                let seg = &text[start..i];
                start = i;
                return Some(seg);
            }
            if c == '\n' && next_solid {
                let end = i + 1;
                let seg = &text[start..end];
                start = end;
                return Some(seg);
            }
        }
        (start < text.len()).then(|| {
            let seg = &text[start..];
            start = text.len();
            seg
        })
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkLimits {
    /// A chunk holds at most this many tokens (unless one line alone is longer).
    pub max_tokens: usize,
    /// A section smaller than this absorbs the subsections that follow it.
    pub min_tokens: usize,
    /// Tokens repeated from the end of the previous piece when a section is split.
    pub overlap_tokens: usize,
}

impl Default for ChunkLimits {
    fn default() -> Self {
        Self {
            max_tokens: 450,
            min_tokens: 120,
            overlap_tokens: 60,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    /// Where in the document the chunk starts (title excluded).
    pub headings: Vec<String>,
    /// The passage as written (Markdown), subsection headings included.
    pub text: String,
    pub tokens: usize,
}

struct Piece {
    headings: Vec<String>,
    blocks: Vec<(String, usize)>,
    tokens: usize,
}

/// Splits a parsed document into chunks.
pub fn chunk(doc: &Document, limits: &ChunkLimits) -> Vec<Chunk> {
    let pieces = doc
        .sections
        .iter()
        .flat_map(|s| section_pieces(s, limits))
        .collect();
    join_small(pieces, limits)
        .into_iter()
        .map(|p| Chunk {
            headings: p.headings,
            text: p
                .blocks
                .into_iter()
                .map(|(t, _)| t)
                .collect::<Vec<_>>()
                .join("\n\n"),
            tokens: p.tokens,
        })
        .collect()
}

/// A section cut into pieces within the limit, each piece after the first
/// starting with the last block of the one before when that block is small.
fn section_pieces(section: &Section, limits: &ChunkLimits) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let blocks: Vec<(String, usize)> = section
        .blocks
        .iter()
        .flat_map(|b| split_block(b, limits.max_tokens))
        .collect();
    let empty = || Piece {
        headings: section.headings.clone(),
        blocks: Vec::new(),
        tokens: 0,
    };
    let mut current = empty();
    for (text, tokens) in blocks {
        if current.tokens + tokens > limits.max_tokens && !current.blocks.is_empty() {
            let overlap = current
                .blocks
                .last()
                .filter(|(_, t)| *t <= limits.overlap_tokens && *t + tokens <= limits.max_tokens)
                .cloned();
            pieces.push(std::mem::replace(&mut current, empty()));
            if let Some((t, n)) = overlap {
                current.blocks.push((t, n));
                current.tokens += n;
            }
        }
        current.tokens += tokens;
        current.blocks.push((text, tokens));
    }
    if !current.blocks.is_empty() {
        pieces.push(current);
    }
    pieces
}

/// Small sections absorb the subsections that follow them, up to the limit.
fn join_small(pieces: Vec<Piece>, limits: &ChunkLimits) -> Vec<Piece> {
    let mut chunks: Vec<Piece> = Vec::new();
    for piece in pieces {
        if let Some(last) = chunks.last_mut() {
            let nested = piece.headings.len() > last.headings.len()
                && piece.headings.starts_with(&last.headings);
            let sub = &piece.headings[last.headings.len().min(piece.headings.len())..];
            let depth = last.headings.len() + sub.len() + 1;
            let heading = format!("{} {}", "#".repeat(depth), sub.join(" > "));
            let heading_tokens = count_tokens(&heading);
            // The subsection's heading line goes in too, so it counts against the limit.
            if nested
                && last.tokens < limits.min_tokens
                && last.tokens + heading_tokens + piece.tokens <= limits.max_tokens
            {
                last.blocks.push((heading, heading_tokens));
                last.tokens += heading_tokens + piece.tokens;
                last.blocks.extend(piece.blocks);
                continue;
            }
        }
        chunks.push(piece);
    }
    chunks
}

/// A block with its token count; a block over the limit is cut at line
/// boundaries (code keeps its fences on every part so each reads as code).
fn split_block(block: &Block, max_tokens: usize) -> Vec<(String, usize)> {
    let tokens = count_tokens(&block.text);
    if tokens <= max_tokens {
        return vec![(block.text.clone(), tokens)];
    }
    let lines: Vec<&str> = block.text.lines().collect();
    let is_fence = |l: &str| {
        let t = l.trim_start();
        t.starts_with("```") || t.starts_with("~~~")
    };
    let (fence_open, fence_close, body) = match block.kind {
        BlockKind::Code if lines.len() >= 2 => {
            let open = lines[0];
            let close = lines[lines.len() - 1];
            // A fence left open runs to the end of the file: its last line is code, not a fence.
            if is_fence(close) {
                (Some(open), Some(close), &lines[1..lines.len() - 1])
            } else {
                let close = if open.trim_start().starts_with('~') {
                    "~~~"
                } else {
                    "```"
                };
                (Some(open), Some(close), &lines[1..])
            }
        }
        _ => (None, None, &lines[..]),
    };
    // Every part repeats the fences, so they come out of its budget.
    let fences = fence_open.map_or(0, count_tokens) + fence_close.map_or(0, count_tokens) + 2;
    let budget = max_tokens.saturating_sub(fences).max(16);
    let mut out = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut current_tokens = 0;
    let mut emit = |lines: &mut Vec<&str>, n: &mut usize| {
        if lines.is_empty() {
            return;
        }
        let mut text = String::new();
        if let Some(open) = fence_open {
            text.push_str(open);
            text.push('\n');
        }
        text.push_str(&lines.join("\n"));
        if let Some(close) = fence_close {
            text.push('\n');
            text.push_str(close);
        }
        let tokens = count_tokens(&text);
        out.push((text, tokens));
        lines.clear();
        *n = 0;
    };
    for line in body {
        let n = count_tokens(line) + 1;
        if current_tokens + n > budget {
            emit(&mut current, &mut current_tokens);
        }
        current.push(line);
        current_tokens += n;
    }
    emit(&mut current, &mut current_tokens);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knowledge::ingest::parse;
    use proptest::prelude::*;

    static BPE: LazyLock<tiktoken_rs::CoreBPE> =
        LazyLock::new(|| tiktoken_rs::cl100k_base().unwrap());

    /// tiktoken on the whole text, no segments.
    fn tiktoken(text: &str) -> usize {
        BPE.encode_ordinary(text).len()
    }

    #[test]
    fn segment_counts_add_up_to_tiktoken_s() {
        let cases = [
            "",
            " ",
            "a b",
            "foo   bar",
            "x \n  b",
            "a.\n  b",
            "line one\nline two\n\n  indented\n\ttab\r\nwindows",
            "it's they'll we've I'M",
            "12345 67 8 v2.4.1 --grpc-web argocd-cm",
            "```yaml\nkey: value\n  nested: [1, 2]\n```",
            "emoji \u{1f600} and\u{a0}nbsp \u{3000}ideographic",
            "  leading and trailing  ",
            "trailing newline\n",
        ];
        for text in cases {
            assert_eq!(count_tokens(text), tiktoken(text), "{text:?}");
            assert_eq!(segments(text).collect::<String>(), text);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn segment_counts_match_tiktoken_on_any_mix(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just(" "), Just("  "), Just("\n"), Just("\r\n"), Just("\t"), Just("\u{a0}"),
                    Just("word"), Just("Word"), Just("x"), Just("123"), Just("4567"),
                    Just("'s"), Just("'ll"), Just("."), Just("--"), Just("{}"), Just("é"),
                    Just("\u{1f600}"), Just("\u{4e2d}"), Just("_"), Just("\u{3000}"),
                ],
                0..40,
            )
        ) {
            let text: String = parts.concat();
            prop_assert_eq!(count_tokens(&text), tiktoken(&text));
        }

        #[test]
        fn counts_match_tiktoken_on_any_text(text in "(\\PC|\\s|\u{301}|\u{200d}){0,40}") {
            prop_assert_eq!(count_tokens(&text), tiktoken(&text));
        }
    }

    fn ranks() -> &'static FxHashMap<&'static [u8], Rank> {
        &RANKS
    }

    #[test]
    fn long_pieces_count_as_tiktoken_counts_them_in_linear_time() {
        // One piece each (a run of one class of character): merged with the heap.
        for text in [
            "=".repeat(65_536),
            "\u{4e2d}\u{6587}\u{5b57}".repeat(8_000),
            "abcdefghij".repeat(6_000),
            "\u{1f600}".repeat(3_000),
        ] {
            assert_eq!(count_tokens(&text), tiktoken(&text), "{}", &text[..12]);
        }
        assert!(PIECES.is_some(), "cl100k's pattern compiles");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn the_heap_merges_as_the_scan_does(piece in proptest::collection::vec(
            prop_oneof![Just(b'a'), Just(b'b'), Just(b'e'), Just(b'r'), Just(b'='), Just(0xe4), Just(0xb8)],
            2..160,
        )) {
            prop_assert_eq!(heap_merged_parts(&piece, ranks()), scan_merged_parts(&piece, ranks()));
        }
    }

    #[test]
    fn the_rank_table_is_tiktoken_s_vocabulary() {
        let ranks = ranks();
        assert_eq!(ranks.len(), ORDINARY_TOKENS);
        assert!((0..=255u8).all(|b| ranks.contains_key(&[b][..])));
        for rank in [0, 255, 256, 1000, 50_000, 100_255] {
            let bytes = BPE.decode_bytes(&[rank]).unwrap();
            assert_eq!(ranks.get(bytes.as_slice()), Some(&rank), "{bytes:?}");
        }
    }

    #[test]
    fn ascii_counts_match_tiktoken_on_cases() {
        let cases = [
            " ",
            "\t\t",
            "\n\n\n",
            " \n \n x",
            "a  \t b",
            "x\x0b\x0cy",
            "\r",
            "end   ",
            "it's IT'S we'Ll you'VE they're 'd 'm 'x '",
            "'''s",
            "12 1234567 a1b22c333",
            "(word) [x] {y} #z --flag=v",
            " ... \n\r\n!!\n",
            "a\x00b\x7fc",
            "don't\n'tis",
            "https://argo-cd.readthedocs.io/en/stable/?q=1&x=%20",
            "    indented code();",
        ];
        for text in cases {
            assert_eq!(
                ascii_tokens(text.as_bytes(), ranks()),
                tiktoken(text),
                "{text:?}"
            );
        }
        // Pieces of 100 bytes and more, which tiktoken merges with another routine.
        for text in [
            "-".repeat(150),
            " ".repeat(130) + "x",
            "ab".repeat(70),
            "Kubernetes".repeat(12),
            "=".repeat(99) + "\n" + &"|".repeat(101),
        ] {
            assert_eq!(ascii_tokens(text.as_bytes(), ranks()), tiktoken(&text));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn ascii_counts_match_tiktoken_on_any_ascii(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just(" "), Just("  "), Just("\n"), Just("\r"), Just("\t"), Just("\x0b"),
                    Just("\x0c"), Just("a"), Just("Zq"), Just("s"), Just("ll"), Just("VE"),
                    Just("re"), Just("'"), Just("1"), Just("22"), Just("."), Just("!?"),
                    Just("-"), Just("_"), Just("`"), Just("\x00"), Just("\x7f"), Just("argocd"),
                    Just("kubectl"), Just("Sync"), Just("0x1F"),
                ],
                0..30,
            )
        ) {
            let text: String = parts.concat();
            prop_assert_eq!(ascii_tokens(text.as_bytes(), ranks()), tiktoken(&text));
        }

        #[test]
        fn ascii_counts_match_tiktoken_on_printable_ascii(text in "[ -~\t\n\r]{0,60}") {
            prop_assert_eq!(ascii_tokens(text.as_bytes(), ranks()), tiktoken(&text));
        }
    }

    #[test]
    fn a_joined_subsection_s_heading_counts_against_the_limit() {
        // Found by tests/fuzz_parsers.rs: a small section absorbed a subsection whose heading
        // line pushed the chunk past the limit.
        let text = "||-a-\n## %A\u{1f301}a!\u{13d0}!A\n|a|a|agb\n[\u{98f}](#\u{993}\u{1f301}\n[0](![\n~~~sh\ntitle: \"Fuzz\"\n\u{202e}gnp.exe\u{200b}\u{feff}\0\n---\n^";
        let limits = ChunkLimits {
            max_tokens: 60,
            min_tokens: 20,
            overlap_tokens: 10,
        };
        for c in chunk(&parse("a.md", text), &limits) {
            assert!(
                c.tokens <= limits.max_tokens,
                "{} tokens: {:?}",
                c.tokens,
                c.text
            );
        }
    }

    #[test]
    fn small_subsections_join_their_parent() {
        let doc = parse(
            "x.md",
            "# T\n\n## Setup\n\nShort intro.\n\n### Example\n\n```sh\nplatbot index\n```\n\n## Other\n\nText.\n",
        );
        let chunks = chunk(&doc, &ChunkLimits::default());
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].headings, ["Setup"]);
        assert!(chunks[0].text.contains("### Example"), "{}", chunks[0].text);
        assert!(chunks[0].text.contains("platbot index"));
        assert_eq!(chunks[1].headings, ["Other"]);
    }

    #[test]
    fn long_sections_split_within_limits_with_overlap() {
        let para =
            "The quota counts CPU and memory requests of every pod in the namespace. ".repeat(8);
        let mut text = String::from("# Quotas\n\n## Raising\n\n");
        for i in 0..12 {
            text.push_str(&format!("Paragraph {i}. {para}\n\nNote {i}.\n\n"));
        }
        let limits = ChunkLimits::default();
        let chunks = chunk(&parse("q.md", &text), &limits);
        assert!(chunks.len() > 2, "{}", chunks.len());
        for c in &chunks {
            assert!(c.tokens <= limits.max_tokens, "{}", c.tokens);
            assert_eq!(c.headings, ["Raising"]);
        }
        // The short note closing one piece opens the next.
        let first_end = chunks[0].text.rsplit("\n\n").next().unwrap_or_default();
        assert!(chunks[1].text.starts_with(first_end), "{first_end}");
    }

    #[test]
    fn code_blocks_stay_whole_until_they_cannot() {
        let code: String = (0..400).map(|i| format!("line {i}: value\n")).collect();
        let text = format!("# C\n\n```yaml\n{code}```\n");
        let limits = ChunkLimits::default();
        let chunks = chunk(&parse("c.md", &text), &limits);
        assert!(chunks.len() > 1);
        for c in &chunks {
            assert!(
                c.text.starts_with("```yaml") && c.text.ends_with("```"),
                "{}",
                c.text
            );
            assert!(c.tokens <= limits.max_tokens);
        }
        let small = format!("# C\n\n```yaml\n{}```\n", "a: 1\n".repeat(20));
        assert_eq!(chunk(&parse("c.md", &small), &limits).len(), 1);
    }
}
