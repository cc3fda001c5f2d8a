//! `create_namespace`: a team's namespace on the golden path (Namespace, quota,
//! limits, RoleBinding, NetworkPolicies), validated by a server-side dry run,
//! applied with server-side apply as field manager `platbot`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};

use super::args::CreateNamespaceArgs;
use super::golden_path::render;
use super::{
    ActionContext, ActionError, ChangePlan, DryRun, MutateAction, PlanOutcome, PlannedChange,
};
use crate::approval::ExecutionGrant;
use crate::domain::{Environment, NamespaceName};
use crate::platform::kube::api_code;

pub const FIELD_MANAGER: &str = "platbot";

pub struct CreateNamespace;

struct Prepared {
    name: NamespaceName,
    objects: Vec<DynamicObject>,
}

fn prepare(ctx: &ActionContext<'_>, args: &CreateNamespaceArgs) -> Result<Prepared, ActionError> {
    let catalog = &ctx.platform.catalog;
    let team = catalog.team(args.team.as_str()).ok_or_else(|| {
        let known: Vec<String> = catalog.teams().map(|t| t.name.to_string()).collect();
        ActionError::Unknown(format!(
            "there is no team `{}` in the catalog; known teams: {}",
            args.team,
            known.join(", ")
        ))
    })?;
    ctx.platform
        .environment(&args.environment)
        .map_err(ActionError::Unknown)?;
    let name = NamespaceName::for_team(&team.name, &args.environment)
        .map_err(|e| ActionError::InvalidArgs(e.to_string()))?;
    let vars = BTreeMap::from([
        ("namespace", name.to_string()),
        ("team", team.name.to_string()),
        ("environment", args.environment.to_string()),
        ("group", team.name.to_string()),
        ("owner_email", team.email.clone().unwrap_or_default()),
        ("requester", ctx.actor.id.to_string()),
    ]);
    let objects = render(&ctx.platform.golden_paths.namespace, &vars)
        .map_err(|e| ActionError::Failed(e.to_string()))?;
    Ok(Prepared { name, objects })
}

fn api_for(client: &kube::Client, obj: &DynamicObject) -> Result<Api<DynamicObject>, ActionError> {
    let types = obj
        .types
        .as_ref()
        .ok_or_else(|| ActionError::Failed("template object without apiVersion/kind".into()))?;
    let (group, version) = match types.api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", types.api_version.as_str()),
    };
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, &types.kind));
    Ok(match &obj.metadata.namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    })
}

fn kind_of(obj: &DynamicObject) -> String {
    obj.types
        .as_ref()
        .map(|t| t.kind.clone())
        .unwrap_or_default()
}

fn name_of(obj: &DynamicObject) -> String {
    obj.metadata.name.clone().unwrap_or_default()
}

/// Parses a rendered object into its typed API struct: catches template mistakes
/// in objects that cannot be dry-run before their namespace exists.
fn validate_locally(obj: &DynamicObject) -> Result<(), String> {
    let value = serde_json::to_value(obj).map_err(|e| e.to_string())?;
    let typed = match kind_of(obj).as_str() {
        "ResourceQuota" => serde_json::from_value::<ResourceQuota>(value).map(drop),
        "LimitRange" => serde_json::from_value::<LimitRange>(value).map(drop),
        "RoleBinding" => serde_json::from_value::<RoleBinding>(value).map(drop),
        "NetworkPolicy" => serde_json::from_value::<NetworkPolicy>(value).map(drop),
        "Namespace" => serde_json::from_value::<Namespace>(value).map(drop),
        _ => return Ok(()),
    };
    typed.map_err(|e| e.to_string())
}

fn detail_of(obj: &DynamicObject) -> Option<String> {
    let data = &obj.data;
    match kind_of(obj).as_str() {
        "Namespace" => obj.metadata.labels.as_ref().map(|l| {
            let pairs: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("labels {}", pairs.join(", "))
        }),
        "ResourceQuota" => data["spec"]["hard"].as_object().map(|h| {
            let pairs: Vec<String> = h
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect();
            format!("hard {}", pairs.join(", "))
        }),
        "RoleBinding" => Some(format!(
            "{} {} -> {} {}",
            data["subjects"][0]["kind"].as_str().unwrap_or("?"),
            data["subjects"][0]["name"].as_str().unwrap_or("?"),
            data["roleRef"]["kind"].as_str().unwrap_or("?"),
            data["roleRef"]["name"].as_str().unwrap_or("?")
        )),
        "LimitRange" => Some("container defaults and maximums".into()),
        "NetworkPolicy" => Some(
            if data["spec"]["ingress"].is_array() {
                "allow ingress from pods in the same namespace"
            } else {
                "deny all ingress by default"
            }
            .into(),
        ),
        _ => None,
    }
}

#[async_trait::async_trait]
impl MutateAction for CreateNamespace {
    type Args = CreateNamespaceArgs;
    const NAME: &'static str = "create_namespace";

    fn environment(args: &Self::Args) -> Option<Environment> {
        Some(args.environment.clone())
    }

    fn subject(args: &Self::Args) -> super::ChangeSubject {
        super::ChangeSubject::Team(args.team.clone())
    }

    async fn plan(
        &self,
        ctx: &ActionContext<'_>,
        args: &Self::Args,
    ) -> Result<PlanOutcome, ActionError> {
        let prepared = prepare(ctx, args)?;
        let cluster = ctx.platform.cluster_for(&args.environment)?;
        let client = cluster
            .client_for(ctx.actor)
            .map_err(crate::platform::PlatformError::from)?;
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let existing = namespaces
            .get_opt(prepared.name.as_str())
            .await
            .map_err(|e| crate::platform::PlatformError::from(cluster.explain(ctx.actor, e)))?;
        if let Some(ns) = existing {
            let owner = ns
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("platform.example.com/team"))
                .map_or(String::new(), |t| format!(" (owned by team {t})"));
            return Ok(PlanOutcome::NoChange(format!(
                "Namespace `{}` already exists{owner}; nothing to do.",
                prepared.name
            )));
        }

        let mut changes = Vec::new();
        let mut dry_run = DryRun {
            passed: true,
            message: String::new(),
        };
        let params = PatchParams::apply(FIELD_MANAGER).dry_run();
        for obj in &prepared.objects {
            let validation = if obj.metadata.namespace.is_none() {
                let api = api_for(&client, obj)?;
                match api.patch(&name_of(obj), &params, &Patch::Apply(obj)).await {
                    Ok(_) => "server-side dry run: ok".to_owned(),
                    Err(e) => {
                        dry_run.passed = false;
                        let explained = cluster.explain(ctx.actor, e);
                        format!("server-side dry run FAILED: {explained}")
                    }
                }
            } else {
                match validate_locally(obj) {
                    Ok(()) => "schema-checked; the server can dry-run it once the namespace exists"
                        .to_owned(),
                    Err(e) => {
                        dry_run.passed = false;
                        format!("INVALID: {e}")
                    }
                }
            };
            changes.push(PlannedChange {
                operation: "create".into(),
                kind: kind_of(obj),
                name: name_of(obj),
                namespace: obj.metadata.namespace.clone(),
                detail: detail_of(obj),
                validation,
            });
        }
        dry_run.message = if dry_run.passed {
            "the API server accepted the namespace in a dry run; the objects inside it passed schema checks".into()
        } else {
            "validation failed: confirming would fail; see the objects below".into()
        };
        Ok(PlanOutcome::Change(ChangePlan {
            summary: format!(
                "Create namespace `{}` for team {} in {} on the golden path ({} objects)",
                prepared.name,
                args.team,
                args.environment,
                changes.len()
            ),
            changes,
            dry_run,
        }))
    }

    async fn execute(
        &self,
        ctx: &ActionContext<'_>,
        args: Self::Args,
        _grant: &ExecutionGrant,
    ) -> Result<String, ActionError> {
        let prepared = prepare(ctx, &args)?;
        let cluster = ctx.platform.cluster_for(&args.environment)?;
        let client = cluster
            .client_for(ctx.actor)
            .map_err(crate::platform::PlatformError::from)?;
        let namespaces: Api<Namespace> = Api::all(client.clone());
        match namespaces.get_opt(prepared.name.as_str()).await {
            Ok(Some(_)) => {
                return Ok(format!(
                    "Namespace `{}` already exists (created since the proposal); nothing was changed.",
                    prepared.name
                ));
            }
            Ok(None) => {}
            Err(e) => {
                return Err(
                    crate::platform::PlatformError::from(cluster.explain(ctx.actor, e)).into(),
                );
            }
        }
        let params = PatchParams::apply(FIELD_MANAGER);
        let mut done = Vec::new();
        for obj in &prepared.objects {
            let api = api_for(&client, obj)?;
            let label = format!("{} {}", kind_of(obj), name_of(obj));
            if let Err(e) = api.patch(&name_of(obj), &params, &Patch::Apply(obj)).await {
                let code = api_code(&e).map_or(String::new(), |c| format!(" (HTTP {c})"));
                let explained = cluster.explain(ctx.actor, e);
                return Err(ActionError::Failed(format!(
                    "created {} of {} objects; {label} failed{code}: {explained}. Already created: {}",
                    done.len(),
                    prepared.objects.len(),
                    if done.is_empty() {
                        "nothing".to_owned()
                    } else {
                        done.join(", ")
                    }
                )));
            }
            done.push(label);
        }
        Ok(format!(
            "Created namespace `{}` for team {} in {}: {}.",
            prepared.name,
            args.team,
            args.environment,
            done.join(", ")
        ))
    }
}
