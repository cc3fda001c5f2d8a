//! The sandbox's workloads: a Deployment per service and environment, with its ReplicaSets,
//! Service, ConfigMap and Events.

use super::*;

impl Builder {
    pub(super) fn workload(&mut self, service: &Service, env: Env) {
        let trouble = TROUBLE
            .iter()
            .find(|(s, e, _)| *s == service.name && *e == env)
            .map(|(_, _, t)| *t);
        let tags = match env {
            // Prod runs one tag behind staging (the same tag when there is only one).
            Env::Prod => {
                &service.tags[..service
                    .tags
                    .len()
                    .saturating_sub(1)
                    .max(1)
                    .min(service.tags.len())]
            }
            _ => service.tags,
        };
        // Revisions index from the newest tag; a service without tags has nothing to run.
        if tags.is_empty() {
            return;
        }
        let namespace = format!("{}-{}", service.team, env.name());
        let rollout_age = match (trouble, env) {
            (Some(Trouble::ImagePull), _) => SignedDuration::from_mins(25),
            (Some(Trouble::StalledRollout), _) => SignedDuration::from_hours(2),
            (_, Env::Prod) => jiff::SignedDuration::from_hours(24 * (6)),
            _ => jiff::SignedDuration::from_hours(24 * (2)),
        };
        let revisions = tags
            .iter()
            .enumerate()
            .map(|(i, (tag, cause))| {
                let hash = suffix(&format!("{namespace}/{}/{tag}", service.name), 10);
                let age = rollout_age + days(14 * (tags.len() - 1 - i) as i64);
                Revision {
                    number: i + 1,
                    tag,
                    cause,
                    rs_name: format!("{}-{hash}", service.name),
                    hash,
                    age,
                }
            })
            .collect();
        let replicas = match env {
            Env::Prod => service.prod_replicas,
            Env::Staging => 2,
            Env::Dev => 1,
        };
        let w = Workload {
            service,
            env,
            namespace,
            replicas,
            revisions,
            trouble,
        };
        self.workload_objects(&w);
    }

    pub(super) fn workload_objects(&mut self, w: &Workload<'_>) {
        let pods = w.pods();
        let deployment = self.deployment(w, &pods);
        self.push(deployment);
        for (index, revision) in w.revisions.iter().enumerate() {
            let states: &[PodState] = pods
                .iter()
                .find(|(i, _)| *i == index)
                .map_or(&[], |(_, s)| s.as_slice());
            let rs = self.replica_set(w, revision, states);
            self.push(rs);
            for (n, state) in states.iter().enumerate() {
                self.pod(w, revision, n, *state);
            }
        }
        self.service(w);
        if w.service.name == "search" {
            self.search_config(w);
        }
        self.deployment_events(w);
    }

    pub(super) fn template(&self, w: &Workload<'_>, revision: &Revision) -> Value {
        let mut env = vec![
            json!({ "name": "APP_ENV", "value": w.env.name() }),
            json!({ "name": "OTEL_SERVICE_NAME", "value": w.service.name }),
        ];
        if w.service.name == "search" {
            env.push(json!({ "name": "SEARCH_OPENSEARCH_URL", "valueFrom": { "configMapKeyRef": { "name": "search-config", "key": "opensearch-url", "optional": true } } }));
        }
        let mut labels = w.labels();
        labels["app.kubernetes.io/version"] = json!(revision.tag);
        json!({
            "metadata": { "labels": labels, "annotations": { "kubectl.kubernetes.io/default-container": w.service.name } },
            "spec": {
                "containers": [{
                    "name": w.service.name,
                    "image": w.image(revision.tag),
                    "imagePullPolicy": "IfNotPresent",
                    "ports": [{ "name": "http", "containerPort": 8080, "protocol": "TCP" }],
                    "env": env,
                    "resources": {
                        "requests": { "cpu": "250m", "memory": w.service.memory },
                        "limits": { "cpu": "1", "memory": w.service.memory },
                    },
                    "readinessProbe": { "httpGet": { "path": "/readyz", "port": "http", "scheme": "HTTP" }, "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3 },
                    "livenessProbe": { "httpGet": { "path": "/healthz", "port": "http", "scheme": "HTTP" }, "periodSeconds": 20, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3 },
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                }],
                "restartPolicy": "Always",
                "terminationGracePeriodSeconds": 30,
                "dnsPolicy": "ClusterFirst",
                "serviceAccountName": "default",
                "schedulerName": "default-scheduler",
                "securityContext": { "runAsNonRoot": true },
            }
        })
    }

    pub(super) fn deployment(&self, w: &Workload<'_>, pods: &[(usize, Vec<PodState>)]) -> Value {
        let current = w.current();
        let name = w.service.name;
        let mut meta = self.meta(
            name,
            Some(&w.namespace),
            &format!("{}/deploy/{name}", w.namespace),
            jiff::SignedDuration::from_hours(24 * (380)),
        );
        meta["labels"] = w.labels();
        meta["annotations"] = json!({ "deployment.kubernetes.io/revision": current.number.to_string(), "kubernetes.io/change-cause": current.cause });
        meta["generation"] = json!(current.number);
        let spec = json!({
            "replicas": w.replicas,
            "selector": { "matchLabels": { "app.kubernetes.io/name": name } },
            "template": self.template(w, current),
            "strategy": { "type": "RollingUpdate", "rollingUpdate": { "maxSurge": "25%", "maxUnavailable": "25%" } },
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        });
        json!({ "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec, "status": self.deployment_status(w, pods) })
    }

    pub(super) fn deployment_status(
        &self,
        w: &Workload<'_>,
        pods: &[(usize, Vec<PodState>)],
    ) -> Value {
        let current_index = w.revisions.len() - 1;
        let all = pods.iter().flat_map(|(_, s)| s.iter());
        let total = all.clone().count() as i64;
        let ready = all.filter(|s| s.ready()).count() as i64;
        let updated = pods
            .iter()
            .filter(|(i, _)| *i == current_index)
            .map(|(_, s)| s.len() as i64)
            .sum::<i64>();
        let max_unavailable = w.replicas / 4;
        let available_ok = ready >= w.replicas - max_unavailable;
        let rs = &w.current().rs_name;
        let (progress_status, progress_reason, progress_message, progress_age) = match w.trouble {
            Some(Trouble::ImagePull) => (
                "True",
                "ReplicaSetUpdated",
                format!("ReplicaSet \"{rs}\" is progressing."),
                SignedDuration::from_mins(24),
            ),
            Some(Trouble::StalledRollout) => (
                "False",
                "ProgressDeadlineExceeded",
                format!("ReplicaSet \"{rs}\" has timed out progressing."),
                SignedDuration::from_mins(110),
            ),
            _ => (
                "True",
                "NewReplicaSetAvailable",
                format!("ReplicaSet \"{rs}\" has successfully progressed."),
                w.current().age - SignedDuration::from_mins(3),
            ),
        };
        let available_age = match w.trouble {
            Some(Trouble::CrashLoop) => SignedDuration::from_mins(34),
            Some(Trouble::Unschedulable) => SignedDuration::from_mins(48),
            _ => w.current().age - SignedDuration::from_mins(2),
        };
        let available = if available_ok {
            json!({ "type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability." })
        } else {
            json!({ "type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability." })
        };
        let mut available = available;
        available["lastUpdateTime"] = json!(self.at(available_age));
        available["lastTransitionTime"] = json!(self.at(available_age));
        let progressing = json!({
            "type": "Progressing", "status": progress_status, "reason": progress_reason, "message": progress_message,
            "lastUpdateTime": self.at(progress_age), "lastTransitionTime": self.at(w.current().age),
        });
        let mut status = json!({
            "observedGeneration": w.current().number,
            "replicas": total,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": [available, progressing],
        });
        if total > ready {
            status["unavailableReplicas"] = json!(total - ready);
        }
        if ready == 0 {
            remove_keys(&mut status, &["readyReplicas", "availableReplicas"]);
        }
        status
    }

    pub(super) fn replica_set(
        &self,
        w: &Workload<'_>,
        revision: &Revision,
        states: &[PodState],
    ) -> Value {
        let name = &revision.rs_name;
        let deploy = w.service.name;
        let mut meta = self.meta(
            name,
            Some(&w.namespace),
            &format!("{}/rs/{name}", w.namespace),
            revision.age,
        );
        let mut labels = w.labels();
        labels["pod-template-hash"] = json!(revision.hash);
        meta["labels"] = labels.clone();
        meta["annotations"] = json!({
            "deployment.kubernetes.io/revision": revision.number.to_string(),
            "deployment.kubernetes.io/desired-replicas": w.replicas.to_string(),
            "deployment.kubernetes.io/max-replicas": (w.replicas + (w.replicas + 3) / 4).to_string(),
            "kubernetes.io/change-cause": revision.cause,
        });
        meta["generation"] = json!(if states.is_empty() { 2 } else { 1 });
        meta["ownerReferences"] = json!([{
            "apiVersion": "apps/v1", "kind": "Deployment", "name": deploy,
            "uid": uid(&format!("{}/deploy/{deploy}", w.namespace)), "controller": true, "blockOwnerDeletion": true,
        }]);
        let mut template = self.template(w, revision);
        template["metadata"]["labels"]["pod-template-hash"] = json!(revision.hash);
        let count = states.len() as i64;
        let ready = states.iter().filter(|s| s.ready()).count() as i64;
        let mut status = json!({ "replicas": count, "fullyLabeledReplicas": count, "readyReplicas": ready, "availableReplicas": ready, "observedGeneration": meta["generation"] });
        if count == 0 {
            status = json!({ "replicas": 0, "observedGeneration": meta["generation"] });
        }
        json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta,
            "spec": { "replicas": count, "selector": { "matchLabels": { "app.kubernetes.io/name": deploy, "pod-template-hash": revision.hash } }, "template": template },
            "status": status,
        })
    }

    pub(super) fn next_node(&mut self) -> (String, String) {
        let i = self.pods_placed;
        self.pods_placed += 1;
        let node = i % NODES;
        (
            node_name(node),
            format!("10.244.{}.{}", node + 1, 10 + i / NODES),
        )
    }

    pub(super) fn service(&mut self, w: &Workload<'_>) {
        self.services += 1;
        let name = w.service.name;
        let mut meta = self.meta(
            name,
            Some(&w.namespace),
            &format!("{}/svc/{name}", w.namespace),
            jiff::SignedDuration::from_hours(24 * (380)),
        );
        meta["labels"] = w.labels();
        let ip = format!(
            "10.96.{}.{}",
            10 + self.services / 200,
            self.services % 200 + 20
        );
        self.push(json!({
            "apiVersion": "v1", "kind": "Service", "metadata": meta,
            "spec": {
                "type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip], "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                "selector": { "app.kubernetes.io/name": name },
                "ports": [{ "name": "http", "port": 80, "targetPort": "http", "protocol": "TCP" }],
                "sessionAffinity": "None",
            },
            "status": { "loadBalancer": {} },
        }));
    }

    /// search reads its OpenSearch URL from this ConfigMap; in staging the key was renamed,
    /// which is why the pods crash.
    pub(super) fn search_config(&mut self, w: &Workload<'_>) {
        let key = if w.env == Env::Staging {
            "opensearch_url"
        } else {
            "opensearch-url"
        };
        let url = format!("https://opensearch.{}.svc.cluster.local:9200", w.namespace);
        let age = if w.env == Env::Staging {
            SignedDuration::from_mins(36)
        } else {
            jiff::SignedDuration::from_hours(24 * (90))
        };
        let mut meta = self.meta(
            "search-config",
            Some(&w.namespace),
            &format!("{}/cm/search-config", w.namespace),
            jiff::SignedDuration::from_hours(24 * (300)),
        );
        meta["labels"] = w.labels();
        meta["annotations"] = json!({ "platform.example.com/last-changed": self.at(age) });
        // The server records each writer's last write here; diagnose reads it as "last changed".
        meta["managedFields"] = json!([{ "manager": "kubectl-edit", "operation": "Update", "apiVersion": "v1", "time": self.at(age), "fieldsType": "FieldsV1", "fieldsV1": { "f:data": {} } }]);
        self.push(json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": { key: url, "index": "products-v5" } }));
    }

    pub(super) fn deployment_events(&mut self, w: &Workload<'_>) {
        let name = w.service.name;
        let involved = Involved {
            kind: "Deployment",
            api_version: "apps/v1",
            name: name.to_string(),
            uid: uid(&format!("{}/deploy/{name}", w.namespace)),
            field_path: None,
        };
        let controller = ("deployment-controller", "");
        match w.trouble {
            Some(Trouble::ImagePull) => {
                let message = format!("Scaled up replica set {} from 0 to 1", w.current().rs_name);
                self.event(
                    &w.namespace,
                    &involved,
                    "Normal",
                    "ScalingReplicaSet",
                    &message,
                    1,
                    25,
                    25,
                    controller,
                );
            }
            Some(Trouble::StalledRollout) => {
                let message = format!("Scaled up replica set {} from 0 to 1", w.current().rs_name);
                self.event(
                    &w.namespace,
                    &involved,
                    "Normal",
                    "ScalingReplicaSet",
                    &message,
                    1,
                    120,
                    120,
                    controller,
                );
            }
            _ => {}
        }
    }

    #[allow(clippy::too_many_arguments)] // one call per event line reads better than a struct literal
    pub(super) fn event(
        &mut self,
        namespace: &str,
        involved: &Involved,
        kind: &str,
        reason: &str,
        message: &str,
        count: i64,
        first_minutes_ago: i64,
        last_minutes_ago: i64,
        source: (&str, &str),
    ) {
        let name = format!(
            "{}.{:016x}",
            involved.name,
            fnv(&format!("{namespace}/{reason}/{message}"), 11) >> 4
        );
        let meta = self.meta(
            &name,
            Some(namespace),
            &format!("{namespace}/ev/{name}"),
            SignedDuration::from_mins(first_minutes_ago),
        );
        let mut involved_object = json!({ "kind": involved.kind, "namespace": namespace, "name": involved.name, "uid": involved.uid, "apiVersion": involved.api_version });
        if let Some(field) = &involved.field_path {
            involved_object["fieldPath"] = json!(field);
        }
        let mut source_json = json!({ "component": source.0 });
        if !source.1.is_empty() {
            source_json["host"] = json!(source.1);
        }
        self.push(json!({
            "apiVersion": "v1", "kind": "Event", "metadata": meta,
            "involvedObject": involved_object, "reason": reason, "message": message, "type": kind,
            "source": source_json, "count": count,
            "firstTimestamp": self.at(SignedDuration::from_mins(first_minutes_ago)),
            "lastTimestamp": self.at(SignedDuration::from_mins(last_minutes_ago)),
            "eventTime": null, "reportingComponent": source.0, "reportingInstance": source.1,
        }));
    }
}
