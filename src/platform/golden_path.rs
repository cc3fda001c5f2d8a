//! Golden-path templates: the objects platbot creates for a request, as YAML the
//! platform team edits in `tools/golden-paths/<path>/`. Built-in copies are
//! compiled in so the binary works from any directory.

use std::collections::BTreeMap;
use std::path::Path;

use kube::api::DynamicObject;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read golden-path templates in {dir}: {message}")]
    Read { dir: String, message: String },
    #[error("golden-path template {file} has no value for {{{{{placeholder}}}}}")]
    Unfilled { file: String, placeholder: String },
    #[error("golden-path template {file} does not render to a Kubernetes object: {message}")]
    Invalid { file: String, message: String },
}

#[derive(Debug, Clone)]
pub struct Template {
    pub file: String,
    pub text: String,
}

/// The templates of each golden path, by name (only `namespace` so far).
#[derive(Debug, Clone)]
pub struct GoldenPaths {
    pub namespace: Vec<Template>,
}

const BUILTIN_NAMESPACE: &[(&str, &str)] = &[
    (
        "00-namespace.yaml",
        include_str!("../../tools/golden-paths/namespace/00-namespace.yaml"),
    ),
    (
        "10-resourcequota.yaml",
        include_str!("../../tools/golden-paths/namespace/10-resourcequota.yaml"),
    ),
    (
        "20-limitrange.yaml",
        include_str!("../../tools/golden-paths/namespace/20-limitrange.yaml"),
    ),
    (
        "30-rolebinding.yaml",
        include_str!("../../tools/golden-paths/namespace/30-rolebinding.yaml"),
    ),
    (
        "40-networkpolicy-default-deny.yaml",
        include_str!("../../tools/golden-paths/namespace/40-networkpolicy-default-deny.yaml"),
    ),
    (
        "50-networkpolicy-same-namespace.yaml",
        include_str!("../../tools/golden-paths/namespace/50-networkpolicy-same-namespace.yaml"),
    ),
];

impl GoldenPaths {
    pub fn builtin() -> Self {
        Self {
            namespace: BUILTIN_NAMESPACE
                .iter()
                .map(|(file, text)| Template {
                    file: (*file).to_owned(),
                    text: (*text).to_owned(),
                })
                .collect(),
        }
    }

    /// Loads `<tools_dir>/golden-paths/namespace/*.yaml` in file-name order, or the
    /// built-in templates when that folder does not exist.
    pub fn load(tools_dir: &Path) -> Result<Self, TemplateError> {
        let dir = tools_dir.join("golden-paths").join("namespace");
        if !dir.is_dir() {
            return Ok(Self::builtin());
        }
        let read_err = |message: String| TemplateError::Read {
            dir: dir.display().to_string(),
            message,
        };
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|e| read_err(e.to_string()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        files.sort();
        let mut namespace = Vec::new();
        for path in files {
            let text = std::fs::read_to_string(&path).map_err(|e| read_err(e.to_string()))?;
            let file = path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            namespace.push(Template { file, text });
        }
        if namespace.is_empty() {
            return Err(read_err("no *.yaml templates".into()));
        }
        Ok(Self { namespace })
    }
}

/// What the namespace golden path's templates are filled with.
#[derive(Debug, Clone)]
pub struct NamespaceVars<'a> {
    pub namespace: &'a str,
    pub team: &'a str,
    pub environment: &'a str,
    /// The team's group in the cluster (the team name under `[kubernetes] group_prefix`).
    pub group: &'a str,
    pub owner_email: &'a str,
    pub requester: &'a str,
}

impl NamespaceVars<'_> {
    pub fn to_map(&self) -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("namespace", self.namespace.to_owned()),
            ("team", self.team.to_owned()),
            ("environment", self.environment.to_owned()),
            ("group", self.group.to_owned()),
            ("owner_email", self.owner_email.to_owned()),
            ("requester", self.requester.to_owned()),
        ])
    }
}

/// The namespace golden path rendered for a made-up team: which kinds it creates, for the
/// RBAC that platbot's provisioner needs (`platbot rbac`, the sandbox seed).
pub fn sample_namespace_objects(paths: &GoldenPaths) -> Result<Vec<DynamicObject>, TemplateError> {
    let vars = NamespaceVars {
        namespace: "example-dev",
        team: "example",
        environment: "dev",
        group: "example",
        owner_email: "team-example@example.com",
        requester: "platbot",
    };
    render(&paths.namespace, &vars.to_map())
}

/// Keeps only characters that cannot break out of a quoted YAML scalar.
fn yaml_safe(value: &str) -> String {
    value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "@._+-:/ ".contains(*c))
        .collect()
}

/// Renders templates with `vars` and parses each into an object.
pub fn render(
    templates: &[Template],
    vars: &BTreeMap<&str, String>,
) -> Result<Vec<DynamicObject>, TemplateError> {
    templates
        .iter()
        .map(|t| {
            let mut text = t.text.clone();
            for (key, value) in vars {
                text = text.replace(&format!("{{{{{key}}}}}"), &yaml_safe(value));
            }
            if let Some(start) = text.find("{{") {
                let rest = &text[start + 2..];
                let placeholder = rest.split("}}").next().unwrap_or(rest).trim().to_owned();
                return Err(TemplateError::Unfilled {
                    file: t.file.clone(),
                    placeholder,
                });
            }
            let obj: DynamicObject =
                serde_norway::from_str(&text).map_err(|e| TemplateError::Invalid {
                    file: t.file.clone(),
                    message: e.to_string(),
                })?;
            if obj.types.is_none() || obj.metadata.name.is_none() {
                return Err(TemplateError::Invalid {
                    file: t.file.clone(),
                    message: "apiVersion, kind and metadata.name are required".into(),
                });
            }
            Ok(obj)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("namespace", "payments-dev".to_owned()),
            ("team", "payments".to_owned()),
            ("environment", "dev".to_owned()),
            ("group", "payments".to_owned()),
            ("owner_email", "team-payments@example.com".to_owned()),
            ("requester", "priya.nair\"\n evil: x".to_owned()),
        ])
    }

    #[test]
    fn builtin_templates_render_to_the_golden_path() {
        let objs = render(&GoldenPaths::builtin().namespace, &vars()).unwrap();
        let kinds: Vec<&str> = objs
            .iter()
            .map(|o| o.types.as_ref().unwrap().kind.as_str())
            .collect();
        assert_eq!(
            kinds,
            [
                "Namespace",
                "ResourceQuota",
                "LimitRange",
                "RoleBinding",
                "NetworkPolicy",
                "NetworkPolicy"
            ]
        );
        let ns = &objs[0];
        assert_eq!(ns.metadata.name.as_deref(), Some("payments-dev"));
        let labels = ns.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["platform.example.com/team"], "payments");
        // The injected quote and newline were dropped, not interpreted.
        let ann = ns.metadata.annotations.as_ref().unwrap();
        assert_eq!(
            ann["platform.example.com/requested-by"],
            "priya.nair evil: x"
        );
        assert!(
            objs[1..]
                .iter()
                .all(|o| o.metadata.namespace.as_deref() == Some("payments-dev"))
        );
    }

    #[test]
    fn a_missing_value_is_named() {
        let mut v = vars();
        v.remove("group");
        let err = render(&GoldenPaths::builtin().namespace, &v).unwrap_err();
        assert!(err.to_string().contains("{{group}}"), "{err}");
    }
}
