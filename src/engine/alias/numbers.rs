//! Numbers in digits and words ("3", "three", "twenty five", "a dozen", "rev7", "x5"),
//! and which numeric argument each one fills, from the words around it ("last 50
//! lines", "to 3 replicas", "rev 7"). A replica count is always absolute: a change by
//! an amount ("double it", "2 more pods", "+2") fills nothing, so the planner asks
//! for the count instead of guessing from replicas it cannot see.

use super::text::Word;

/// Words after a number that make it a quantity of something else ("10 minutes").
const UNITS: &[&str] = &[
    "s", "sec", "secs", "second", "seconds", "m", "min", "mins", "minute", "minutes", "h", "hr",
    "hrs", "hour", "hours", "d", "day", "days", "week", "weeks", "ms", "am", "pm", "gb", "mb",
    "gi", "mi", "percent", "errors", "error", "users", "people",
];

const SMALL: &[&str] = &[
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: &[&str] = &[
    "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];

/// A number in a message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Number {
    pub value: u64,
    pub start: usize,
    pub end: usize,
    /// Written in digits; a number in words needs a cue to count ("which one wins").
    pub digits: bool,
    /// Written as `rev7` / `v7`: a revision.
    pub revision: bool,
    /// Written as `x5` / `5x`: a number of copies, so a replica count.
    pub copies: bool,
}

/// Cue words for a numeric argument: before the number and after it.
struct Cues {
    before: &'static [&'static str],
    after: &'static [&'static str],
}

fn cues(arg: &str) -> Cues {
    match arg {
        "replicas" => Cues {
            before: &["replicas", "replica", "to", "x", "at"],
            after: &[
                "replicas",
                "replica",
                "pods",
                "pod",
                "instances",
                "instance",
                "copies",
            ],
        },
        "lines" => Cues {
            before: &["last", "tail", "latest", "first", "lines", "n"],
            after: &["lines", "line"],
        },
        "revision" => Cues {
            before: &["rev", "revision", "version", "v", "r", "to", "number"],
            after: &[],
        },
        _ => Cues {
            before: &[],
            after: &[],
        },
    }
}

/// All numbers, left to right.
pub(crate) fn find(words: &[Word]) -> Vec<Number> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        if w.digits {
            if let Ok(value) = w.text.parse() {
                out.push(Number {
                    value,
                    start: i,
                    end: i + 1,
                    digits: true,
                    revision: false,
                    copies: false,
                });
            }
            i += 1;
        } else if let Some(value) = revision_word(&w.text) {
            out.push(Number {
                value,
                start: i,
                end: i + 1,
                digits: true,
                revision: true,
                copies: false,
            });
            i += 1;
        } else if let Some(value) = copies_word(&w.text) {
            out.push(Number {
                value,
                start: i,
                end: i + 1,
                digits: true,
                revision: false,
                copies: true,
            });
            i += 1;
        } else if let Some((value, len)) = dozen(words, i).or_else(|| spelled(words, i)) {
            out.push(Number {
                value,
                start: i,
                end: i + len,
                digits: false,
                revision: false,
                copies: false,
            });
            i += len;
        } else {
            i += 1;
        }
    }
    out
}

/// `rev7`, `v7`, `r7`.
fn revision_word(word: &str) -> Option<u64> {
    let digits = ["rev", "v", "r"]
        .iter()
        .find_map(|p| word.strip_prefix(p))?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `x5`, `5x`: so many copies.
fn copies_word(word: &str) -> Option<u64> {
    let digits = word.strip_prefix('x').or_else(|| word.strip_suffix('x'))?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// "a dozen" (12), "half a dozen" (6); "two dozen" is [`spelled`].
fn dozen(words: &[Word], start: usize) -> Option<(u64, usize)> {
    let at = |k: usize| words.get(start + k).map(|w| w.text.as_str());
    match (at(0), at(1), at(2)) {
        (Some("half"), Some("a"), Some("dozen")) => Some((6, 3)),
        (Some("a"), Some("dozen"), _) => Some((12, 2)),
        _ => None,
    }
}

/// A one-word number ("three", "twenty"); also what the LLM planner's grounding reads.
pub(crate) fn small_or_tens(word: &str) -> Option<u64> {
    if let Some(i) = SMALL.iter().position(|w| *w == word) {
        return Some(i as u64);
    }
    TENS.iter()
        .position(|w| *w == word)
        .map(|i| (i as u64 + 2) * 10)
}

/// "fifty", "twenty five", "twenty-five", "one hundred", "two hundred and fifty".
/// Saturating: "hundred hundred ..." is a huge number (refused by the argument's range
/// check with a clear message), never an overflow.
fn spelled(words: &[Word], start: usize) -> Option<(u64, usize)> {
    let (mut total, mut current, mut len) = (0u64, 0u64, 0usize);
    for (i, w) in words.iter().enumerate().skip(start) {
        let parts: Option<Vec<u64>> = w.text.split('-').map(small_or_tens).collect();
        let next_is_number = words
            .get(i + 1)
            .is_some_and(|n| small_or_tens(&n.text).is_some());
        match (w.text.as_str(), parts) {
            (_, Some(parts)) => current = current.saturating_add(parts.iter().sum::<u64>()),
            ("hundred", None) => current = current.max(1).saturating_mul(100),
            ("dozen", None) => current = current.max(1).saturating_mul(12),
            ("thousand", None) if len > 0 => {
                total = total.saturating_add(current.saturating_mul(1000));
                current = 0;
            }
            ("and", None) if len > 0 && next_is_number => {}
            _ => break,
        }
        len += 1;
    }
    (len > 0).then_some((total.saturating_add(current), len))
}

fn word_at(words: &[Word], i: Option<usize>) -> Option<&str> {
    i.and_then(|i| words.get(i)).map(|w| w.text.as_str())
}

/// The cue words around `n` say it is `arg`.
fn fits(arg: &str, words: &[Word], n: &Number) -> bool {
    if n.revision {
        return arg == "revision";
    }
    if n.copies {
        return arg == "replicas";
    }
    let c = cues(arg);
    let before = word_at(words, n.start.checked_sub(1));
    let after = word_at(words, Some(n.end));
    before.is_some_and(|w| c.before.contains(&w)) || after.is_some_and(|w| c.after.contains(&w))
}

fn is_quantity_of_something_else(words: &[Word], n: &Number) -> bool {
    word_at(words, Some(n.end)).is_some_and(|w| UNITS.contains(&w))
}

/// Words that change a count by a factor ("double it", "halve the pods").
const FACTORS: &[&str] = &[
    "double",
    "doubled",
    "doubling",
    "triple",
    "tripled",
    "quadruple",
    "halve",
    "halved",
    "twice",
    "thrice",
];
/// Words before an amount that make it a change ("by 2", "add 3", "another 2").
const CHANGE_BEFORE: &[&str] = &[
    "by", "add", "adding", "another", "plus", "minus", "remove", "removing",
];
/// Words after an amount that make it a change ("2 more", "3 fewer pods").
const CHANGE_AFTER: &[&str] = &["more", "fewer", "less", "extra", "additional"];

/// The message changes a count by an amount or a factor instead of naming it:
/// "double it", "scale up by 2", "3 more pods", "half the replicas" (but "half a dozen"
/// is 6).
fn is_relative(words: &[Word], numbers: &[&Number]) -> bool {
    let in_number = |i: usize| numbers.iter().any(|n| n.start <= i && i < n.end);
    let factor = words
        .iter()
        .enumerate()
        .any(|(i, w)| !in_number(i) && (FACTORS.contains(&w.text.as_str()) || w.text == "half"));
    factor
        || numbers.iter().any(|n| {
            let before = word_at(words, n.start.checked_sub(1));
            let after = word_at(words, Some(n.end));
            before.is_some_and(|w| CHANGE_BEFORE.contains(&w))
                || after.is_some_and(|w| CHANGE_AFTER.contains(&w))
        })
}

/// The value for numeric argument `arg`: a number with `arg`'s cue words, or else,
/// when `arg` is the tool's only numeric argument, the only bare number in digits.
pub(crate) fn pick(
    arg: &str,
    words: &[Word],
    numbers: &[Number],
    only_numeric_arg: bool,
) -> Option<u64> {
    let usable: Vec<&Number> = numbers
        .iter()
        .filter(|n| !is_quantity_of_something_else(words, n))
        .collect();
    if arg == "replicas" && is_relative(words, &usable) {
        return None;
    }
    if let Some(n) = usable.iter().find(|n| fits(arg, words, n)) {
        return Some(n.value);
    }
    let bare: Vec<&&Number> = usable
        .iter()
        .filter(|n| n.digits && !n.revision && !n.copies)
        .collect();
    match bare.as_slice() {
        [only] if only_numeric_arg => Some(only.value),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::engine::alias::text::Message;

    fn number_words() -> impl Strategy<Value = String> {
        let word = prop_oneof![
            4 => prop::sample::select(
                [SMALL, TENS, &["hundred", "thousand", "and", "rev", "v", "-"]].concat(),
            )
            .prop_map(str::to_owned),
            1 => (1usize..20).prop_map(|n| vec!["hundred"; n].join(" ")),
            1 => (1usize..12).prop_map(|n| vec!["ninety nine thousand"; n].join(" ")),
            1 => "[0-9]{1,30}",
            1 => "(rev|v|r)[0-9]{1,25}",
            1 => "[a-z]{1,6}-[a-z]{1,6}",
            1 => "\\PC{0,6}",
        ];
        prop::collection::vec(word, 0..40).prop_map(|w| w.join(" "))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

        /// Runs of number words ("hundred hundred ..."), digits beyond u64 and odd words:
        /// never an overflow panic; every number lies within the message, in order.
        #[test]
        fn numbers_in_any_text_are_found_without_overflow(text in number_words()) {
            let m = Message::new(&text);
            let found = find(&m.words);
            let mut last_end = 0;
            for n in &found {
                prop_assert!(n.start >= last_end && n.start < n.end && n.end <= m.words.len());
                last_end = n.end;
            }
            for arg in ["replicas", "lines", "revision", "memory"] {
                let _ = pick(arg, &m.words, &found, true);
            }
        }
    }

    fn pick_in(text: &str, arg: &str) -> Option<u64> {
        let m = Message::new(text);
        pick(arg, &m.words, &find(&m.words), true)
    }

    #[test]
    fn digits_and_words_are_numbers() {
        assert_eq!(pick_in("scale cart to three replicas", "replicas"), Some(3));
        assert_eq!(pick_in("last fifty lines", "lines"), Some(50));
        assert_eq!(pick_in("last twenty five lines", "lines"), Some(25));
        assert_eq!(pick_in("last twenty-five lines", "lines"), Some(25));
        assert_eq!(
            pick_in("last two hundred and fifty lines", "lines"),
            Some(250)
        );
        assert_eq!(pick_in("the last hundred lines", "lines"), Some(100));
        assert_eq!(pick_in("rollback to revision seven", "revision"), Some(7));
        assert_eq!(pick_in("rollback ledger to rev7", "revision"), Some(7));
        assert_eq!(
            pick_in("scale mobile-bff prod replicas=12", "replicas"),
            Some(12)
        );
    }

    #[test]
    fn cue_words_choose_between_numbers() {
        assert_eq!(pick_in("scale cart from 3 to 5", "replicas"), Some(5));
        assert_eq!(pick_in("pod logs ledger stg 500 lines", "lines"), Some(500));
        assert_eq!(
            pick_in("logs for cart from the last 10 minutes", "lines"),
            None
        );
        assert_eq!(pick_in("rollback ledger prd 7", "revision"), Some(7));
    }

    #[test]
    fn copies_and_dozens_are_replica_counts() {
        assert_eq!(pick_in("scale cart prod x5", "replicas"), Some(5));
        assert_eq!(pick_in("cart in staging 5x please", "replicas"), Some(5));
        assert_eq!(pick_in("scale cart prod =5", "replicas"), Some(5));
        assert_eq!(pick_in("scale cart to 5 in prod", "replicas"), Some(5));
        assert_eq!(pick_in("scale cart to five", "replicas"), Some(5));
        assert_eq!(pick_in("scale cart to a dozen", "replicas"), Some(12));
        assert_eq!(pick_in("run a dozen pods of cart", "replicas"), Some(12));
        assert_eq!(pick_in("give cart half a dozen pods", "replicas"), Some(6));
        assert_eq!(
            pick_in("scale cart to two dozen replicas", "replicas"),
            Some(24)
        );
        // `x5` says copies: it never fills another count.
        assert_eq!(pick_in("cart logs x5", "lines"), None);
        // A spelled number still needs a cue.
        assert_eq!(pick_in("scale cart five", "replicas"), None);
    }

    #[test]
    fn changes_by_an_amount_are_never_read_as_the_count() {
        for text in [
            "double it",
            "double cart in prod",
            "halve the replicas of cart",
            "cut cart's pods in half",
            "scale cart up by 2",
            "scale cart up by 2x",
            "add 3 replicas to cart",
            "cart needs 2 more pods",
            "give cart another 2 pods",
            "scale cart +2",
            "scale cart to -3",
        ] {
            assert_eq!(pick_in(text, "replicas"), None, "{text}");
        }
        // The same words elsewhere in the message do not hide an absolute count.
        assert_eq!(pick_in("scale cart to half a dozen", "replicas"), Some(6));
    }

    #[test]
    fn words_without_cues_and_http_codes_are_not_counts() {
        assert_eq!(pick_in("which one wins", "replicas"), None);
        assert_eq!(pick_in("user-profile 500ing", "lines"), None);
        assert_eq!(pick_in("book a room for 3pm", "replicas"), None);
    }
}
