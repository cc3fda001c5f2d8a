//! The only place platbot writes to Kubernetes. A write goes out either as a server-side dry
//! run, which is all `plan` may do, or for real, which takes the [`ExecutionGrant`] that only a
//! won confirmation yields. Clippy's `disallowed-methods` (`clippy.toml`) refuses kube's write
//! calls anywhere else, so a real write outside an approved execution does not compile clean.

// This module is the sanctioned caller of the methods clippy.toml disallows.
#![allow(clippy::disallowed_methods)]

use k8s_openapi::api::autoscaling::v1::Scale;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::approval::ExecutionGrant;

/// The field manager platbot's writes are recorded under (`managedFields`).
pub const FIELD_MANAGER: &str = "platbot";

/// How a patch is merged: a strategic or JSON merge patch, or a server-side apply (which
/// creates the object when it is missing and records platbot as the manager of its fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    Patch,
    ServerSideApply,
}

/// How writes are sent; made only as a dry run or, with a grant, for real.
#[derive(Debug, Clone)]
pub struct Writer {
    params: PatchParams,
}

impl Writer {
    /// Writes the API server validates and answers but never persists (`dryRun=All`).
    pub fn dry_run(merge: Merge) -> Self {
        Self {
            params: Self::base(merge).dry_run(),
        }
    }

    /// Writes that change the cluster: only for the proposal the grant was won for.
    pub fn granted(_grant: &ExecutionGrant, merge: Merge) -> Self {
        Self {
            params: Self::base(merge),
        }
    }

    fn base(merge: Merge) -> PatchParams {
        match merge {
            Merge::ServerSideApply => PatchParams::apply(FIELD_MANAGER),
            Merge::Patch => PatchParams {
                field_manager: Some(FIELD_MANAGER.to_owned()),
                ..PatchParams::default()
            },
        }
    }

    pub fn is_dry_run(&self) -> bool {
        self.params.dry_run
    }

    /// Patches the object `name`.
    pub async fn patch<K, P>(
        &self,
        api: &Api<K>,
        name: &str,
        patch: &Patch<P>,
    ) -> Result<K, kube::Error>
    where
        K: Clone + DeserializeOwned + std::fmt::Debug,
        P: Serialize + std::fmt::Debug,
    {
        api.patch(name, &self.params, patch).await
    }

    /// Patches the `scale` subresource of the object `name`.
    pub async fn patch_scale<K, P>(
        &self,
        api: &Api<K>,
        name: &str,
        patch: &Patch<P>,
    ) -> Result<Scale, kube::Error>
    where
        K: Clone + DeserializeOwned,
        P: Serialize + std::fmt::Debug,
    {
        api.patch_scale(name, &self.params, patch).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dry_run_writer_never_sends_a_real_write() {
        for merge in [Merge::Patch, Merge::ServerSideApply] {
            let writer = Writer::dry_run(merge);
            assert!(writer.is_dry_run());
            assert_eq!(writer.params.field_manager.as_deref(), Some(FIELD_MANAGER));
        }
    }
}
