//! From a chat message to words. Bot mentions, emoji and punctuation go; what is left
//! is lowercase words that patterns and catalog names are matched against, written
//! the way the pattern files are written (`what's` -> `whats`, `on-call` stays one word).

/// The bot's own name: `@platbot` and a bare "platbot" say nothing about the request.
const BOT_NAME: &str = "platbot";

/// First words that make a message a question.
const QUESTION_WORDS: &[&str] = &[
    "how", "hows", "where", "wheres", "what", "whats", "which", "why", "when", "who", "whos", "is",
    "are", "can", "could", "do", "does", "should", "any", "anyone",
];

/// One word of a message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Word {
    /// Lowercase, possibly spell-corrected.
    pub text: String,
    /// As the user wrote it (lowercase).
    pub raw: String,
    /// `text` is a spelling correction of `raw`.
    pub corrected: bool,
    /// Written in digits ("50", not "fifty" or "502s").
    pub digits: bool,
}

/// A message ready for matching.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    /// The user's text without mentions and emoji, for docs queries and replies.
    pub cleaned: String,
    pub words: Vec<Word>,
    pub question: bool,
}

impl Message {
    pub fn new(text: &str) -> Self {
        let cleaned = clean(text);
        let words: Vec<Word> = tokenize(&cleaned).into_iter().map(Word::new).collect();
        let question = cleaned.contains('?')
            || words
                .first()
                .is_some_and(|w| QUESTION_WORDS.contains(&w.text.as_str()));
        Self {
            cleaned,
            words,
            question,
        }
    }

    pub fn texts(&self) -> impl Iterator<Item = &str> {
        self.words.iter().map(|w| w.text.as_str())
    }

    pub fn has_word(&self, any_of: &[&str]) -> bool {
        self.texts().any(|w| any_of.contains(&w))
    }
}

impl Word {
    fn new(raw: String) -> Self {
        let digits = raw.bytes().all(|b| b.is_ascii_digit());
        // "502s", "500ing": an HTTP status used as a noun or verb, not a count.
        let text = strip_number_suffix(&raw).unwrap_or(&raw).to_owned();
        Self {
            text,
            raw,
            corrected: false,
            digits,
        }
    }
}

fn strip_number_suffix(word: &str) -> Option<&str> {
    let digits_end = word.find(|c: char| !c.is_ascii_digit())?;
    let (num, suffix) = word.split_at(digits_end);
    (!num.is_empty() && ["s", "es", "ing", "ed"].contains(&suffix)).then_some(num)
}

/// The text without bot mentions, Slack control sequences and emoji, spaces collapsed.
pub(crate) fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if let Some(skip) = mention_len(rest) {
            rest = &rest[skip..];
            out.push(' ');
            continue;
        }
        match c {
            '\u{2018}' | '\u{2019}' => out.push('\''),
            '\u{201C}' | '\u{201D}' => out.push('"'),
            '\u{2013}' | '\u{2014}' => out.push('-'),
            c if c.is_alphanumeric() || c.is_whitespace() || c.is_ascii_punctuation() => {
                out.push(c)
            }
            _ => out.push(' '), // emoji and other symbols
        }
        rest = &rest[c.len_utf8()..];
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Length of a mention at the start of `s`: `<@U123>`, `<!here>`, `@platbot`.
fn mention_len(s: &str) -> Option<usize> {
    if s.starts_with("<@") || s.starts_with("<!") {
        return s.find('>').map(|end| end + 1);
    }
    let name = s.strip_prefix('@')?;
    let len = name
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(name.len());
    name[..len]
        .eq_ignore_ascii_case(BOT_NAME)
        .then_some(len + 1)
}

/// Lowercase words: letters, digits and inner hyphens; apostrophes inside words vanish.
pub(crate) fn tokenize(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    let chars: Vec<char> = lower.chars().collect();
    let mut words = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let inner_apostrophe = c == '\''
            && i > 0
            && chars[i - 1].is_alphanumeric()
            && chars.get(i + 1).is_some_and(|n| n.is_alphanumeric());
        // "+2" stays one word: a change by two, never the count 2.
        let plus =
            c == '+' && current.is_empty() && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        if c.is_alphanumeric() || c == '-' || plus {
            current.push(c);
        } else if !inner_apostrophe {
            push_word(&mut words, &mut current);
        }
    }
    push_word(&mut words, &mut current);
    words
}

fn push_word(words: &mut Vec<String>, current: &mut String) {
    // "-3" stays negative, so it is never read as the count 3.
    let negative = current.len() > 1
        && current.starts_with('-')
        && current[1..].bytes().all(|b| b.is_ascii_digit());
    let word = if negative {
        current.as_str()
    } else {
        current.trim_matches('-')
    };
    if !word.is_empty() && word != BOT_NAME {
        words.push(word.to_owned());
    }
    current.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_drops_mentions_and_emoji_but_keeps_punctuation() {
        assert_eq!(
            clean("@platbot how do I add a secret? 🤔"),
            "how do I add a secret?"
        );
        assert_eq!(clean("<@U05K1DEGZD8> restart cart 🙏"), "restart cart");
        assert_eq!(
            clean("new namespace pls — team: search"),
            "new namespace pls - team: search"
        );
        assert_eq!(clean("ping @priya about it"), "ping @priya about it");
    }

    #[test]
    fn tokenize_keeps_hyphenated_names_and_joins_contractions() {
        assert_eq!(
            tokenize("What's wrong with payments-api?? it's on-call's fault, replicas=12"),
            [
                "whats",
                "wrong",
                "with",
                "payments-api",
                "its",
                "on-calls",
                "fault",
                "replicas",
                "12"
            ]
        );
        assert_eq!(tokenize("thanks platbot -- bye -"), ["thanks", "bye"]);
    }

    #[test]
    fn http_statuses_with_suffixes_are_not_counts() {
        let m = Message::new("user-profile 500ing, 502s everywhere, last 50 lines");
        let w: Vec<(&str, bool)> = m
            .words
            .iter()
            .map(|w| (w.text.as_str(), w.digits))
            .collect();
        assert!(w.contains(&("500", false)));
        assert!(w.contains(&("502", false)));
        assert!(w.contains(&("50", true)));
    }

    #[test]
    fn questions_are_recognised() {
        assert!(Message::new("how do namespaces get created").question);
        assert!(Message::new("cart in prod?").question);
        assert!(!Message::new("restart cart in prod").question);
    }
}
