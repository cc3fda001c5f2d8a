//! What a container reads from ConfigMaps and Secrets (env, envFrom, volumes), and which of
//! those references point at nothing: a missing object, or a key the object does not have,
//! with the nearest existing name ("did you mean `opensearch_url`?").

use std::collections::BTreeSet;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, PodSpec};

use super::snapshot::{Snapshot, last_written};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SourceKind {
    ConfigMap,
    Secret,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConfigMap => "ConfigMap",
            Self::Secret => "Secret",
        }
    }
}

/// One reference from a container to a ConfigMap or Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigRef {
    /// `env SEARCH_OPENSEARCH_URL`, `envFrom`, `volume certs`
    pub used_as: String,
    /// The env var it fills, if it fills one.
    pub env_var: Option<String>,
    pub kind: SourceKind,
    pub name: String,
    pub key: Option<String>,
    pub optional: bool,
}

/// A reference that points at nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokenRef {
    pub reference: ConfigRef,
    /// The object itself is missing (otherwise only the key is).
    pub object_missing: bool,
    /// The keys the object has (key names only, never values).
    pub available: Vec<String>,
    /// The existing key (or object name) nearest to the one asked for.
    pub similar: Option<String>,
    /// When the object was last written, if it exists.
    pub changed: Option<Timestamp>,
}

impl BrokenRef {
    /// "key `opensearch-url` of ConfigMap search-config" / "Secret db-creds"
    pub fn target(&self) -> String {
        let r = &self.reference;
        match (&r.key, self.object_missing) {
            (Some(k), false) => format!("key `{k}` of {} {}", r.kind.as_str(), r.name),
            _ => format!("{} {}", r.kind.as_str(), r.name),
        }
    }

    /// One sentence on what is missing and what exists instead.
    pub fn describe(&self) -> String {
        let r = &self.reference;
        let mut s = if self.object_missing {
            format!(
                "{} reads {} {}, which does not exist",
                r.used_as,
                r.kind.as_str(),
                r.name
            )
        } else {
            let keys = if self.available.is_empty() {
                "no keys".to_owned()
            } else {
                format!(
                    "keys {}",
                    self.available
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            format!(
                "{} reads {}, which has no such key (it has {keys})",
                r.used_as,
                self.target()
            )
        };
        if let Some(similar) = &self.similar {
            s.push_str(&format!("; did you mean `{similar}`?"));
        }
        if r.optional {
            s.push_str(" The reference is optional, so the container starts without it.");
        }
        s
    }
}

/// Every ConfigMap/Secret reference of a container (env, envFrom) and of the pod's volumes
/// that the container mounts.
pub fn refs_of(container: &Container, spec: Option<&PodSpec>) -> Vec<ConfigRef> {
    let mut out = Vec::new();
    for env in container.env.as_deref().unwrap_or_default() {
        let Some(from) = &env.value_from else {
            continue;
        };
        if let Some(r) = &from.config_map_key_ref {
            out.push(ConfigRef {
                used_as: format!("env {}", env.name),
                env_var: Some(env.name.clone()),
                kind: SourceKind::ConfigMap,
                name: r.name.clone(),
                key: Some(r.key.clone()),
                optional: r.optional.unwrap_or(false),
            });
        }
        if let Some(r) = &from.secret_key_ref {
            out.push(ConfigRef {
                used_as: format!("env {}", env.name),
                env_var: Some(env.name.clone()),
                kind: SourceKind::Secret,
                name: r.name.clone(),
                key: Some(r.key.clone()),
                optional: r.optional.unwrap_or(false),
            });
        }
    }
    for from in container.env_from.as_deref().unwrap_or_default() {
        if let Some(r) = &from.config_map_ref {
            out.push(ConfigRef {
                used_as: "envFrom".into(),
                env_var: None,
                kind: SourceKind::ConfigMap,
                name: r.name.clone(),
                key: None,
                optional: r.optional.unwrap_or(false),
            });
        }
        if let Some(r) = &from.secret_ref {
            out.push(ConfigRef {
                used_as: "envFrom".into(),
                env_var: None,
                kind: SourceKind::Secret,
                name: r.name.clone(),
                key: None,
                optional: r.optional.unwrap_or(false),
            });
        }
    }
    let mounted: BTreeSet<&str> = container
        .volume_mounts
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    for v in spec
        .and_then(|s| s.volumes.as_deref())
        .unwrap_or_default()
        .iter()
        .filter(|v| mounted.contains(v.name.as_str()))
    {
        let used_as = format!("volume {}", v.name);
        if let Some(cm) = &v.config_map {
            let keys: Vec<&str> = cm
                .items
                .as_deref()
                .unwrap_or_default()
                .iter()
                .map(|i| i.key.as_str())
                .collect();
            push_volume(
                &mut out,
                &used_as,
                SourceKind::ConfigMap,
                &cm.name,
                &keys,
                cm.optional,
            );
        }
        if let Some(sec) = &v.secret
            && let Some(name) = &sec.secret_name
        {
            let keys: Vec<&str> = sec
                .items
                .as_deref()
                .unwrap_or_default()
                .iter()
                .map(|i| i.key.as_str())
                .collect();
            push_volume(
                &mut out,
                &used_as,
                SourceKind::Secret,
                name,
                &keys,
                sec.optional,
            );
        }
    }
    out
}

fn push_volume(
    out: &mut Vec<ConfigRef>,
    used_as: &str,
    kind: SourceKind,
    name: &str,
    keys: &[&str],
    optional: Option<bool>,
) {
    let optional = optional.unwrap_or(false);
    if keys.is_empty() {
        out.push(ConfigRef {
            used_as: used_as.to_owned(),
            env_var: None,
            kind,
            name: name.to_owned(),
            key: None,
            optional,
        });
    }
    for key in keys {
        out.push(ConfigRef {
            used_as: used_as.to_owned(),
            env_var: None,
            kind,
            name: name.to_owned(),
            key: Some((*key).to_owned()),
            optional,
        });
    }
}

/// The existing name nearest to `wanted`: the same but for `-`/`_`/case, or close in spelling.
pub fn nearest<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a String>,
) -> Option<String> {
    let norm = |s: &str| s.to_lowercase().replace(['-', '_', '.'], "");
    let w = norm(wanted);
    let mut best: Option<(f64, &String)> = None;
    for c in candidates {
        let score = if norm(c) == w {
            2.0
        } else {
            strsim::normalized_levenshtein(&w, &norm(c))
        };
        if score >= 0.75 && best.is_none_or(|(b, _)| score > b) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c.clone())
}

/// Checks one reference against what the snapshot holds. `None` when it resolves, or when
/// the object could not be read (a Secret platbot was not allowed to see).
pub fn check(s: &Snapshot, r: &ConfigRef) -> Option<BrokenRef> {
    let (exists, keys, changed): (bool, BTreeSet<String>, Option<Timestamp>) = match r.kind {
        SourceKind::ConfigMap => {
            if !s.was_read("configmaps") {
                return None;
            }
            match s.config_map(&r.name) {
                Some(cm) => (
                    true,
                    cm.data
                        .iter()
                        .flat_map(|d| d.keys())
                        .chain(cm.binary_data.iter().flat_map(|d| d.keys()))
                        .cloned()
                        .collect(),
                    last_written(&cm.metadata),
                ),
                None => (false, BTreeSet::new(), None),
            }
        }
        SourceKind::Secret => {
            let secret = s.secrets.get(&r.name)?;
            (secret.found, secret.keys.clone(), None)
        }
    };
    if !exists {
        let names: Vec<String> = match r.kind {
            SourceKind::ConfigMap => s
                .config_maps
                .iter()
                .filter_map(|c| c.metadata.name.clone())
                .collect(),
            SourceKind::Secret => Vec::new(),
        };
        return Some(BrokenRef {
            reference: r.clone(),
            object_missing: true,
            available: Vec::new(),
            similar: nearest(&r.name, &names),
            changed: None,
        });
    }
    let key = r.key.as_ref()?;
    if keys.contains(key) {
        return None;
    }
    Some(BrokenRef {
        reference: r.clone(),
        object_missing: false,
        similar: nearest(key, &keys),
        available: keys.into_iter().collect(),
        changed,
    })
}

/// The broken references of one container.
pub fn broken(s: &Snapshot, container: &Container, spec: Option<&PodSpec>) -> Vec<BrokenRef> {
    refs_of(container, spec)
        .iter()
        .filter_map(|r| check(s, r))
        .collect()
}

/// Secrets a container refers to (to read their key names when it fails).
pub fn secret_names(container: &Container, spec: Option<&PodSpec>) -> Vec<String> {
    refs_of(container, spec)
        .into_iter()
        .filter(|r| r.kind == SourceKind::Secret)
        .map(|r| r.name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_prefers_separator_variants_then_spelling() {
        let keys: Vec<String> = vec!["opensearch_url".into(), "index".into()];
        assert_eq!(
            nearest("opensearch-url", &keys).as_deref(),
            Some("opensearch_url")
        );
        assert_eq!(nearest("indx", &keys).as_deref(), Some("index"));
        assert_eq!(nearest("password", &keys), None);
    }
}
