//! `--sandbox`: the Kubernetes API double (crate `kube-double`) seeded with the fictional
//! Larkspur Goods platform ([`seed`]), whose teams and services match
//! [`Catalog::sandbox`](crate::platform::catalog::Catalog::sandbox). What the double does and
//! does not emulate is listed in the `kube-double` crate's documentation.

pub mod seed;

pub use kube_double::{ApiError, KubeApiDouble, RecordedRequest, RunningDouble, SandboxError};

/// The double holding the Larkspur Goods objects and pod logs.
pub fn seeded() -> KubeApiDouble {
    seeded_with_group_prefix("")
}

/// [`seeded`] with the teams' groups named `<prefix><team>` in their RoleBindings
/// (`[kubernetes] group_prefix`).
pub fn seeded_with_group_prefix(prefix: &str) -> KubeApiDouble {
    KubeApiDouble::seeded_with(seed::sandbox_with_group_prefix(prefix))
}
