//! The service catalog: Backstage `Group`, `Component` and `User` entities, loaded
//! from YAML, indexed for lookups, and able to resolve what people type in chat
//! ("the mobile bff", "checkout-apy") to catalog names.
//!
//! Names are parsed into the domain newtypes once, here; a malformed entity is an
//! error naming the file, the document and the field, never a silent skip.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::domain::{Environment, NameError, NamespaceName, ServiceName, TeamName, UserId};

mod backstage;
mod parse;
mod resolve;
#[cfg(test)]
mod tests;

pub use backstage::fetch_backstage;
pub use resolve::{slug, typo_budget};

use parse::{Entity, parse_document};
use resolve::{Named, Query, alias_index, resolve_among, sorted_candidates};

/// Annotation naming the Kubernetes Deployment of a Component.
pub const KUBERNETES_ID_ANNOTATION: &str = "backstage.io/kubernetes-id";
/// Annotation giving the namespace pattern of a Component.
pub const NAMESPACE_PATTERN_ANNOTATION: &str = "platform.example.com/namespace-pattern";
/// The golden-path namespace of a service: its owning team's namespace in that environment.
pub const DEFAULT_NAMESPACE_PATTERN: &str = "{team}-{env}";

/// The sandbox catalog shipped with the bot (a copy of the eval catalog).
const SANDBOX_FILES: [(&str, &str); 2] = [
    (
        "sandbox/catalog/groups.yaml",
        include_str!("../../sandbox/catalog/groups.yaml"),
    ),
    (
        "sandbox/catalog/components.yaml",
        include_str!("../../sandbox/catalog/components.yaml"),
    ),
];

// ---------------------------------------------------------------------------
// Public model
// ---------------------------------------------------------------------------

/// A team: a Backstage `Group`.
#[derive(Debug, Clone, PartialEq)]
pub struct Team {
    pub name: TeamName,
    pub title: String,
    pub description: String,
    pub email: Option<String>,
    pub members: Vec<UserId>,
    /// Child groups (`spec.children`).
    pub children: Vec<TeamName>,
}

/// A service: a Backstage `Component`, one per Kubernetes Deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: ServiceName,
    pub title: String,
    pub description: String,
    pub owner: TeamName,
    /// The Deployment name (`backstage.io/kubernetes-id`, the component name by default).
    pub kubernetes_id: String,
    /// Namespace pattern with `{team}`, `{env}` and `{service}` placeholders.
    pub namespace_pattern: String,
    pub annotations: BTreeMap<String, String>,
    pub tags: Vec<String>,
}

/// A person: a Backstage `User`.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub name: UserId,
    pub display_name: Option<String>,
    pub email: Option<String>,
    /// Groups the entity itself claims (`spec.memberOf`).
    pub member_of: Vec<TeamName>,
    /// `metadata.annotations` (e.g. a chat surface's account id for this person).
    pub annotations: BTreeMap<String, String>,
}

/// What a piece of text names.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved<T> {
    /// A name, kubernetes id or title, spelled exactly (modulo case, spaces and filler words).
    Exact(T),
    /// A typo or a partial phrase with one plausible match: fine to read, never to change.
    Fuzzy(T),
    /// Several equally plausible matches, sorted by name.
    Ambiguous(Vec<T>),
    NotFound,
}

impl<T> Resolved<T> {
    /// The single match, exact or fuzzy.
    pub fn single(self) -> Option<T> {
        match self {
            Resolved::Exact(t) | Resolved::Fuzzy(t) => Some(t),
            Resolved::Ambiguous(_) | Resolved::NotFound => None,
        }
    }

    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> Resolved<U> {
        match self {
            Resolved::Exact(t) => Resolved::Exact(f(t)),
            Resolved::Fuzzy(t) => Resolved::Fuzzy(f(t)),
            Resolved::Ambiguous(v) => Resolved::Ambiguous(v.into_iter().map(f).collect()),
            Resolved::NotFound => Resolved::NotFound,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read catalog path {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}, document {document}: invalid YAML: {source}")]
    Syntax {
        origin: String,
        /// 1-based index of the YAML document in the file.
        document: usize,
        #[source]
        source: serde_norway::Error,
    },
    #[error(transparent)]
    Entity(Box<EntityError>),
    #[error("cannot read the catalog from Backstage: {0}")]
    Backstage(String),
}

/// A malformed entity: where it is and which field is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{origin}, document {document}: {kind} `{name}`: field `{field}`: {reason}")]
pub struct EntityError {
    pub origin: String,
    /// 1-based index of the YAML document in the file.
    pub document: usize,
    pub kind: String,
    /// `metadata.name` as written, or `?` when it is missing.
    pub name: String,
    pub field: String,
    pub reason: String,
}

// ---------------------------------------------------------------------------
// Catalog
// ---------------------------------------------------------------------------

/// Entities in load order with a lowercase-name index; a later entity of the same
/// name replaces the earlier one in place.
#[derive(Debug, Clone)]
struct Registry<T> {
    items: Vec<T>,
    by_name: HashMap<String, usize>,
}

impl<T> Default for Registry<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            by_name: HashMap::new(),
        }
    }
}

impl<T: Named> Registry<T> {
    fn upsert(&mut self, item: T) {
        let key = item.key().to_ascii_lowercase();
        match self.by_name.get(&key) {
            Some(&i) => self.items[i] = item,
            None => {
                self.by_name.insert(key, self.items.len());
                self.items.push(item);
            }
        }
    }

    fn get(&self, key: &str) -> Option<&T> {
        self.by_name
            .get(&key.trim().to_ascii_lowercase())
            .and_then(|&i| self.items.get(i))
    }
}

/// The service catalog. Cheap to clone relative to its use (it is loaded once and
/// shared behind an `Arc`); every lookup by name is a hash lookup.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    teams: Registry<Team>,
    services: Registry<Service>,
    users: Registry<User>,
    /// Slug alias (`payments-api`, `mobile-bff`) -> indices into `services`.
    service_aliases: HashMap<String, Vec<usize>>,
    team_aliases: HashMap<String, Vec<usize>>,
}

impl Catalog {
    /// Parses a multi-document YAML stream. Kinds other than Group, Component and User
    /// are skipped; a malformed entity is an error naming `origin` and the document.
    pub fn from_yaml_str(src: &str, origin: &str) -> Result<Catalog, CatalogError> {
        let mut catalog = Catalog::default();
        for (i, de) in serde_norway::Deserializer::from_str(src).enumerate() {
            let document = i + 1;
            let value =
                serde_norway::Value::deserialize(de).map_err(|source| CatalogError::Syntax {
                    origin: origin.to_owned(),
                    document,
                    source,
                })?;
            match parse_document(value, origin, document)? {
                Some(Entity::Team(t)) => catalog.teams.upsert(t),
                Some(Entity::Service(s)) => catalog.services.upsert(s),
                Some(Entity::User(u)) => catalog.users.upsert(u),
                None => {}
            }
        }
        catalog.reindex();
        Ok(catalog)
    }

    /// Entities as a Backstage backend serves them (JSON); `origin` names the source in errors.
    pub fn from_json_entities(
        entities: Vec<serde_json::Value>,
        origin: &str,
    ) -> Result<Catalog, CatalogError> {
        let mut catalog = Catalog::default();
        for (i, entity) in entities.into_iter().enumerate() {
            let document = i + 1;
            let value = serde_norway::to_value(entity).map_err(|source| CatalogError::Syntax {
                origin: origin.to_owned(),
                document,
                source,
            })?;
            match parse_document(value, origin, document)? {
                Some(Entity::Team(t)) => catalog.teams.upsert(t),
                Some(Entity::Service(s)) => catalog.services.upsert(s),
                Some(Entity::User(u)) => catalog.users.upsert(u),
                None => {}
            }
        }
        catalog.reindex();
        Ok(catalog)
    }

    /// Loads files and folders (`*.yaml`, `*.yml`, recursively, in name order); later
    /// entities replace earlier ones of the same kind and name.
    pub fn load(paths: &[PathBuf]) -> Result<Catalog, CatalogError> {
        let mut files = Vec::new();
        for path in paths {
            collect_yaml_files(path, &mut files)?;
        }
        let mut catalog = Catalog::default();
        for file in files {
            let src = std::fs::read_to_string(&file).map_err(|source| CatalogError::Io {
                path: file.clone(),
                source,
            })?;
            catalog.merge(Catalog::from_yaml_str(&src, &file.display().to_string())?);
        }
        Ok(catalog)
    }

    /// The sample catalog compiled into the binary (`sandbox/catalog/`).
    pub fn sandbox() -> Catalog {
        let mut catalog = Catalog::default();
        for (origin, src) in SANDBOX_FILES {
            match Catalog::from_yaml_str(src, origin) {
                Ok(part) => catalog.merge(part),
                // Unreachable in a tested build: the files are compiled in and unit-tested.
                Err(e) => tracing::error!(error = %e, "sandbox catalog does not parse"),
            }
        }
        catalog
    }

    /// Adds `other`'s entities; on a name clash `other` wins.
    pub fn merge(&mut self, other: Catalog) {
        other
            .teams
            .items
            .into_iter()
            .for_each(|t| self.teams.upsert(t));
        other
            .services
            .items
            .into_iter()
            .for_each(|s| self.services.upsert(s));
        other
            .users
            .items
            .into_iter()
            .for_each(|u| self.users.upsert(u));
        self.reindex();
    }

    fn reindex(&mut self) {
        self.service_aliases = alias_index(self.services.items.iter().map(Service::aliases));
        self.team_aliases = alias_index(self.teams.items.iter().map(Team::aliases));
    }

    pub fn teams(&self) -> impl Iterator<Item = &Team> {
        self.teams.items.iter()
    }
    pub fn services(&self) -> impl Iterator<Item = &Service> {
        self.services.items.iter()
    }
    pub fn users(&self) -> impl Iterator<Item = &User> {
        self.users.items.iter()
    }

    /// Lookup by exact name (case-insensitive).
    pub fn team(&self, name: &str) -> Option<&Team> {
        self.teams.get(name)
    }
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.get(name)
    }
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    /// The services a team owns, in catalog order.
    pub fn services_of(&self, team: &TeamName) -> Vec<&Service> {
        self.services().filter(|s| &s.owner == team).collect()
    }

    /// The groups a user belongs to, from both `Group.spec.members` and `User.spec.memberOf`.
    pub fn teams_of(&self, user: &UserId) -> Vec<TeamName> {
        let mut teams: BTreeSet<TeamName> = self
            .teams()
            .filter(|t| t.members.contains(user))
            .map(|t| t.name.clone())
            .collect();
        if let Some(u) = self.user(user.as_str()) {
            teams.extend(u.member_of.iter().cloned());
        }
        teams.into_iter().collect()
    }

    /// What service `text` names: exact names, kubernetes ids and titles in any case
    /// and spacing ("Payments API", "the mobile bff"), then typos ("checkout-apy"),
    /// then partial names ("payments" -> payments-api), then a team's services.
    pub fn resolve_service(&self, text: &str) -> Resolved<&Service> {
        let query = Query::new(text);
        let items = &self.services.items;
        let found = resolve_among(&query, items, &self.service_aliases, Service::aliases);
        if !matches!(found, Resolved::NotFound) {
            return found;
        }
        // A team named where a service is needed: its services are the candidates.
        match self.resolve_team(text) {
            Resolved::Exact(team) => sorted_candidates(self.services_of(&team.name)),
            _ => Resolved::NotFound,
        }
    }

    /// What team `text` names: "data platform", "the data-platform folks", "Mobile Backend".
    pub fn resolve_team(&self, text: &str) -> Resolved<&Team> {
        let query = Query::new(text);
        resolve_among(&query, &self.teams.items, &self.team_aliases, Team::aliases)
    }

    /// The namespace `service` runs in for `env`, from its namespace pattern.
    pub fn namespace_of(
        &self,
        service: &Service,
        env: &Environment,
    ) -> Result<NamespaceName, NameError> {
        let name = service
            .namespace_pattern
            .replace("{team}", service.owner.as_str())
            .replace("{env}", env.as_str())
            .replace("{service}", service.name.as_str());
        NamespaceName::parse(&name)
    }
}

fn collect_yaml_files(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), CatalogError> {
    let io = |source| CatalogError::Io {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_file() {
        out.push(path.to_owned());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect_yaml_files(&entry, out)?;
        } else if entry
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
        {
            out.push(entry);
        }
    }
    Ok(())
}
