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
pub use backstage::fetch_backstage;

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
        source: serde_yaml::Error,
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
// Raw Backstage entities (serde)
// ---------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMetadata {
    name: Option<String>,
    title: Option<String>,
    description: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProfile {
    display_name: Option<String>,
    email: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawGroupSpec {
    #[serde(default)]
    profile: RawProfile,
    #[serde(default)]
    members: Vec<String>,
    #[serde(default)]
    children: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawComponentSpec {
    owner: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawUserSpec {
    #[serde(default)]
    profile: RawProfile,
    #[serde(default)]
    member_of: Vec<String>,
}

/// Where an entity came from, to build errors that point at it.
struct EntitySite<'a> {
    origin: &'a str,
    document: usize,
    kind: &'a str,
    name: String,
}

impl EntitySite<'_> {
    fn error(&self, field: impl Into<String>, reason: impl Into<String>) -> CatalogError {
        CatalogError::Entity(Box::new(EntityError {
            origin: self.origin.to_owned(),
            document: self.document,
            kind: self.kind.to_owned(),
            name: self.name.clone(),
            field: field.into(),
            reason: reason.into(),
        }))
    }
}

enum Entity {
    Team(Team),
    Service(Service),
    User(User),
}

/// Deserialises one section (`metadata`, `spec`) of a document, naming it on failure.
fn section<T: for<'de> Deserialize<'de> + Default>(
    doc: &serde_yaml::Mapping,
    key: &str,
    site: &EntitySite<'_>,
) -> Result<T, CatalogError> {
    match doc.get(key) {
        None | Some(serde_yaml::Value::Null) => Ok(T::default()),
        Some(v) => T::deserialize(v.clone()).map_err(|e| site.error(key, e.to_string())),
    }
}

/// `group:default/payments` -> (`Some("group")`, `payments`); `payments` -> (`None`, `payments`).
fn split_entity_ref(raw: &str) -> (Option<String>, &str) {
    let raw = raw.trim();
    let (kind, rest) = match raw.split_once(':') {
        Some((k, r)) => (Some(k.trim().to_ascii_lowercase()), r),
        None => (None, raw),
    };
    let name = rest.rsplit_once('/').map_or(rest, |(_, n)| n);
    (kind, name.trim())
}

fn team_ref(raw: &str, field: &str, site: &EntitySite<'_>) -> Result<TeamName, CatalogError> {
    let (kind, name) = split_entity_ref(raw);
    if let Some(kind) = kind.filter(|k| k != "group") {
        return Err(site.error(field, format!("expected a group, got a {kind} (`{raw}`)")));
    }
    TeamName::parse(name).map_err(|e| site.error(field, e.to_string()))
}

fn user_ref(raw: &str, field: &str, site: &EntitySite<'_>) -> Result<UserId, CatalogError> {
    let (kind, name) = split_entity_ref(raw);
    if let Some(kind) = kind.filter(|k| k != "user") {
        return Err(site.error(field, format!("expected a user, got a {kind} (`{raw}`)")));
    }
    UserId::parse(name).map_err(|e| site.error(field, e.to_string()))
}

fn parse_list<T>(
    raw: &[String],
    field: &str,
    site: &EntitySite<'_>,
    parse: impl Fn(&str, &str, &EntitySite<'_>) -> Result<T, CatalogError>,
) -> Result<Vec<T>, CatalogError> {
    raw.iter()
        .enumerate()
        .map(|(i, r)| parse(r, &format!("{field}[{i}]"), site))
        .collect()
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn parse_team(doc: &serde_yaml::Mapping, site: &EntitySite<'_>) -> Result<Team, CatalogError> {
    let meta: RawMetadata = section(doc, "metadata", site)?;
    let spec: RawGroupSpec = section(doc, "spec", site)?;
    let name = TeamName::parse(meta.name.as_deref().unwrap_or_default())
        .map_err(|e| site.error("metadata.name", e.to_string()))?;
    let title = non_empty(meta.title)
        .or_else(|| non_empty(spec.profile.display_name))
        .unwrap_or_else(|| name.to_string());
    Ok(Team {
        title,
        description: meta.description.unwrap_or_default(),
        email: non_empty(spec.profile.email),
        members: parse_list(&spec.members, "spec.members", site, user_ref)?,
        children: parse_list(&spec.children, "spec.children", site, team_ref)?,
        name,
    })
}

fn parse_service(
    doc: &serde_yaml::Mapping,
    site: &EntitySite<'_>,
) -> Result<Service, CatalogError> {
    let meta: RawMetadata = section(doc, "metadata", site)?;
    let spec: RawComponentSpec = section(doc, "spec", site)?;
    let name = ServiceName::parse(meta.name.as_deref().unwrap_or_default())
        .map_err(|e| site.error("metadata.name", e.to_string()))?;
    let owner = match spec.owner.as_deref() {
        Some(raw) => team_ref(raw, "spec.owner", site)?,
        None => {
            return Err(site.error(
                "spec.owner",
                "missing: every component needs an owning group",
            ));
        }
    };
    let annotation = |key: &str| non_empty(meta.annotations.get(key).cloned());
    let kubernetes_id = annotation(KUBERNETES_ID_ANNOTATION).unwrap_or_else(|| name.to_string());
    // It goes into API paths and label selectors: only a valid object name may.
    if !is_dns_subdomain(&kubernetes_id) {
        return Err(site.error(
            format!("metadata.annotations.{KUBERNETES_ID_ANNOTATION}"),
            format!(
                "`{kubernetes_id}` is not a valid Kubernetes object name (lowercase letters, digits, '-' and '.', at most 253 characters, starting and ending with a letter or digit)"
            ),
        ));
    }
    Ok(Service {
        title: non_empty(meta.title).unwrap_or_else(|| name.to_string()),
        description: meta.description.unwrap_or_default(),
        kubernetes_id,
        namespace_pattern: annotation(NAMESPACE_PATTERN_ANNOTATION)
            .unwrap_or_else(|| DEFAULT_NAMESPACE_PATTERN.to_owned()),
        annotations: meta.annotations,
        tags: meta.tags,
        owner,
        name,
    })
}

/// A DNS-1123 subdomain, the form of most Kubernetes object names (Deployments included).
fn is_dns_subdomain(name: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !name.is_empty()
        && name.len() <= 253
        && name.chars().all(|c| alnum(c) || c == '-' || c == '.')
        && name.starts_with(alnum)
        && name.ends_with(alnum)
}

fn parse_user(doc: &serde_yaml::Mapping, site: &EntitySite<'_>) -> Result<User, CatalogError> {
    let meta: RawMetadata = section(doc, "metadata", site)?;
    let spec: RawUserSpec = section(doc, "spec", site)?;
    let name = UserId::parse(meta.name.as_deref().unwrap_or_default())
        .map_err(|e| site.error("metadata.name", e.to_string()))?;
    Ok(User {
        name,
        display_name: non_empty(spec.profile.display_name),
        email: non_empty(spec.profile.email),
        member_of: parse_list(&spec.member_of, "spec.memberOf", site, team_ref)?,
    })
}

/// One YAML document to an entity; `Ok(None)` for empty documents and kinds we do not model.
fn parse_document(
    value: serde_yaml::Value,
    origin: &str,
    document: usize,
) -> Result<Option<Entity>, CatalogError> {
    let doc = match value {
        serde_yaml::Value::Null => return Ok(None),
        serde_yaml::Value::Mapping(m) => m,
        _ => {
            let site = EntitySite {
                origin,
                document,
                kind: "entity",
                name: "?".into(),
            };
            return Err(site.error("", "a catalog document must be a mapping"));
        }
    };
    let kind = doc
        .get("kind")
        .and_then(serde_yaml::Value::as_str)
        .unwrap_or_default();
    let name = doc
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(serde_yaml::Value::as_str)
        .unwrap_or("?")
        .to_owned();
    let site = EntitySite {
        origin,
        document,
        kind,
        name,
    };
    let entity = match kind.to_ascii_lowercase().as_str() {
        "group" => Entity::Team(parse_team(&doc, &site)?),
        "component" => Entity::Service(parse_service(&doc, &site)?),
        "user" => Entity::User(parse_user(&doc, &site)?),
        // Files beside the catalog (an on-call schedule, say) are not entities: skip them.
        "" if !doc.contains_key("metadata") && !doc.contains_key("apiVersion") => {
            return Ok(None);
        }
        "" => return Err(site.error("kind", "missing")),
        _ => return Ok(None),
    };
    Ok(Some(entity))
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
        for (i, de) in serde_yaml::Deserializer::from_str(src).enumerate() {
            let document = i + 1;
            let value =
                serde_yaml::Value::deserialize(de).map_err(|source| CatalogError::Syntax {
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
            let value = serde_yaml::to_value(entity).map_err(|source| CatalogError::Syntax {
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

// ---------------------------------------------------------------------------
// Resolution
// ---------------------------------------------------------------------------

/// Words people put around a name that are not part of it ("the payments team").
const FILLER_WORDS: &[&str] = &[
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
fn words(text: &str) -> Vec<String> {
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

fn dedup(mut v: Vec<String>) -> Vec<String> {
    v.retain(|s| !s.is_empty());
    let mut seen = BTreeSet::new();
    v.retain(|s| seen.insert(s.clone()));
    v
}

fn alias_index(aliases: impl Iterator<Item = Vec<String>>) -> HashMap<String, Vec<usize>> {
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
struct Query {
    full: String,
    core: String,
}

impl Query {
    fn new(text: &str) -> Self {
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

trait Named {
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

fn sorted_candidates<T: Named>(mut found: Vec<&T>) -> Resolved<&T> {
    found.sort_by(|a, b| a.key().cmp(b.key()));
    found.dedup_by(|a, b| a.key() == b.key());
    match found.len() {
        0 => Resolved::NotFound,
        1 => Resolved::Fuzzy(found[0]),
        _ => Resolved::Ambiguous(found),
    }
}

fn resolve_among<'a, T: Named>(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox() -> Catalog {
        Catalog::sandbox()
    }

    fn svc(r: Resolved<&Service>) -> Resolved<String> {
        r.map(|s| s.name.to_string())
    }

    fn team(r: Resolved<&Team>) -> Resolved<String> {
        r.map(|t| t.name.to_string())
    }

    #[test]
    fn catalog_is_cheap_to_share() {
        fn shared<T: Clone + Send + Sync>() {}
        shared::<Catalog>();
    }

    #[test]
    fn sandbox_catalog_loads_every_entity() {
        let c = sandbox();
        assert_eq!(c.teams().count(), 6);
        assert_eq!(c.services().count(), 15);
        assert_eq!(c.users().count(), 19);
        let pay = c.service("payments-api").unwrap();
        assert_eq!(pay.title, "Payments API");
        assert_eq!(pay.owner.as_str(), "payments");
        assert_eq!(pay.kubernetes_id, "payments-api");
        assert_eq!(pay.namespace_pattern, "{team}-{env}");
        assert_eq!(pay.tags, ["java", "grpc", "pci"]);
        assert_eq!(
            pay.annotations.get("argocd/app-name").map(String::as_str),
            Some("payments-api")
        );
        let dp = c.team("Data-Platform").unwrap();
        assert_eq!(dp.title, "Data Platform");
        assert_eq!(dp.email.as_deref(), Some("team-data-platform@example.com"));
        assert_eq!(dp.members.len(), 4);
        let priya = c.user("priya.nair").unwrap();
        assert_eq!(priya.display_name.as_deref(), Some("Priya Nair"));
    }

    #[test]
    fn namespace_fills_team_and_environment() {
        let c = sandbox();
        let cart = c.service("cart").unwrap();
        let prod = Environment::parse("production").unwrap();
        assert_eq!(
            c.namespace_of(cart, &prod).unwrap().as_str(),
            "checkout-prod"
        );
    }

    #[test]
    fn teams_of_combines_members_and_member_of() {
        let src = r#"
kind: Group
metadata: {name: payments}
spec: {members: ["user:default/priya.nair"]}
---
kind: Group
metadata: {name: sre}
---
kind: User
metadata: {name: priya.nair}
spec: {memberOf: ["group:default/sre"]}
"#;
        let c = Catalog::from_yaml_str(src, "t.yaml").unwrap();
        let priya = UserId::parse("priya.nair").unwrap();
        let teams: Vec<String> = c.teams_of(&priya).iter().map(ToString::to_string).collect();
        assert_eq!(teams, ["payments", "sre"]);
    }

    #[test]
    fn unknown_kinds_and_empty_documents_are_skipped() {
        let src = "---\nkind: System\nmetadata: {name: shop}\n---\n---\nversion: 1\nschedules: {}\n---\nkind: Group\nmetadata: {name: sre}\n";
        let c = Catalog::from_yaml_str(src, "x.yaml").unwrap();
        assert_eq!(c.teams().count(), 1);
    }

    #[test]
    fn malformed_entities_name_origin_document_and_field() {
        let cases = [
            (
                "kind: Group\nmetadata: {name: Payments Team}\n",
                "metadata.name",
            ),
            (
                "kind: Component\nmetadata: {name: cart}\nspec: {type: service}\n",
                "spec.owner",
            ),
            (
                "kind: Component\nmetadata: {name: cart}\nspec: {owner: user:bob}\n",
                "spec.owner",
            ),
            (
                "kind: Group\nmetadata: {name: a}\nspec: {members: 7}\n",
                "spec",
            ),
            (
                "kind: Group\nmetadata: {name: a}\nspec: {members: [\"has space\"]}\n",
                "spec.members[0]",
            ),
            ("metadata: {name: a}\n", "kind"),
        ];
        for (body, field) in cases {
            let src = format!("kind: Group\nmetadata: {{name: ok}}\n---\n{body}");
            let err = Catalog::from_yaml_str(&src, "cat.yaml").unwrap_err();
            match &err {
                CatalogError::Entity(e) => {
                    assert_eq!(e.origin, "cat.yaml");
                    assert_eq!(e.document, 2, "{err}");
                    assert_eq!(e.field, field, "{err}");
                }
                other => panic!("unexpected {other}"),
            }
            assert!(
                err.to_string().starts_with("cat.yaml, document 2:"),
                "{err}"
            );
        }
    }

    #[test]
    fn broken_yaml_is_a_syntax_error() {
        let err =
            Catalog::from_yaml_str("kind: Group\nmetadata: [unclosed\n", "bad.yaml").unwrap_err();
        assert!(
            matches!(err, CatalogError::Syntax { document: 1, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("bad.yaml"));
    }

    #[test]
    fn load_reads_folders_recursively_and_later_entities_win() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("b");
        std::fs::create_dir(&nested).unwrap();
        std::fs::write(
            dir.path().join("a.yaml"),
            "kind: Group\nmetadata: {name: sre, title: Old}\n",
        )
        .unwrap();
        std::fs::write(
            nested.join("c.yml"),
            "kind: Group\nmetadata: {name: sre, title: New}\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not yaml: [").unwrap();
        let c = Catalog::load(&[dir.path().to_owned()]).unwrap();
        assert_eq!(c.team("sre").unwrap().title, "New");
        let missing = Catalog::load(&[dir.path().join("nope")]).unwrap_err();
        assert!(matches!(missing, CatalogError::Io { .. }));
    }

    #[test]
    fn services_resolve_from_names_titles_and_phrases() {
        let c = sandbox();
        for (text, want) in [
            ("payments api", "payments-api"),
            ("Payments API", "payments-api"),
            ("the mobile bff", "mobile-bff"),
            ("cart", "cart"),
            ("the cart service", "cart"),
            ("Feature Store", "feature-store"),
        ] {
            assert_eq!(
                svc(c.resolve_service(text)),
                Resolved::Exact(want.to_owned()),
                "{text}"
            );
        }
    }

    #[test]
    fn typos_and_partial_names_resolve_fuzzily() {
        let c = sandbox();
        for (text, want) in [
            ("checkout-apy", "checkout-api"),
            ("recomendations", "recommendations"),
            ("paymnets api", "payments-api"),
            ("payments", "payments-api"),
            ("fraud", "fraud-scoring-worker"),
        ] {
            assert_eq!(
                svc(c.resolve_service(text)),
                Resolved::Fuzzy(want.to_owned()),
                "{text}"
            );
        }
        assert_eq!(svc(c.resolve_service("kubernetes")), Resolved::NotFound);
    }

    #[test]
    fn several_equally_good_matches_are_ambiguous() {
        let c = sandbox();
        let api = svc(c.resolve_service("api"));
        assert_eq!(
            api,
            Resolved::Ambiguous(vec!["checkout-api".into(), "payments-api".into()])
        );
        // A team with several services, named where a service is needed.
        let identity = svc(c.resolve_service("identity"));
        assert_eq!(
            identity,
            Resolved::Ambiguous(vec!["auth-gateway".into(), "user-profile".into()])
        );
    }

    #[test]
    fn teams_resolve_from_phrases() {
        let c = sandbox();
        for text in [
            "data platform",
            "the data-platform folks",
            "Data Platform team",
        ] {
            assert_eq!(
                team(c.resolve_team(text)),
                Resolved::Exact("data-platform".into()),
                "{text}"
            );
        }
        assert_eq!(
            team(c.resolve_team("mobile backend")),
            Resolved::Exact("mobile-backend".into())
        );
        assert_eq!(
            team(c.resolve_team("the search team")),
            Resolved::Exact("search".into())
        );
        assert_eq!(
            team(c.resolve_team("identiy")),
            Resolved::Fuzzy("identity".into())
        );
        assert_eq!(team(c.resolve_team("marketing")), Resolved::NotFound);
    }

    #[test]
    fn a_kubernetes_id_that_is_no_object_name_is_refused() {
        for bad in ["cart/../../secrets", "Cart", "cart,app!=x", "-cart", "a b"] {
            let yaml = format!(
                "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: cart\n  annotations:\n    backstage.io/kubernetes-id: \"{bad}\"\nspec:\n  owner: group:checkout\n"
            );
            let err = Catalog::from_yaml_str(&yaml, "test")
                .unwrap_err()
                .to_string();
            assert!(err.contains("kubernetes-id"), "{bad}: {err}");
        }
    }
}
