//! `create_namespace`: a team's namespace on the golden path (Namespace, quota,
//! limits, RoleBinding, NetworkPolicies), validated by a server-side dry run,
//! applied with server-side apply as field manager `platbot`.
//!
//! It runs (dry run and apply) as the cluster's provisioner identity, not as the requester:
//! developers may not create quotas or RoleBindings, and the approval policy is what
//! authorizes the request. Before proposing, a SelfSubjectAccessReview per object asks the
//! cluster whether that identity may create it; a plan that cannot run is not proposed. A
//! namespace that exists but lacks some golden-path objects (a run that failed half way) is
//! completed: only the missing objects are proposed, and only they are created.

use crate::domain::ToolName;
use k8s_openapi::api::authorization::v1::ResourceAttributes;
use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch};

use super::args::CreateNamespaceArgs;
use super::write::{Merge, Writer};
use super::{
    ActionContext, ActionError, ChangePlan, DryRun, MutateAction, PlanOutcome, PlannedChange,
};
use crate::approval::ExecutionGrant;
use crate::domain::{Environment, NamespaceName, TeamName};
use crate::platform::golden_path::{NamespaceVars, render};
use crate::platform::kube::{KubeIdentity, api_code};
use crate::platform::{Cluster, PlatformError};

pub struct CreateNamespace;

struct Prepared {
    name: NamespaceName,
    team: TeamName,
    objects: Vec<DynamicObject>,
}

/// The rendered golden path and the cluster it goes to. The team and environment are checked
/// before the cluster is looked up, so a bad name is named even without a cluster.
fn prepare<'a>(
    ctx: &ActionContext<'a>,
    args: &CreateNamespaceArgs,
) -> Result<(&'a Cluster, Prepared), ActionError> {
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
    let cluster = ctx.platform.cluster_for(&args.environment)?;
    let group = cluster.scope().team_group(team.name.as_str());
    let vars = NamespaceVars {
        namespace: name.as_str(),
        team: team.name.as_str(),
        environment: args.environment.as_str(),
        group: &group,
        owner_email: team.email.as_deref().unwrap_or_default(),
        requester: ctx.actor.id.as_str(),
    };
    let objects = render(&ctx.platform.golden_paths.namespace, &vars.to_map())
        .map_err(|e| ActionError::Failed(e.to_string()))?;
    let prepared = Prepared {
        name,
        team: team.name.clone(),
        objects,
    };
    Ok((cluster, prepared))
}

fn resource_of(obj: &DynamicObject) -> Result<ApiResource, ActionError> {
    let types = obj
        .types
        .as_ref()
        .ok_or_else(|| ActionError::Failed("template object without apiVersion/kind".into()))?;
    let (group, version) = match types.api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", types.api_version.as_str()),
    };
    Ok(ApiResource::from_gvk(&GroupVersionKind::gvk(
        group,
        version,
        &types.kind,
    )))
}

fn api_for(client: &kube::Client, obj: &DynamicObject) -> Result<Api<DynamicObject>, ActionError> {
    let resource = resource_of(obj)?;
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

/// Who runs the golden path, in words: `platbot-provisioner`, or platbot itself.
fn executor_label(executor: Option<&KubeIdentity>) -> String {
    executor.map_or_else(
        || "platbot's own service account".to_owned(),
        ToString::to_string,
    )
}

fn label_of(obj: &DynamicObject) -> String {
    format!("{} {}", kind_of(obj), name_of(obj))
}

/// The SelfSubjectAccessReview attributes of `verb` on `obj`, as the write request would have
/// them (a Namespace is in its own namespace).
fn attributes(obj: &DynamicObject, verb: &str) -> Result<ResourceAttributes, ActionError> {
    let resource = resource_of(obj)?;
    let namespace = if kind_of(obj) == "Namespace" {
        obj.metadata.name.clone()
    } else {
        obj.metadata.namespace.clone()
    };
    Ok(ResourceAttributes {
        group: Some(resource.group),
        version: Some(resource.version),
        resource: Some(resource.plural),
        namespace,
        name: obj.metadata.name.clone(),
        verb: Some(verb.to_owned()),
        ..Default::default()
    })
}

/// Whether `executor` may create `obj` with server-side apply (`create` and `patch`);
/// `Err` names what the cluster refused.
async fn may_apply(
    cluster: &Cluster,
    executor: Option<&KubeIdentity>,
    obj: &DynamicObject,
) -> Result<Result<(), String>, ActionError> {
    for verb in ["create", "patch"] {
        let access = cluster
            .access(executor, attributes(obj, verb)?)
            .await
            .map_err(PlatformError::from)?;
        if !access.allowed {
            let resource = resource_of(obj)?;
            let place = obj
                .metadata
                .namespace
                .as_ref()
                .map_or_else(String::new, |ns| format!(" in namespace {ns}"));
            return Ok(Err(format!(
                "{} may not {verb} {}{place}",
                executor_label(executor),
                resource.plural
            )));
        }
    }
    Ok(Ok(()))
}

/// Which golden-path objects exist already (`true`), read as `executor`. Without the
/// namespace nothing inside it can exist.
async fn existing(
    cluster: &Cluster,
    client: &kube::Client,
    executor: Option<&KubeIdentity>,
    objects: &[DynamicObject],
) -> Result<Vec<bool>, ActionError> {
    let mut found = Vec::with_capacity(objects.len());
    let mut namespace_exists = true;
    for obj in objects {
        if obj.metadata.namespace.is_some() && !namespace_exists {
            found.push(false);
            continue;
        }
        let there = api_for(client, obj)?
            .get_opt(&name_of(obj))
            .await
            .map_err(|e| PlatformError::from(cluster.explain_as(executor, e)))?
            .is_some();
        if kind_of(obj) == "Namespace" {
            namespace_exists = there;
        }
        found.push(there);
    }
    Ok(found)
}

/// The team label of an existing namespace, when it names another team.
async fn other_owner(
    cluster: &Cluster,
    client: &kube::Client,
    executor: Option<&KubeIdentity>,
    prepared: &Prepared,
) -> Result<Option<String>, ActionError> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns = namespaces
        .get_opt(prepared.name.as_str())
        .await
        .map_err(|e| PlatformError::from(cluster.explain_as(executor, e)))?;
    Ok(ns
        .and_then(|ns| ns.metadata.labels)
        .and_then(|l| l.get("platform.example.com/team").cloned())
        .filter(|owner| owner != prepared.team.as_str()))
}

/// How one object to create is validated: access first, then a server-side dry run where the
/// server can do one (the namespace exists, or it is the Namespace itself).
async fn check_object(
    cluster: &Cluster,
    client: &kube::Client,
    executor: Option<&KubeIdentity>,
    obj: &DynamicObject,
    namespace_exists: bool,
) -> Result<Check, ActionError> {
    if let Err(refused) = may_apply(cluster, executor, obj).await? {
        return Ok(Check::Denied(refused));
    }
    let allowed = format!("{} may create it", executor_label(executor));
    if obj.metadata.namespace.is_some() && !namespace_exists {
        return Ok(match validate_locally(obj) {
            Ok(()) => Check::Passed(format!(
                "{allowed}; schema-checked (the server can dry-run it once the namespace exists)"
            )),
            Err(e) => Check::Invalid(format!("{allowed}; INVALID: {e}")),
        });
    }
    let api = api_for(client, obj)?;
    let writer = Writer::dry_run(Merge::ServerSideApply);
    Ok(
        match writer.patch(&api, &name_of(obj), &Patch::Apply(obj)).await {
            Ok(_) => Check::Passed(format!("{allowed}; server-side dry run: ok")),
            Err(e) if api_code(&e) == Some(403) => {
                Check::Denied(cluster.explain_as(executor, e).to_string())
            }
            Err(e) => Check::Invalid(format!(
                "{allowed}; server-side dry run FAILED: {}",
                cluster.explain_as(executor, e)
            )),
        },
    )
}

/// The verdict on one object of the plan.
enum Check {
    Passed(String),
    /// The cluster's RBAC would refuse it: nothing is proposed.
    Denied(String),
    /// Refused for another reason (validation): proposed with a failed dry run, as before.
    Invalid(String),
}

#[async_trait::async_trait]
impl MutateAction for CreateNamespace {
    type Args = CreateNamespaceArgs;
    const NAME: ToolName = ToolName::CreateNamespace;
    const DOES: &'static str = "create namespaces";

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
        let (cluster, prepared) = prepare(ctx, args)?;
        let executor = cluster.provisioner_for(ctx.actor);
        let client = cluster
            .client_as(executor.as_ref())
            .map_err(PlatformError::from)?;
        let found = existing(cluster, &client, executor.as_ref(), &prepared.objects).await?;
        let namespace_exists = found.first().copied().unwrap_or(false);
        if namespace_exists
            && let Some(owner) = other_owner(cluster, &client, executor.as_ref(), &prepared).await?
        {
            return Ok(PlanOutcome::NoChange(format!(
                "Namespace `{}` already exists and belongs to team {owner}; I will not change it for team {}.",
                prepared.name, prepared.team
            )));
        }
        let missing: Vec<&DynamicObject> = prepared
            .objects
            .iter()
            .zip(&found)
            .filter(|(_, there)| !**there)
            .map(|(obj, _)| obj)
            .collect();
        if missing.is_empty() {
            let all: Vec<String> = prepared.objects.iter().map(label_of).collect();
            return Ok(PlanOutcome::NoChange(format!(
                "Namespace `{}` already exists with every golden-path object ({}); nothing to do.",
                prepared.name,
                all.join(", ")
            )));
        }

        let mut changes = Vec::new();
        let mut denied = Vec::new();
        let mut passed = true;
        for obj in &missing {
            let check =
                check_object(cluster, &client, executor.as_ref(), obj, namespace_exists).await?;
            let validation = match check {
                Check::Passed(text) => text,
                Check::Invalid(text) => {
                    passed = false;
                    text
                }
                Check::Denied(why) => {
                    denied.push(format!("{}: DENIED: {why}", label_of(obj)));
                    format!("DENIED: {why}")
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
        let who = executor_label(executor.as_ref());
        if !denied.is_empty() {
            let per_object: Vec<String> = changes
                .iter()
                .map(|c| format!("- {} {}: {}", c.kind, c.name, c.validation))
                .collect();
            return Err(ActionError::Failed(format!(
                "I can't propose namespace `{}`: the cluster would refuse {who}, who runs the golden path, for {} of {} objects, so confirming could not work. Ask the platform team to grant the provisioner these rights.\n{}",
                prepared.name,
                denied.len(),
                changes.len(),
                per_object.join("\n")
            )));
        }
        let summary = if namespace_exists {
            format!(
                "Complete namespace `{}` for team {} in {}: {} of {} golden-path objects are missing; create them as {who}",
                prepared.name,
                args.team,
                args.environment,
                changes.len(),
                prepared.objects.len()
            )
        } else {
            format!(
                "Create namespace `{}` for team {} in {} on the golden path ({} objects), as {who}",
                prepared.name,
                args.team,
                args.environment,
                changes.len()
            )
        };
        let message = match (passed, namespace_exists) {
            (false, _) => "validation failed: confirming would fail; see the objects below".into(),
            (true, true) => format!(
                "{who} may create every missing object, and the API server accepted each in a dry run"
            ),
            (true, false) => format!(
                "{who} may create every object; the API server accepted the namespace in a dry run and the objects inside it passed schema checks"
            ),
        };
        Ok(PlanOutcome::Change(ChangePlan {
            summary,
            changes,
            dry_run: DryRun { passed, message },
            precondition: None,
        }))
    }

    async fn execute(
        &self,
        ctx: &ActionContext<'_>,
        args: Self::Args,
        grant: &ExecutionGrant,
    ) -> Result<String, ActionError> {
        let (cluster, prepared) = prepare(ctx, &args)?;
        let executor = cluster.provisioner_for(ctx.actor);
        let who = executor_label(executor.as_ref());
        let client = cluster
            .client_as(executor.as_ref())
            .map_err(PlatformError::from)?;
        // Exactly what was proposed: the objects of the confirmed plan, and only the missing ones.
        let proposal = grant.proposal();
        let planned: Vec<&DynamicObject> = prepared
            .objects
            .iter()
            .filter(|obj| {
                proposal.plan.changes.iter().any(|c| {
                    c.kind == kind_of(obj)
                        && c.name == name_of(obj)
                        && c.namespace == obj.metadata.namespace
                })
            })
            .collect();
        let approvers: Vec<String> = proposal.approvals.iter().map(ToString::to_string).collect();
        let authorized = format!(
            "as {who}, requested by {}, approved by {}",
            proposal.requester,
            if approvers.is_empty() {
                "nobody".to_owned()
            } else {
                approvers.join(" and ")
            }
        );
        let writer = Writer::granted(grant, Merge::ServerSideApply);
        let mut done = Vec::new();
        let mut skipped = Vec::new();
        for obj in &planned {
            let api = api_for(&client, obj)?;
            let label = label_of(obj);
            let there = api
                .get_opt(&name_of(obj))
                .await
                .map_err(|e| PlatformError::from(cluster.explain_as(executor.as_ref(), e)))?;
            if there.is_some() {
                skipped.push(label);
                continue;
            }
            if let Err(e) = writer.patch(&api, &name_of(obj), &Patch::Apply(*obj)).await {
                let code = api_code(&e).map_or(String::new(), |c| format!(" (HTTP {c})"));
                let explained = cluster.explain_as(executor.as_ref(), e);
                return Err(ActionError::Failed(format!(
                    "created {} of {} objects ({authorized}); {label} failed{code}: {explained}. Already created: {}. Ask for the namespace again to complete it.",
                    done.len(),
                    planned.len(),
                    if done.is_empty() {
                        "nothing".to_owned()
                    } else {
                        done.join(", ")
                    }
                )));
            }
            done.push(label);
        }
        if done.is_empty() {
            return Ok(format!(
                "Every object of the plan for namespace `{}` exists already (created since the proposal); nothing was changed.",
                prepared.name
            ));
        }
        let also = if skipped.is_empty() {
            String::new()
        } else {
            format!(" (already there: {})", skipped.join(", "))
        };
        let verb = if planned.len() == prepared.objects.len() {
            "Created"
        } else {
            "Completed"
        };
        Ok(format!(
            "{verb} namespace `{}` for team {} in {} {authorized}: {}{also}.",
            prepared.name,
            args.team,
            args.environment,
            done.join(", ")
        ))
    }
}
