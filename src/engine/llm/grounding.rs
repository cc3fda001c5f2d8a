//! What the user named in the thread, against which every argument of a model's call
//! is checked: a name, environment, number or revision the user never gave is not taken.

use crate::domain::{Environment, canonical_environment};
use crate::platform::catalog::{Catalog, Resolved};

/// Words in a phrase the catalog is asked about ("the mobile bff", "payments api").
const MAX_NAME_WORDS: usize = 3;

/// What the user named in the thread: their words, and the arguments of the calls
/// already made from them. Only the user's own messages count, never bot replies or
/// tool results:
/// - services, teams and subjects: named in some way the catalog reads as that entity;
/// - environments: named, or in a hyphenated name ("payments-prod");
/// - numbers (replicas, lines, memory): written in digits or words;
/// - a rollback `revision`: only a number the user marked as one ("rev 7", "v7",
///   "revision seven") or wrote in a message the alias planner reads as a rollback to
///   it ("rollback ledger prd 7"). Any other number ("the one in prod", "last 50 lines")
///   does not count, nor does a revision list a read returned: the model may pick from
///   it only by the user saying which;
/// - a `container`: one the user named; any other is checked against the Deployment
///   before it is taken (`drive.rs`, `repair.rs`).
#[derive(Debug, Clone, Default)]
pub struct Grounding {
    environments: Vec<String>,
    /// The user's messages as lowercase words (hyphenated words also split).
    texts: Vec<Vec<String>>,
    /// Numbers the user wrote, in digits or words.
    numbers: Vec<u64>,
    /// Numbers the user wrote as revisions.
    revisions: Vec<u64>,
    /// Names taken from earlier calls in the thread.
    names: Vec<String>,
    /// The arguments (`service`, `team`, `subject`) the user named some entity for.
    named_args: Vec<String>,
}

impl Grounding {
    pub fn from_texts<'a>(texts: impl IntoIterator<Item = &'a str>) -> Self {
        let mut g = Self::default();
        for text in texts {
            // "payments-prod", "data-platform-stage": the parts name things too.
            let mut words: Vec<String> = Vec::new();
            for word in text
                .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
                .filter(|w| !w.is_empty())
            {
                let word = word.to_lowercase();
                if word.contains('-') {
                    let parts: Vec<String> = word
                        .split('-')
                        .filter(|p| !p.is_empty())
                        .map(str::to_owned)
                        .collect();
                    words.push(word);
                    words.extend(parts);
                } else {
                    words.push(word);
                }
            }
            for word in &words {
                g.add_environment(canonical_environment(word).unwrap_or(word));
                g.numbers.extend(number_in(word));
            }
            g.texts.push(words);
        }
        g
    }

    pub fn add_environment(&mut self, env: &str) {
        if let Ok(e) = Environment::parse(env)
            && !self.environments.iter().any(|x| x == e.as_str())
        {
            self.environments.push(e.as_str().to_owned());
        }
    }

    /// A service, team or subject from an earlier call in the thread.
    pub fn add_name(&mut self, name: &str) {
        self.names.push(name.to_lowercase());
    }

    /// The user named some entity that can be `arg` (`service`, `team`, `subject`).
    pub fn add_named_arg(&mut self, arg: &str) {
        self.named_args.push(arg.to_owned());
    }

    /// Whether the user named anything that can be `arg`, in their words or through the
    /// thread's earlier calls: without it, no model could know the value, and asking
    /// the user beats a second guess.
    pub fn named_any(&self, arg: &str) -> bool {
        !self.names.is_empty() || self.named_args.iter().any(|a| a == arg)
    }

    /// A number the user wrote as a revision (see the type's docs).
    pub fn add_revision(&mut self, n: u64) {
        self.revisions.push(n);
    }

    /// Whether the user gave `n` as the integer argument `key`.
    pub(super) fn has_integer(&self, key: &str, n: u64) -> bool {
        if key == "revision" {
            self.revisions.contains(&n)
        } else {
            self.numbers.contains(&n)
        }
    }

    /// Whether the user wrote `word` (a container name, say) in one of their messages.
    pub fn has_word(&self, word: &str) -> bool {
        let word = word.to_lowercase();
        self.texts.iter().any(|words| words.contains(&word))
    }

    pub(super) fn has(&self, env: &str) -> bool {
        Environment::parse(env).is_ok_and(|e| self.environments.iter().any(|x| x == e.as_str()))
    }

    /// Whether the user named `value` (as a `key`: service, team or subject) in some
    /// way the catalog reads as that entity: its name, title, a typo or a part of it.
    pub(super) fn names(&self, catalog: &Catalog, key: &str, value: &str) -> bool {
        let value = value.to_lowercase();
        if self.names.contains(&value) {
            return true;
        }
        let candidates = |phrase: &str| -> Vec<String> {
            let services =
                || resolved_names(catalog.resolve_service(phrase).map(|s| s.name.to_string()));
            let teams = || resolved_names(catalog.resolve_team(phrase).map(|t| t.name.to_string()));
            match key {
                "service" => services(),
                "team" => teams(),
                _ => services().into_iter().chain(teams()).collect(),
            }
        };
        self.texts.iter().any(|words| {
            // Fast path: the name as written.
            if words.contains(&value) {
                return true;
            }
            (1..=MAX_NAME_WORDS).any(|n| {
                words.windows(n).any(|phrase| {
                    candidates(&phrase.join(" "))
                        .iter()
                        .any(|c| c.eq_ignore_ascii_case(&value))
                })
            })
        })
    }
}

/// The number a word says: digits ("5", "5x", "500m" read as 5 and 500) or a number word.
fn number_in(word: &str) -> Option<u64> {
    if let Some(n) = crate::engine::alias::number_word(word) {
        return Some(n);
    }
    let digits: String = word.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn resolved_names(r: Resolved<String>) -> Vec<String> {
    match r {
        Resolved::Exact(n) | Resolved::Fuzzy(n) => vec![n],
        Resolved::Ambiguous(list) => list,
        Resolved::NotFound => Vec::new(),
    }
}
