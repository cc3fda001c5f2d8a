//! From a message's words to the sparse features the classifier weighs. Names,
//! environments and numbers arrive masked as [`Slot`]s, so the model learns how a
//! request is built ("bounce <service> in <env>"), not which services exist.
//!
//! Features: word unigrams and their crude stems, word bigrams (with sentence
//! boundaries), character 3- and 4-grams of longer words (typos, inflections), the
//! first word, and whether the message is a question. Each is hashed (FNV-1a, fixed,
//! so the same text gives the same features on every run and machine).

/// A masked argument value in a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Slot {
    Service,
    Team,
    Environment,
    Number,
}

impl Slot {
    fn marker(self) -> &'static str {
        match self {
            Slot::Service => "<service>",
            Slot::Team => "<team>",
            Slot::Environment => "<env>",
            Slot::Number => "<num>",
        }
    }
}

/// One word of a message, or a masked value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Token {
    Word(String),
    Slot(Slot),
}

impl Token {
    pub fn word(w: impl Into<String>) -> Self {
        Token::Word(w.into())
    }

    pub(super) fn text(&self) -> &str {
        match self {
            Token::Word(w) => w,
            Token::Slot(s) => s.marker(),
        }
    }
}

/// A message as the classifier reads it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Utterance {
    pub tokens: Vec<Token>,
    /// Ends with `?` or starts with a question word.
    pub question: bool,
}

/// Words shorter than this give no character n-grams: their unigram says it all.
const MIN_CHARGRAM_WORD: usize = 4;
/// Character n-gram lengths.
const CHARGRAMS: [usize; 2] = [3, 4];
/// Endings cut off for the stem feature ("restarted", "bouncing", "replicas").
const ENDINGS: &[&str] = &["ing", "ed", "es", "s", "ly", "er"];

/// The hashed features of `u`, sorted and without repeats.
pub fn extract(u: &Utterance) -> Vec<u64> {
    let mut out = Vec::with_capacity(u.tokens.len() * 8 + 4);
    let texts: Vec<&str> = u.tokens.iter().map(Token::text).collect();
    for (i, t) in u.tokens.iter().enumerate() {
        out.push(hash2("w", texts[i]));
        if let Token::Word(w) = t {
            let stem = stem(w);
            if stem != w {
                out.push(hash2("s", stem));
            }
            chargrams(w, &mut out);
        }
    }
    let bounded = std::iter::once("^")
        .chain(texts.iter().copied())
        .chain(std::iter::once("$"));
    let bounded: Vec<&str> = bounded.collect();
    for pair in bounded.windows(2) {
        out.push(hash3("b", pair[0], pair[1]));
    }
    if let Some(first) = texts.first() {
        out.push(hash2("first", first));
    }
    if u.question {
        out.push(hash2("flag", "question"));
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The word without a common inflection, when enough of it is left.
fn stem(w: &str) -> &str {
    ENDINGS
        .iter()
        .find_map(|e| w.strip_suffix(e).filter(|s| s.chars().count() >= 3))
        .unwrap_or(w)
}

fn chargrams(w: &str, out: &mut Vec<u64>) {
    let chars: Vec<char> = std::iter::once('#')
        .chain(w.chars())
        .chain(std::iter::once('#'))
        .collect();
    if chars.len() < MIN_CHARGRAM_WORD + 2 {
        return;
    }
    let mut buf = String::new();
    for n in CHARGRAMS {
        for gram in chars.windows(n) {
            buf.clear();
            buf.extend(gram);
            out.push(hash2("c", &buf));
        }
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// `kind` and the parts, separated so that ("ab", "c") and ("a", "bc") differ.
fn hash2(kind: &str, a: &str) -> u64 {
    let h = fnv(FNV_OFFSET, kind.as_bytes());
    fnv(fnv(h, &[0]), a.as_bytes())
}

fn hash3(kind: &str, a: &str, b: &str) -> u64 {
    fnv(fnv(hash2(kind, a), &[0]), b.as_bytes())
}

/// A masked message from words, `<service>` and `<env>` read as slots (for tests).
#[cfg(test)]
pub(super) fn utt(words: &str) -> Utterance {
    Utterance {
        tokens: words
            .split_whitespace()
            .map(|w| match w {
                "<service>" => Token::Slot(Slot::Service),
                "<env>" => Token::Slot(Slot::Environment),
                w => Token::word(w),
            })
            .collect(),
        question: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_names_share_features_and_inflections_share_stems() {
        let a = extract(&utt("restart <service> in <env>"));
        assert_eq!(a, extract(&utt("restart <service> in <env>")));
        assert!(a.contains(&hash3("b", "<service>", "in")));
        let b = extract(&utt("restarted"));
        assert!(b.contains(&hash2("s", "restart")));
        // A typo still shares most character n-grams with the word.
        let typo = extract(&utt("restrat"));
        let right = extract(&utt("restart"));
        let shared = typo.iter().filter(|f| right.contains(f)).count();
        assert!(shared >= 3, "{shared}");
    }

    #[test]
    fn features_are_sorted_and_unique() {
        let f = extract(&utt("logs logs logs"));
        assert!(f.windows(2).all(|w| w[0] < w[1]));
    }
}
