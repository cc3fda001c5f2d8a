//! Service and Ingress analyzers: a Service with no ready endpoints, a selector that
//! matches no pods, a targetPort the pods do not expose, an Ingress whose backend Service
//! (or port) does not exist.
//!
//! Endpoints are computed from the pods the way the endpoints controller does (selected
//! and Ready), so the answer does not depend on an Endpoints object being current.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, Service as KubeService};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::facts::{map_selects, name_of};
use super::finding::{Evidence, Finding, Remediation, Severity};
use super::snapshot::{Snapshot, revision_of};

fn ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|st| st.conditions.as_deref())
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

fn labels_text(m: &BTreeMap<String, String>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

pub fn analyze(s: &Snapshot) -> Vec<Finding> {
    let mut out = Vec::new();
    for svc in s.workload_services() {
        out.extend(service(s, svc));
    }
    out.extend(ingresses(s));
    out
}

fn service(s: &Snapshot, svc: &KubeService) -> Vec<Finding> {
    let name = name_of(&svc.metadata);
    let Some(spec) = &svc.spec else {
        return Vec::new();
    };
    if spec.type_.as_deref() == Some("ExternalName") {
        return Vec::new();
    }
    let Some(selector) = spec.selector.as_ref().filter(|m| !m.is_empty()) else {
        // Without a selector the endpoints are managed by hand; nothing to compare.
        return Vec::new();
    };
    let selected: Vec<&Pod> = s
        .pods
        .iter()
        .filter(|p| map_selects(selector, p.metadata.labels.as_ref()))
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    let mut out = Vec::new();
    if selected.is_empty() {
        out.push(selector_matches_nothing(s, svc, selector));
        return out;
    }
    let ready_pods: Vec<&&Pod> = selected.iter().filter(|p| ready(p)).collect();
    if ready_pods.is_empty() {
        let mut f = Finding::new(
            "service.no_endpoints",
            Severity::Critical,
            s.object("Service", name),
            format!(
                "Service {name} has no ready endpoints: all {} selected pod(s) are unready, so traffic to it fails",
                selected.len()
            ),
        )
        .with(Evidence::fact(format!(
            "selector {} matches {} pod(s), 0 Ready",
            labels_text(selector),
            selected.len()
        )))
        .cause("Pods only become endpoints when Ready; none is (see the pod findings for why).")
        .fix("Fix what keeps the pods from becoming Ready; the endpoints follow by themselves.")
        .doc("troubleshooting-pods.md#running-but-not-ready");
        f.affected = selected
            .iter()
            .map(|p| name_of(&p.metadata).to_owned())
            .collect();
        out.push(f);
    }
    out.extend(port_mismatch(s, svc, &selected));
    out
}

fn selector_matches_nothing(
    s: &Snapshot,
    svc: &KubeService,
    selector: &BTreeMap<String, String>,
) -> Finding {
    let name = name_of(&svc.metadata);
    let desired = s
        .deployment
        .as_ref()
        .and_then(|d| d.spec.as_ref())
        .and_then(|sp| sp.replicas);
    let template = s.template_labels();
    let template_matches = template.is_some_and(|t| map_selects(selector, Some(t)));
    let mut f = Finding::new(
        "service.selector_no_pods",
        Severity::Critical,
        s.object("Service", name),
        format!(
            "Service {name} selects no pods ({}): it has no endpoints",
            labels_text(selector)
        ),
    )
    .with(Evidence::fact(format!(
        "spec.selector: {}",
        labels_text(selector)
    )));
    if let Some(t) = template {
        f = f.with(Evidence::fact(format!(
            "Deployment {} labels its pods {}",
            s.workload,
            labels_text(t)
        )));
    }
    if template_matches && desired == Some(0) {
        // The selector is right: the Deployment runs no pods.
        let replicas = previous_replicas(s);
        f = f
            .cause(format!(
                "Deployment {} is scaled to 0 replicas, so the Service has nothing to send traffic to.",
                s.workload
            ))
            .fix(format!("Scale it back up (to {replicas})."))
            .remedy(Some(Remediation::scale(
                &s.service,
                &s.environment,
                replicas,
                scale_reasoning(s, replicas),
                None,
            )));
    } else if template_matches {
        f = f
            .cause("The selector matches the Deployment's pod labels but no pod exists yet (none created, or all deleted).")
            .fix("See the Deployment findings for why it has no pods.");
    } else {
        let diff: Vec<String> = selector
            .iter()
            .filter(|(k, v)| template.and_then(|t| t.get(*k)) != Some(*v))
            .map(|(k, v)| match template.and_then(|t| t.get(k)) {
                Some(actual) => format!("`{k}={v}` (pods have `{k}={actual}`)"),
                None => format!("`{k}={v}` (pods have no `{k}` label)"),
            })
            .collect();
        f = f
            .cause(format!(
                "The selector does not match the pods' labels: {}.",
                if diff.is_empty() {
                    "no pod carries these labels".to_owned()
                } else {
                    diff.join(", ")
                }
            ))
            .fix("Make the Service selector a subset of the pod template's labels (or fix the template labels).");
    }
    f.doc("networking.md#exposing-a-service")
}

/// The replica count to come back to after a scale to zero: the HPA's minimum, the newest
/// ReplicaSet that ran pods, else 1.
fn previous_replicas(s: &Snapshot) -> u32 {
    let hpa_min = s
        .hpas
        .iter()
        .find(|h| {
            h.spec.as_ref().is_some_and(|sp| {
                sp.scale_target_ref.kind == "Deployment" && sp.scale_target_ref.name == s.workload
            })
        })
        .and_then(|h| h.spec.as_ref().and_then(|sp| sp.min_replicas));
    let from_history = s
        .revisions()
        .into_iter()
        .rev()
        .filter_map(|(_, rs)| {
            rs.metadata
                .annotations
                .as_ref()?
                .get("deployment.kubernetes.io/desired-replicas")?
                .parse::<i32>()
                .ok()
        })
        .find(|n| *n > 0);
    let n = hpa_min.or(from_history).unwrap_or(1).max(1);
    u32::try_from(n).unwrap_or(1)
}

fn scale_reasoning(s: &Snapshot, replicas: u32) -> String {
    let revision = s
        .current_revision()
        .or_else(|| s.deployment.as_ref().and_then(|d| revision_of(&d.metadata)));
    format!(
        "The Deployment runs 0 replicas, so Service traffic fails; {replicas} replica(s) is {} (revision {}).",
        if replicas == 1 {
            "the smallest count that serves"
        } else {
            "what it ran before"
        },
        revision.map_or_else(|| "?".to_owned(), |r| r.to_string())
    )
}

fn port_mismatch(s: &Snapshot, svc: &KubeService, pods: &[&Pod]) -> Vec<Finding> {
    let name = name_of(&svc.metadata);
    let Some(spec) = &svc.spec else {
        return Vec::new();
    };
    let container_ports: Vec<(Option<String>, i32)> = pods
        .first()
        .and_then(|p| p.spec.as_ref())
        .map(|sp| {
            sp.containers
                .iter()
                .flat_map(|c| c.ports.as_deref().unwrap_or_default())
                .map(|p| (p.name.clone(), p.container_port))
                .collect()
        })
        .unwrap_or_default();
    let shown = container_ports
        .iter()
        .map(|(n, p)| match n {
            Some(n) => format!("{n}={p}"),
            None => p.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let mut out = Vec::new();
    for port in spec.ports.as_deref().unwrap_or_default() {
        let target = port
            .target_port
            .clone()
            .unwrap_or(IntOrString::Int(port.port));
        let (ok, text) = match &target {
            IntOrString::String(n) => (
                container_ports
                    .iter()
                    .any(|(name, _)| name.as_deref() == Some(n)),
                format!("named port `{n}`"),
            ),
            // A numeric targetPort works even if undeclared; flag it only when the pods
            // declare ports and none is this one.
            IntOrString::Int(n) => (
                container_ports.is_empty() || container_ports.iter().any(|(_, p)| p == n),
                format!("port {n}"),
            ),
        };
        if ok {
            continue;
        }
        let severity = if matches!(target, IntOrString::String(_)) {
            Severity::Critical
        } else {
            Severity::Warning
        };
        out.push(
            Finding::new(
                "service.port_mismatch",
                severity,
                s.object("Service", name),
                format!(
                    "Service {name} port {} sends traffic to {text}, which its pods do not expose",
                    port.port
                ),
            )
            .with(Evidence::fact(format!(
                "Service port {} -> targetPort {}",
                port.port,
                match &target {
                    IntOrString::String(n) => n.clone(),
                    IntOrString::Int(n) => n.to_string(),
                }
            )))
            .with(Evidence::fact(format!(
                "the selected pods' container ports: {}",
                if shown.is_empty() { "none declared".to_owned() } else { shown.clone() }
            )))
            .cause(match target {
                IntOrString::String(_) => "A named targetPort only resolves if the container declares a port with that name; otherwise the Service has no usable endpoint port and connections fail.".to_owned(),
                IntOrString::Int(_) => "Connections are sent to a port the containers do not declare; unless the app listens there anyway, they are refused.".to_owned(),
            })
            .fix("Set the Service's targetPort to the container port the app listens on (or name the container port accordingly).")
            .doc("networking.md#exposing-a-service"),
        );
    }
    out
}

fn ingresses(s: &Snapshot) -> Vec<Finding> {
    let ours: Vec<String> = s
        .workload_services()
        .iter()
        .map(|svc| name_of(&svc.metadata).to_owned())
        .collect();
    let mut out = Vec::new();
    for ing in &s.ingresses {
        let ing_name = name_of(&ing.metadata);
        let Some(spec) = &ing.spec else { continue };
        let mut backends = Vec::new();
        if let Some(b) = spec
            .default_backend
            .as_ref()
            .and_then(|b| b.service.as_ref())
        {
            backends.push(("(default)".to_owned(), b));
        }
        for rule in spec.rules.as_deref().unwrap_or_default() {
            let host = rule.host.clone().unwrap_or_else(|| "*".into());
            for path in rule
                .http
                .as_ref()
                .map(|h| h.paths.as_slice())
                .unwrap_or_default()
            {
                if let Some(b) = &path.backend.service {
                    backends.push((format!("{host}{}", path.path.as_deref().unwrap_or("/")), b));
                }
            }
        }
        let relevant = s.belongs(&ing.metadata)
            || backends
                .iter()
                .any(|(_, b)| ours.contains(&b.name) || b.name.starts_with(&s.workload));
        if !relevant {
            continue;
        }
        for (route, backend) in backends {
            let svc = s
                .services
                .iter()
                .find(|x| name_of(&x.metadata) == backend.name);
            let port = backend.port.as_ref();
            let port_text = port
                .map(|p| {
                    p.number
                        .map(|n| n.to_string())
                        .or_else(|| p.name.clone())
                        .unwrap_or_default()
                })
                .unwrap_or_default();
            match svc {
                None => {
                    let existing: Vec<String> = s
                        .services
                        .iter()
                        .map(|x| name_of(&x.metadata).to_owned())
                        .collect();
                    let similar = super::config_refs::nearest(&backend.name, &existing);
                    let mut f = Finding::new(
                        "ingress.backend_missing",
                        Severity::Critical,
                        s.object("Ingress", ing_name),
                        format!(
                            "Ingress {ing_name} routes {route} to Service `{}`, which does not exist",
                            backend.name
                        ),
                    )
                    .with(Evidence::fact(format!(
                        "backend: service {} port {port_text}",
                        backend.name
                    )))
                    .cause("The ingress controller has nowhere to send these requests and answers 503 (or 404).");
                    if let Some(sim) = &similar {
                        f = f.with(Evidence::fact(format!("a Service named `{sim}` exists")));
                    }
                    f = f
                        .fix(match similar {
                            Some(sim) => format!(
                                "Point the backend at Service `{sim}` (or create `{}`).",
                                backend.name
                            ),
                            None => format!(
                                "Create Service `{}` or fix the Ingress backend.",
                                backend.name
                            ),
                        })
                        .doc("networking.md#exposing-a-service");
                    out.push(f);
                }
                Some(svc) => {
                    let ports = svc
                        .spec
                        .as_ref()
                        .and_then(|sp| sp.ports.clone())
                        .unwrap_or_default();
                    let found = port.is_none_or(|p| {
                        ports.iter().any(|sp| {
                            p.number == Some(sp.port) || (p.name.is_some() && p.name == sp.name)
                        })
                    });
                    if !found {
                        let have = ports
                            .iter()
                            .map(|p| {
                                format!(
                                    "{}{}",
                                    p.name
                                        .as_deref()
                                        .map(|n| format!("{n}="))
                                        .unwrap_or_default(),
                                    p.port
                                )
                            })
                            .collect::<Vec<_>>()
                            .join(", ");
                        out.push(
                            Finding::new(
                                "ingress.backend_port",
                                Severity::Critical,
                                s.object("Ingress", ing_name),
                                format!(
                                    "Ingress {ing_name} routes {route} to port {port_text} of Service {}, which has no such port",
                                    backend.name
                                ),
                            )
                            .with(Evidence::fact(format!("Service {} ports: {have}", backend.name)))
                            .cause("The ingress controller cannot resolve the backend port and fails the requests.")
                            .fix("Use one of the Service's ports in the Ingress backend.")
                            .doc("networking.md#exposing-a-service"),
                        );
                    }
                }
            }
        }
    }
    out
}
