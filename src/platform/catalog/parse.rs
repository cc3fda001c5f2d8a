//! Backstage entities as they come (serde), parsed into the catalog's types once: a
//! malformed entity is an error naming the file, the document and the field.

use super::*;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawMetadata {
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
pub(super) struct RawProfile {
    display_name: Option<String>,
    email: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawGroupSpec {
    #[serde(default)]
    profile: RawProfile,
    #[serde(default)]
    members: Vec<String>,
    #[serde(default)]
    children: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawComponentSpec {
    owner: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawUserSpec {
    #[serde(default)]
    profile: RawProfile,
    #[serde(default)]
    member_of: Vec<String>,
}

/// Where an entity came from, to build errors that point at it.
pub(super) struct EntitySite<'a> {
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

pub(super) enum Entity {
    Team(Team),
    Service(Service),
    User(User),
}

/// Deserialises one section (`metadata`, `spec`) of a document, naming it on failure.
pub(super) fn section<T: for<'de> Deserialize<'de> + Default>(
    doc: &serde_norway::Mapping,
    key: &str,
    site: &EntitySite<'_>,
) -> Result<T, CatalogError> {
    match doc.get(key) {
        None | Some(serde_norway::Value::Null) => Ok(T::default()),
        Some(v) => T::deserialize(v.clone()).map_err(|e| site.error(key, e.to_string())),
    }
}

/// `group:default/payments` -> (`Some("group")`, `payments`); `payments` -> (`None`, `payments`).
pub(super) fn split_entity_ref(raw: &str) -> (Option<String>, &str) {
    let raw = raw.trim();
    let (kind, rest) = match raw.split_once(':') {
        Some((k, r)) => (Some(k.trim().to_ascii_lowercase()), r),
        None => (None, raw),
    };
    let name = rest.rsplit_once('/').map_or(rest, |(_, n)| n);
    (kind, name.trim())
}

pub(super) fn team_ref(
    raw: &str,
    field: &str,
    site: &EntitySite<'_>,
) -> Result<TeamName, CatalogError> {
    let (kind, name) = split_entity_ref(raw);
    if let Some(kind) = kind.filter(|k| k != "group") {
        return Err(site.error(field, format!("expected a group, got a {kind} (`{raw}`)")));
    }
    TeamName::parse(name).map_err(|e| site.error(field, e.to_string()))
}

pub(super) fn user_ref(
    raw: &str,
    field: &str,
    site: &EntitySite<'_>,
) -> Result<UserId, CatalogError> {
    let (kind, name) = split_entity_ref(raw);
    if let Some(kind) = kind.filter(|k| k != "user") {
        return Err(site.error(field, format!("expected a user, got a {kind} (`{raw}`)")));
    }
    UserId::parse(name).map_err(|e| site.error(field, e.to_string()))
}

pub(super) fn parse_list<T>(
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

pub(super) fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

pub(super) fn parse_team(
    doc: &serde_norway::Mapping,
    site: &EntitySite<'_>,
) -> Result<Team, CatalogError> {
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

pub(super) fn parse_service(
    doc: &serde_norway::Mapping,
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
pub(super) fn is_dns_subdomain(name: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !name.is_empty()
        && name.len() <= 253
        && name.chars().all(|c| alnum(c) || c == '-' || c == '.')
        && name.starts_with(alnum)
        && name.ends_with(alnum)
}

pub(super) fn parse_user(
    doc: &serde_norway::Mapping,
    site: &EntitySite<'_>,
) -> Result<User, CatalogError> {
    let meta: RawMetadata = section(doc, "metadata", site)?;
    let spec: RawUserSpec = section(doc, "spec", site)?;
    let name = UserId::parse(meta.name.as_deref().unwrap_or_default())
        .map_err(|e| site.error("metadata.name", e.to_string()))?;
    Ok(User {
        name,
        display_name: non_empty(spec.profile.display_name),
        email: non_empty(spec.profile.email),
        member_of: parse_list(&spec.member_of, "spec.memberOf", site, team_ref)?,
        annotations: meta.annotations,
    })
}

/// One YAML document to an entity; `Ok(None)` for empty documents and kinds we do not model.
pub(super) fn parse_document(
    value: serde_norway::Value,
    origin: &str,
    document: usize,
) -> Result<Option<Entity>, CatalogError> {
    let doc = match value {
        serde_norway::Value::Null => return Ok(None),
        serde_norway::Value::Mapping(m) => m,
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
        .and_then(serde_norway::Value::as_str)
        .unwrap_or_default();
    let name = doc
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(serde_norway::Value::as_str)
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
