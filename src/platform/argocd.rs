//! Argo CD: an Application's sync status, health, revision and last sync result, read from
//! the API server (`GET /api/v1/applications/{name}`, bearer token). Which Application a
//! service has comes from its `argocd/app-name` annotation and `[argocd] app_name_pattern`.

use std::collections::{BTreeSet, HashMap};

use futures::future::join_all;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::ArgoCdSettings;
use crate::domain::Environment;
use crate::platform::catalog::Service;
use crate::platform::http::{ApiClient, HttpError};

/// The Backstage annotation naming a Component's Argo CD Application.
pub const APP_NAME_ANNOTATION: &str = "argocd/app-name";
const SYSTEM: &str = "Argo CD";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgoError {
    #[error("Argo CD rejected the token (check the variable ${token_env})")]
    TokenRejected { token_env: String },
    #[error("Argo CD has no Application `{0}`")]
    NoSuchApplication(String),
    /// Argo CD answers 403 both for "not allowed" and for an Application that does not exist.
    #[error(
        "Argo CD refused access to Application `{0}` (it may not exist, or the token's account may not read it)"
    )]
    Forbidden(String),
    #[error(transparent)]
    Http(#[from] HttpError),
}

/// `{"error": "...", "code": 5, "message": "..."}` (grpc-gateway).
fn error_message(v: &Value) -> Option<String> {
    v.get("message")
        .or_else(|| v.get("error"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// What a status reply shows of an Application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppStatus {
    pub name: String,
    /// Synced | OutOfSync | Unknown.
    pub sync: String,
    /// Healthy | Progressing | Degraded | Suspended | Missing | Unknown.
    pub health: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_message: Option<String>,
    /// The revision the live state was compared to (a commit SHA, a chart version).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_revision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<LastSync>,
}

/// The last sync operation: `status.operationState`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastSync {
    /// Succeeded | Failed | Error | Running | Terminating.
    pub phase: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

impl AppStatus {
    /// "Argo CD cart-prod: Synced, Healthy at 4f2c1a9; last sync Succeeded 2026-03-04 10:12 UTC".
    pub fn line(&self) -> String {
        let mut s = format!("Argo CD `{}`: {}, {}", self.name, self.sync, self.health);
        if let Some(r) = &self.revision {
            s.push_str(&format!(" at {}", short_revision(r)));
        }
        if let Some(m) = &self.health_message {
            s.push_str(&format!(" ({m})"));
        }
        if let Some(l) = &self.last_sync {
            s.push_str(&format!("; last sync {}", l.phase));
            if let Some(t) = l
                .finished_at
                .as_deref()
                .and_then(|t| t.parse::<Timestamp>().ok())
            {
                s.push_str(&format!(" {}", t.strftime("%Y-%m-%d %H:%M UTC")));
            }
            if l.phase != "Succeeded"
                && let Some(m) = &l.message
            {
                s.push_str(&format!(": {m}"));
            }
        }
        s
    }
}

/// Commit SHAs are shown as 7 characters, like git does; versions as they are.
fn short_revision(r: &str) -> &str {
    if r.len() == 40 && r.chars().all(|c| c.is_ascii_hexdigit()) {
        &r[..7]
    } else {
        r
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Application {
    metadata: Metadata,
    spec: Spec,
    status: Status,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Metadata {
    name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Spec {
    source: Option<Source>,
    sources: Vec<Source>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Source {
    target_revision: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Status {
    sync: SyncStatus,
    health: Health,
    operation_state: Option<OperationState>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SyncStatus {
    status: Option<String>,
    revision: Option<String>,
    revisions: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Health {
    status: Option<String>,
    message: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct OperationState {
    phase: Option<String>,
    message: Option<String>,
    finished_at: Option<String>,
    sync_result: Option<SyncResult>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SyncResult {
    revision: Option<String>,
}

impl From<Application> for AppStatus {
    fn from(app: Application) -> Self {
        let status = app.status;
        let target_revision = app
            .spec
            .source
            .and_then(|s| s.target_revision)
            .or_else(|| app.spec.sources.into_iter().find_map(|s| s.target_revision));
        Self {
            name: app.metadata.name,
            sync: status.sync.status.unwrap_or_else(|| "Unknown".into()),
            health: status.health.status.unwrap_or_else(|| "Unknown".into()),
            health_message: status.health.message.filter(|m| !m.is_empty()),
            // Multi-source Applications list one revision per source.
            revision: status
                .sync
                .revision
                .or_else(|| status.sync.revisions.into_iter().next()),
            target_revision,
            last_sync: status.operation_state.map(|o| LastSync {
                phase: o.phase.unwrap_or_else(|| "Unknown".into()),
                message: o.message.filter(|m| !m.is_empty()),
                revision: o.sync_result.and_then(|r| r.revision),
                finished_at: o.finished_at,
            }),
        }
    }
}

/// An Argo CD API server.
pub struct ArgoCd {
    api: ApiClient,
    token_env: String,
    app_name_pattern: String,
}

impl ArgoCd {
    pub fn new(settings: &ArgoCdSettings) -> Result<Self, HttpError> {
        let auth = format!("Bearer {}", settings.token.expose());
        let api = ApiClient::new(
            SYSTEM,
            &settings.url,
            Some(&auth),
            &[],
            settings.timeout,
            error_message,
        )?;
        Ok(Self {
            api,
            token_env: settings.token_env.clone(),
            app_name_pattern: settings.app_name_pattern.clone(),
        })
    }

    /// The Application of annotation value `app` in `env`.
    pub fn app_name(&self, app: &str, env: &Environment) -> String {
        self.app_name_pattern
            .replace("{app}", app)
            .replace("{env}", env.as_str())
    }

    /// The Applications of `service` in `envs`, each read once; `None` when the service has
    /// no `argocd/app-name` annotation.
    pub async fn for_service(
        &self,
        service: &Service,
        envs: &[&Environment],
    ) -> Option<Vec<(Environment, String, Result<AppStatus, ArgoError>)>> {
        let app = service
            .annotations
            .get(APP_NAME_ANNOTATION)
            .map(|a| a.trim())
            .filter(|a| !a.is_empty())?;
        let names: Vec<(Environment, String)> = envs
            .iter()
            .map(|e| ((*e).clone(), self.app_name(app, e)))
            .collect();
        let unique: BTreeSet<&String> = names.iter().map(|(_, n)| n).collect();
        let fetched: HashMap<&String, Result<AppStatus, ArgoError>> = join_all(
            unique
                .into_iter()
                .map(|n| async move { (n, self.application(n).await) }),
        )
        .await
        .into_iter()
        .collect();
        Some(
            names
                .iter()
                .map(|(env, name)| {
                    let status = fetched
                        .get(name)
                        .cloned()
                        .unwrap_or_else(|| Err(ArgoError::NoSuchApplication(name.clone())));
                    (env.clone(), name.clone(), status)
                })
                .collect(),
        )
    }

    pub async fn application(&self, name: &str) -> Result<AppStatus, ArgoError> {
        let app: Application = self
            .api
            .get_json(
                &["api", "v1", "applications", name],
                &[],
                &format!("Application `{name}`"),
            )
            .await
            .map_err(|e| match e {
                HttpError::TokenRejected { .. } => ArgoError::TokenRejected {
                    token_env: self.token_env.clone(),
                },
                HttpError::NotFound { .. } => ArgoError::NoSuchApplication(name.to_owned()),
                HttpError::Forbidden { .. } => ArgoError::Forbidden(name.to_owned()),
                other => ArgoError::Http(other),
            })?;
        Ok(app.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_application_reads_into_its_status() {
        let app: Application = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "cart-prod", "namespace": "argocd"},
            "spec": {"source": {"repoURL": "https://git.example.com/cart.git", "targetRevision": "main"}},
            "status": {
                "sync": {"status": "OutOfSync", "revision": "4f2c1a9e0b5d6c7f8a9b0c1d2e3f4a5b6c7d8e9f"},
                "health": {"status": "Degraded", "message": "Deployment has 1 unavailable replica"},
                "operationState": {"phase": "Failed", "message": "one or more objects failed to apply",
                    "finishedAt": "2026-03-04T10:12:00Z", "syncResult": {"revision": "4f2c1a9"}}
            }
        }))
        .unwrap();
        let s = AppStatus::from(app);
        assert_eq!(s.target_revision.as_deref(), Some("main"));
        assert_eq!(
            s.line(),
            "Argo CD `cart-prod`: OutOfSync, Degraded at 4f2c1a9 (Deployment has 1 unavailable replica); last sync Failed 2026-03-04 10:12 UTC: one or more objects failed to apply"
        );
        let empty = AppStatus::from(Application::default());
        assert_eq!(
            (empty.sync.as_str(), empty.health.as_str()),
            ("Unknown", "Unknown")
        );
    }
}
