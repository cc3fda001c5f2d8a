//! Where a message names catalog entities and environments: "the mobile bff",
//! "payments api", "search team", "prd", and the `<team>-<env>` shorthand.

use std::collections::HashMap;

use crate::domain::canonical_environment;
use crate::platform::catalog::Catalog;

use super::text::Word;

/// Words right after a name that make it a team ("the search team", "data platform folks").
const TEAM_CUES_AFTER: &[&str] = &[
    "team", "teams", "folks", "squad", "people", "group", "crew", "guys", "org",
];
/// Words right before a name that make it a team ("team: search", "for team identity").
const TEAM_CUES_BEFORE: &[&str] = &["team"];
/// Words right after a name that make it a service ("grab search logs").
const SERVICE_CUES_AFTER: &[&str] = &[
    "service",
    "svc",
    "app",
    "deployment",
    "deploy",
    "pods",
    "pod",
    "logs",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Team,
    Service,
}

/// A catalog name found in a message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mention {
    /// Word span `[start, end)`.
    pub start: usize,
    pub end: usize,
    /// The catalog alias matched, as a slug (`payments-api`).
    pub key: String,
    /// What the user wrote, as a slug (differs from `key` when spell-corrected).
    pub raw: String,
    pub service: bool,
    pub team: bool,
    /// What the words around the name say it is ("search team", "cart logs").
    pub hint: Option<Kind>,
    pub corrected: bool,
}

impl Mention {
    pub fn can_be(&self, kind: Kind) -> bool {
        let listed = match kind {
            Kind::Team => self.team,
            Kind::Service => self.service,
        };
        // The hint only chooses between kinds the catalog allows.
        let both = self.team && self.service;
        listed && (!both || self.hint.is_none_or(|h| h == kind))
    }
}

#[derive(Debug, Clone, Default)]
struct Target {
    key: String,
    service: bool,
    team: bool,
}

/// Every way the catalog's entities can be written, as word sequences.
pub(crate) struct EntityIndex {
    /// First word -> (phrase words, target), longest phrase first.
    phrases: HashMap<String, Vec<(Vec<String>, Target)>>,
    /// Single-word aliases (`payments-api`, `search`) for the `<name>-<env>` shorthand.
    single: HashMap<String, Target>,
}

impl EntityIndex {
    pub fn new(catalog: &Catalog) -> Self {
        let mut by_words: HashMap<Vec<String>, Target> = HashMap::new();
        let mut add = |alias: &str, kind: Kind| {
            for words in written_forms(alias) {
                let t = by_words.entry(words).or_insert_with(|| Target {
                    key: alias.to_owned(),
                    ..Target::default()
                });
                match kind {
                    Kind::Service => t.service = true,
                    Kind::Team => t.team = true,
                }
            }
        };
        for s in catalog.services() {
            s.aliases().iter().for_each(|a| add(a, Kind::Service));
        }
        for t in catalog.teams() {
            t.aliases().iter().for_each(|a| add(a, Kind::Team));
        }
        let mut phrases: HashMap<String, Vec<(Vec<String>, Target)>> = HashMap::new();
        let mut single = HashMap::new();
        for (words, target) in by_words {
            if let [only] = words.as_slice() {
                single.insert(only.clone(), target.clone());
            }
            if let Some(first) = words.first().cloned() {
                phrases.entry(first).or_default().push((words, target));
            }
        }
        for list in phrases.values_mut() {
            list.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        }
        Self { phrases, single }
    }

    /// Every word of every alias, for the speller.
    pub fn vocabulary(&self) -> impl Iterator<Item = String> + '_ {
        self.phrases
            .values()
            .flatten()
            .flat_map(|(words, _)| words.iter().cloned())
    }

    /// Entities and environments, left to right; the longest name wins at each word.
    pub fn scan(&self, words: &[Word]) -> (Vec<Mention>, Vec<&'static str>) {
        let mut mentions = Vec::new();
        let mut envs = Vec::new();
        let mut i = 0;
        while i < words.len() {
            let text = words[i].text.as_str();
            if let Some(env) = canonical_environment(text) {
                envs.push(env);
                i += 1;
            } else if let Some(m) = self.phrase_at(words, i) {
                i = m.end;
                mentions.push(m);
            } else {
                if let Some((m, env)) = self.shorthand(words, i) {
                    mentions.push(m);
                    envs.push(env);
                }
                i += 1;
            }
        }
        for m in &mut mentions {
            m.hint = kind_hint(words, m);
        }
        (mentions, envs)
    }

    fn phrase_at(&self, words: &[Word], i: usize) -> Option<Mention> {
        let candidates = self.phrases.get(&words[i].text)?;
        let (phrase, target) = candidates.iter().find(|(phrase, _)| {
            words.len() >= i + phrase.len()
                && phrase.iter().zip(&words[i..]).all(|(p, w)| *p == w.text)
        })?;
        let span = &words[i..i + phrase.len()];
        Some(Mention {
            start: i,
            end: i + phrase.len(),
            key: target.key.clone(),
            raw: span
                .iter()
                .map(|w| w.raw.as_str())
                .collect::<Vec<_>>()
                .join("-"),
            service: target.service,
            team: target.team,
            hint: None,
            corrected: span.iter().any(|w| w.corrected),
        })
    }

    /// `checkout-staging`, `mobile-backend-production`: a name and an environment in one word.
    fn shorthand(&self, words: &[Word], i: usize) -> Option<(Mention, &'static str)> {
        let text = &words[i].text;
        let (name, env) = text.rsplit_once('-')?;
        let env = canonical_environment(env)?;
        let target = self.single.get(name)?;
        let mention = Mention {
            start: i,
            end: i + 1,
            key: target.key.clone(),
            raw: name.to_owned(),
            service: target.service,
            team: target.team,
            hint: None,
            corrected: words[i].corrected,
        };
        Some((mention, env))
    }
}

/// How an alias can appear as words: `payments-api`, `payments api`, and the
/// possessive or plural of either (`cart's` tokenises to `carts`).
fn written_forms(alias: &str) -> Vec<Vec<String>> {
    let split: Vec<String> = alias.split('-').map(str::to_owned).collect();
    let mut forms = vec![vec![alias.to_owned()]];
    if split.len() > 1 {
        forms.push(split);
    }
    let with_s: Vec<Vec<String>> = forms
        .iter()
        .filter(|f| f.last().is_some_and(|w| !w.ends_with('s')))
        .map(|f| {
            let mut f = f.clone();
            if let Some(last) = f.last_mut() {
                last.push('s');
            }
            f
        })
        .collect();
    forms.extend(with_s);
    forms
}

fn kind_hint(words: &[Word], m: &Mention) -> Option<Kind> {
    let after = words.get(m.end).map(|w| w.text.as_str());
    let before = m
        .start
        .checked_sub(1)
        .and_then(|i| words.get(i))
        .map(|w| w.text.as_str());
    if after.is_some_and(|w| TEAM_CUES_AFTER.contains(&w))
        || before.is_some_and(|w| TEAM_CUES_BEFORE.contains(&w))
    {
        Some(Kind::Team)
    } else if after.is_some_and(|w| SERVICE_CUES_AFTER.contains(&w)) {
        Some(Kind::Service)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::alias::text::Message;

    fn scan(text: &str) -> (Vec<Mention>, Vec<&'static str>) {
        let index = EntityIndex::new(&Catalog::sandbox());
        index.scan(&Message::new(text).words)
    }

    fn keys(text: &str) -> Vec<String> {
        scan(text).0.into_iter().map(|m| m.key).collect()
    }

    #[test]
    fn multiword_names_and_titles_are_found_longest_first() {
        assert_eq!(keys("restart the mobile bff in staging"), ["mobile-bff"]);
        assert_eq!(keys("is payments api healthy"), ["payments-api"]);
        assert_eq!(
            keys("the data platform folks and payments"),
            ["data-platform", "payments"]
        );
        assert_eq!(keys("search-indexer lag"), ["search-indexer"]);
        assert_eq!(keys("cart's logs and the ledgers"), ["cart", "ledger"]);
    }

    #[test]
    fn environments_and_shorthand_are_found() {
        let (m, envs) = scan("create ns identity-staging, not prd");
        assert_eq!(m[0].key, "identity");
        assert_eq!(envs, ["staging", "prod"]);
        let (m, envs) = scan("provision mobile-backend-production");
        assert_eq!((m[0].key.as_str(), envs[0]), ("mobile-backend", "prod"));
    }

    #[test]
    fn a_name_that_is_both_takes_its_kind_from_the_words_around_it() {
        let (m, _) = scan("namespace for the search team");
        assert_eq!(m[0].hint, Some(Kind::Team));
        assert!(m[0].can_be(Kind::Team) && !m[0].can_be(Kind::Service));
        let (m, _) = scan("grab search logs");
        assert_eq!(m[0].hint, Some(Kind::Service));
        let (m, _) = scan("team: search, env: dev");
        assert_eq!(m[0].hint, Some(Kind::Team));
        let (m, _) = scan("who is on call for search");
        assert!(m[0].can_be(Kind::Team) && m[0].can_be(Kind::Service));
    }
}
