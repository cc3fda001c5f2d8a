//! What people type in chat ("the mobile bff", "checkout-apy") resolved to catalog
//! names: aliases, filler words, typo budgets.

use super::*;

/// Words people put around a name that are not part of it ("the payments team").
pub(super) const FILLER_WORDS: &[&str] = &[
    "the",
    "a",
    "an",
    "our",
    "my",
    "their",
    "your",
    "this",
    "that",
    "service",
    "services",
    "svc",
    "app",
    "application",
    "microservice",
    "component",
    "deployment",
    "deploy",
    "pod",
    "pods",
    "team",
    "teams",
    "folks",
    "people",
    "squad",
    "group",
    "crew",
    "guys",
    "gang",
];

/// Lowercase words of `text`; `-`, `_`, spaces and punctuation all separate words.
pub(super) fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .replace(['\'', '\u{2019}'], "'")
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.strip_suffix("'s").unwrap_or(w).replace('\'', ""))
        .filter(|w| !w.is_empty())
        .collect()
}

/// `Payments API` -> `payments-api`: the form every alias is compared in.
pub fn slug(text: &str) -> String {
    words(text).join("-")
}

impl Service {
    /// Slugs this service is known by: name, kubernetes id, title.
    pub fn aliases(&self) -> Vec<String> {
        dedup(vec![
            slug(self.name.as_str()),
            slug(&self.kubernetes_id),
            slug(&self.title),
        ])
    }
}

impl Team {
    /// Slugs this team is known by: name and title.
    pub fn aliases(&self) -> Vec<String> {
        dedup(vec![slug(self.name.as_str()), slug(&self.title)])
    }
}

pub(super) fn dedup(mut v: Vec<String>) -> Vec<String> {
    v.retain(|s| !s.is_empty());
    let mut seen = BTreeSet::new();
    v.retain(|s| seen.insert(s.clone()));
    v
}

pub(super) fn alias_index(
    aliases: impl Iterator<Item = Vec<String>>,
) -> HashMap<String, Vec<usize>> {
    let mut index: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, list) in aliases.enumerate() {
        for alias in list {
            let entry = index.entry(alias).or_default();
            if !entry.contains(&i) {
                entry.push(i);
            }
        }
    }
    index
}

/// The text to resolve, as slugs: as written, and without filler words.
pub(super) struct Query {
    full: String,
    core: String,
}

impl Query {
    pub(super) fn new(text: &str) -> Self {
        let all = words(text);
        let core: Vec<&str> = all
            .iter()
            .map(String::as_str)
            .filter(|w| !FILLER_WORDS.contains(w))
            .collect();
        Self {
            full: all.join("-"),
            core: core.join("-"),
        }
    }
}

/// How many edits a typo of a word this long may have.
pub fn typo_budget(len: usize) -> usize {
    match len {
        0..=3 => 0,
        4..=8 => 1,
        _ => 2,
    }
}

pub(super) trait Named {
    fn key(&self) -> &str;
}
impl Named for Service {
    fn key(&self) -> &str {
        self.name.as_str()
    }
}
impl Named for Team {
    fn key(&self) -> &str {
        self.name.as_str()
    }
}
impl Named for User {
    fn key(&self) -> &str {
        self.name.as_str()
    }
}

pub(super) fn sorted_candidates<T: Named>(mut found: Vec<&T>) -> Resolved<&T> {
    found.sort_by(|a, b| a.key().cmp(b.key()));
    found.dedup_by(|a, b| a.key() == b.key());
    match found.len() {
        0 => Resolved::NotFound,
        1 => Resolved::Fuzzy(found[0]),
        _ => Resolved::Ambiguous(found),
    }
}

pub(super) fn resolve_among<'a, T: Named>(
    query: &Query,
    items: &'a [T],
    index: &HashMap<String, Vec<usize>>,
    aliases: impl Fn(&T) -> Vec<String>,
) -> Resolved<&'a T> {
    if query.core.is_empty() {
        return Resolved::NotFound;
    }
    // 1. Exact, as written or without filler words.
    for key in [&query.full, &query.core] {
        if let Some(hits) = index.get(key.as_str()) {
            let found: Vec<&T> = hits.iter().filter_map(|&i| items.get(i)).collect();
            return match sorted_candidates(found) {
                Resolved::Fuzzy(t) => Resolved::Exact(t),
                other => other,
            };
        }
    }
    // 2. Typos: the closest aliases within the edit budget.
    let budget = typo_budget(query.core.chars().count());
    let mut best = (usize::MAX, Vec::new());
    for item in items {
        let d = aliases(item)
            .iter()
            .map(|a| strsim::osa_distance(&query.core, a))
            .min()
            .unwrap_or(usize::MAX);
        if d <= budget && d < best.0 {
            best = (d, vec![item]);
        } else if d <= budget && d == best.0 {
            best.1.push(item);
        }
    }
    if !best.1.is_empty() {
        return sorted_candidates(best.1);
    }
    // 3. Partial: every word of the query is a word of the alias ("payments" -> payments-api).
    let parts: Vec<&str> = query.core.split('-').collect();
    if query.core.len() < 3 {
        return Resolved::NotFound;
    }
    let partial = items
        .iter()
        .filter(|item| {
            aliases(item).iter().any(|a| {
                let alias_parts: Vec<&str> = a.split('-').collect();
                parts.iter().all(|p| alias_parts.contains(p))
            })
        })
        .collect();
    sorted_candidates(partial)
}
