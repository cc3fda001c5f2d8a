//! The trust half of `[kubernetes]`: which groups platbot may impersonate (`group_prefix`,
//! the `[groups]` names) and the provisioner identity the golden path runs as
//! (`[kubernetes.provisioner]`). Groups in the API server's reserved `system:` space are refused
//! here, at load, so no configuration can make platbot act as `system:masters`.

use serde::Deserialize;

use super::{ConfigError, invalid};

/// The API server's own groups and users start with this.
const RESERVED: &str = "system:";
/// Users in the reserved space that may still act: service accounts.
const SERVICE_ACCOUNT: &str = "system:serviceaccount:";

/// `[kubernetes.provisioner]` as written.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawProvisioner {
    user: Option<String>,
    groups: Vec<String>,
}

/// Who runs provisioning actions (the namespace golden path) once the approval policy has
/// said yes: a user (or service account) and groups that only the golden path's objects are
/// bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionerSettings {
    pub user: String,
    pub groups: Vec<String>,
}

fn plain_name(field: &str, what: &str, name: &str) -> Result<(), ConfigError> {
    if name.trim().is_empty() {
        return Err(invalid(field, format!("the {what} is empty")));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            field,
            format!("the {what} `{name}` contains whitespace or control characters"),
        ));
    }
    Ok(())
}

/// A group platbot may impersonate: not empty, not in the reserved `system:` space.
pub(super) fn check_group(field: &str, group: &str) -> Result<(), ConfigError> {
    plain_name(field, "group", group)?;
    if group.to_ascii_lowercase().starts_with(RESERVED) {
        return Err(invalid(
            field,
            format!(
                "`{group}` is a Kubernetes system group; platbot never impersonates `system:` groups (they include system:masters, which is cluster-admin)"
            ),
        ));
    }
    Ok(())
}

/// `[kubernetes] group_prefix`: put before catalog team names to make their cluster groups.
pub(super) fn group_prefix(raw: Option<String>) -> Result<String, ConfigError> {
    let Some(prefix) = raw else {
        return Ok(String::new());
    };
    if prefix.is_empty() {
        return Ok(prefix);
    }
    check_group("kubernetes.group_prefix", &format!("{prefix}team"))?;
    Ok(prefix)
}

pub(super) fn provisioner(
    raw: Option<RawProvisioner>,
) -> Result<Option<ProvisionerSettings>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let field = "kubernetes.provisioner.user";
    let user = raw
        .user
        .ok_or_else(|| invalid(field, "is required: the user the golden path runs as"))?;
    plain_name(field, "user", &user)?;
    let lower = user.to_ascii_lowercase();
    if lower.starts_with(RESERVED) && !lower.starts_with(SERVICE_ACCOUNT) {
        return Err(invalid(
            field,
            format!(
                "`{user}` is a Kubernetes system user; use a dedicated user or a service account (system:serviceaccount:<namespace>:<name>)"
            ),
        ));
    }
    for group in &raw.groups {
        check_group("kubernetes.provisioner.groups", group)?;
    }
    Ok(Some(ProvisionerSettings {
        user,
        groups: raw.groups,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_groups_are_refused_with_the_field_named() {
        let err = check_group("groups", "system:masters").expect_err("refused");
        assert!(err.to_string().contains("groups") && err.to_string().contains("system:masters"));
        assert!(check_group("groups", "System:Masters").is_err());
        assert!(check_group("groups", "platform").is_ok());
        assert!(check_group("groups", " ").is_err());
        assert!(group_prefix(Some("system:".into())).is_err());
        assert_eq!(
            group_prefix(Some("platbot:team:".into())).expect("ok"),
            "platbot:team:"
        );
        assert_eq!(group_prefix(None).expect("ok"), "");
    }

    #[test]
    fn the_config_file_refuses_system_groups_and_reads_the_provisioner() {
        let load = |toml: &str| crate::config::Config::from_toml(toml, &|_| None);
        let err = load("[groups]\n\"system:masters\" = [\"mallory\"]\n").expect_err("refused");
        assert!(err.to_string().contains("groups.system:masters"), "{err}");
        let err = load("[kubernetes]\ngroup_prefix = \"system:\"\n").expect_err("refused");
        assert!(err.to_string().contains("kubernetes.group_prefix"), "{err}");
        let err = load("[kubernetes.provisioner]\nuser = \"p\"\ngroups = [\"system:masters\"]\n")
            .expect_err("refused");
        assert!(
            err.to_string().contains("kubernetes.provisioner.groups"),
            "{err}"
        );
        let config = load(
            "[kubernetes]\ngroup_prefix = \"platbot:team:\"\n[kubernetes.provisioner]\nuser = \"platbot-provisioner\"\ngroups = [\"platbot:provisioners\"]\n",
        )
        .expect("valid");
        assert_eq!(config.kubernetes.group_prefix, "platbot:team:");
        assert_eq!(
            config.kubernetes.provisioner,
            Some(ProvisionerSettings {
                user: "platbot-provisioner".into(),
                groups: vec!["platbot:provisioners".into()],
            })
        );
        assert!(
            config
                .summary()
                .contains("provisioner:   platbot-provisioner")
        );
    }

    #[test]
    fn the_provisioner_is_a_plain_user_or_a_service_account() {
        let raw = |user: &str, groups: &[&str]| RawProvisioner {
            user: Some(user.into()),
            groups: groups.iter().map(|g| (*g).to_string()).collect(),
        };
        assert!(provisioner(Some(raw("platbot-provisioner", &[]))).is_ok());
        assert!(provisioner(Some(raw("system:serviceaccount:platbot:provisioner", &[]))).is_ok());
        assert!(provisioner(Some(raw("system:admin", &[]))).is_err());
        assert!(provisioner(Some(raw("p", &["system:masters"]))).is_err());
        let missing = provisioner(Some(RawProvisioner::default())).expect_err("no user");
        assert!(missing.to_string().contains("kubernetes.provisioner.user"));
        assert_eq!(provisioner(None).expect("none"), None);
    }
}
