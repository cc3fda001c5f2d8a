//! The sandbox's pods: placement, status and the story each troubled one tells.

use super::*;

impl Builder {
    pub(super) fn pod(&mut self, w: &Workload<'_>, revision: &Revision, n: usize, state: PodState) {
        let name = format!(
            "{}-{}",
            revision.rs_name,
            suffix(&format!("{}/{}/{n}", w.namespace, revision.rs_name), 5)
        );
        let age = match state {
            PodState::CrashLoop => SignedDuration::from_mins(35),
            PodState::Pending => SignedDuration::from_mins(50),
            PodState::OomRestarting(_) => SignedDuration::from_hours(3),
            PodState::ImagePullBackOff | PodState::NotReady => {
                revision.age - SignedDuration::from_secs(5)
            }
            PodState::Running => revision.age - SignedDuration::from_secs(40 + 20 * n as i64),
        };
        let (node, ip) = if state == PodState::Pending {
            (String::new(), String::new())
        } else {
            self.next_node()
        };
        let key = format!("{}/pod/{name}", w.namespace);
        let mut meta = self.meta(&name, Some(&w.namespace), &key, age);
        let mut labels = w.labels();
        labels["app.kubernetes.io/version"] = json!(revision.tag);
        labels["pod-template-hash"] = json!(revision.hash);
        meta["labels"] = labels;
        meta["generateName"] = json!(format!("{}-", revision.rs_name));
        meta["ownerReferences"] = json!([{
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": revision.rs_name,
            "uid": uid(&format!("{}/rs/{}", w.namespace, revision.rs_name)), "controller": true, "blockOwnerDeletion": true,
        }]);
        let template = self.template(w, revision);
        let mut spec = template["spec"].clone();
        if !node.is_empty() {
            spec["nodeName"] = json!(node);
        }
        let status = self.pod_status(w, revision, state, age, (&name, &key), (&node, &ip));
        self.push(json!({ "apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status }));
        self.pod_story(w, revision, &name, &key, state, &node);
    }

    #[allow(clippy::too_many_arguments)] // all of it goes into the status
    pub(super) fn pod_status(
        &self,
        w: &Workload<'_>,
        revision: &Revision,
        state: PodState,
        age: SignedDuration,
        (pod, key): (&str, &str),
        (node, ip): (&str, &str),
    ) -> Value {
        let started = self.at(age - SignedDuration::from_secs(4));
        let image = w.image(revision.tag);
        let image_id = format!(
            "{REGISTRY}/{}/{}@sha256:{:016x}{:016x}{:016x}{:016x}",
            w.service.team,
            w.service.name,
            fnv(&image, 1),
            fnv(&image, 2),
            fnv(&image, 3),
            fnv(&image, 4)
        );
        let container_id = format!(
            "containerd://{:016x}{:016x}{:016x}{:016x}",
            fnv(node, age.as_secs() as u64),
            fnv(&image, 5),
            fnv(ip, 6),
            fnv(&started, 7)
        );
        let condition = |kind: &str, ok: bool, reason: Option<(&str, String)>| {
            let mut c = json!({ "type": kind, "status": if ok { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": started });
            if let Some((reason, message)) = reason {
                c["reason"] = json!(reason);
                c["message"] = json!(message);
            }
            c
        };
        let container = w.service.name;
        let not_ready = Some((
            "ContainersNotReady",
            format!("containers with unready status: [{container}]"),
        ));
        if state == PodState::Pending {
            let message = "0/6 nodes are available: 6 Insufficient memory. preemption: 0/6 nodes are available: 6 No preemption victims found for incoming pod.".to_string();
            return json!({
                "phase": "Pending", "qosClass": "Burstable",
                "conditions": [condition("PodScheduled", false, Some(("Unschedulable", message)))],
            });
        }
        let ready = state.ready();
        let mut status = json!({
            "image": image, "imageID": image_id, "name": container, "ready": ready, "started": state != PodState::CrashLoop && state != PodState::ImagePullBackOff,
            "restartCount": 0, "containerID": container_id, "state": { "running": { "startedAt": started } }, "lastState": {},
        });
        match state {
            PodState::CrashLoop => {
                status["restartCount"] = json!(7);
                let message = format!(
                    "back-off 5m0s restarting failed container={container} pod={pod}_{}({})",
                    w.namespace,
                    uid(key)
                );
                status["state"] =
                    json!({ "waiting": { "reason": "CrashLoopBackOff", "message": message } });
                status["lastState"] = json!({ "terminated": { "exitCode": 1, "reason": "Error", "startedAt": self.at(SignedDuration::from_secs(150)), "finishedAt": self.at(SignedDuration::from_secs(149)), "containerID": container_id } });
            }
            PodState::ImagePullBackOff => {
                status = json!({ "image": image, "imageID": "", "name": container, "ready": false, "started": false, "restartCount": 0, "lastState": {},
                    "state": { "waiting": { "reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{image}\": ErrImagePull: rpc error: code = NotFound desc = failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": {image}: not found") } } });
            }
            PodState::OomRestarting(restarts) => {
                status["restartCount"] = json!(restarts);
                status["state"] =
                    json!({ "running": { "startedAt": self.at(SignedDuration::from_mins(4)) } });
                status["lastState"] = json!({ "terminated": { "exitCode": 137, "reason": "OOMKilled", "startedAt": self.at(SignedDuration::from_mins(31)), "finishedAt": self.at(SignedDuration::from_mins(4) + SignedDuration::from_secs(2)), "containerID": container_id } });
            }
            _ => {}
        }
        json!({
            "phase": "Running",
            "conditions": [
                condition("PodReadyToStartContainers", true, None),
                condition("Initialized", true, None),
                condition("Ready", ready, if ready { None } else { not_ready.clone() }),
                condition("ContainersReady", ready, if ready { None } else { not_ready }),
                condition("PodScheduled", true, None),
            ],
            "hostIP": node_ip(node), "podIP": ip, "podIPs": [{ "ip": ip }],
            "startTime": self.at(age), "qosClass": "Burstable",
            "containerStatuses": [status],
        })
    }

    /// Events and logs that explain a pod's state.
    pub(super) fn pod_story(
        &mut self,
        w: &Workload<'_>,
        revision: &Revision,
        pod: &str,
        key: &str,
        state: PodState,
        node: &str,
    ) {
        let ns = w.namespace.clone();
        let container = w.service.name;
        let image = w.image(revision.tag);
        let field = format!("spec.containers{{{container}}}");
        let involved = Involved {
            kind: "Pod",
            api_version: "v1",
            name: pod.to_string(),
            uid: uid(key),
            field_path: Some(field.clone()),
        };
        let kubelet = ("kubelet", node);
        match state {
            PodState::Running => self.log(
                &ns,
                pod,
                container,
                false,
                healthy_log(w.service, revision.tag, self.now),
            ),
            PodState::CrashLoop => {
                self.event(
                    &ns,
                    &involved,
                    "Warning",
                    "BackOff",
                    &format!(
                        "Back-off restarting failed container {container} in pod {pod}_{ns}({})",
                        uid(key)
                    ),
                    142,
                    34,
                    0,
                    kubelet,
                );
                self.event(
                    &ns,
                    &involved,
                    "Normal",
                    "Pulled",
                    &format!("Container image \"{image}\" already present on machine"),
                    8,
                    35,
                    3,
                    kubelet,
                );
                self.log(&ns, pod, container, true, crash_log(self.now));
                self.log(&ns, pod, container, false, String::new());
            }
            PodState::ImagePullBackOff => {
                self.event(
                    &ns,
                    &involved,
                    "Normal",
                    "Pulling",
                    &format!("Pulling image \"{image}\""),
                    9,
                    24,
                    1,
                    kubelet,
                );
                self.event(&ns, &involved, "Warning", "Failed", &format!("Failed to pull image \"{image}\": Error response from daemon: manifest for {image} not found: manifest unknown: manifest unknown"), 9, 24, 1, kubelet);
                self.event(
                    &ns,
                    &involved,
                    "Warning",
                    "Failed",
                    "Error: ErrImagePull",
                    9,
                    24,
                    1,
                    kubelet,
                );
                self.event(
                    &ns,
                    &involved,
                    "Normal",
                    "BackOff",
                    &format!("Back-off pulling image \"{image}\""),
                    97,
                    24,
                    0,
                    kubelet,
                );
                self.event(
                    &ns,
                    &involved,
                    "Warning",
                    "Failed",
                    "Error: ImagePullBackOff",
                    97,
                    24,
                    0,
                    kubelet,
                );
            }
            PodState::Pending => {
                let scheduler = Involved {
                    field_path: None,
                    ..involved
                };
                let message = "0/6 nodes are available: 6 Insufficient memory. preemption: 0/6 nodes are available: 6 No preemption victims found for incoming pod.";
                self.event(
                    &ns,
                    &scheduler,
                    "Warning",
                    "FailedScheduling",
                    message,
                    11,
                    50,
                    2,
                    ("default-scheduler", ""),
                );
            }
            PodState::OomRestarting(restarts) => {
                self.event(
                    &ns,
                    &involved,
                    "Warning",
                    "BackOff",
                    &format!(
                        "Back-off restarting failed container {container} in pod {pod}_{ns}({})",
                        uid(key)
                    ),
                    restarts / 2,
                    150,
                    4,
                    kubelet,
                );
                self.event(
                    &ns,
                    &involved,
                    "Normal",
                    "Pulled",
                    &format!("Container image \"{image}\" already present on machine"),
                    restarts,
                    180,
                    4,
                    kubelet,
                );
                self.event(
                    &ns,
                    &involved,
                    "Normal",
                    "Started",
                    &format!("Started container {container}"),
                    restarts + 1,
                    180,
                    4,
                    kubelet,
                );
                self.log(&ns, pod, container, true, oom_log(self.now));
                self.log(
                    &ns,
                    pod,
                    container,
                    false,
                    healthy_log(w.service, revision.tag, self.now),
                );
            }
            PodState::NotReady => {
                self.event(
                    &ns,
                    &involved,
                    "Warning",
                    "Unhealthy",
                    "Readiness probe failed: HTTP probe failed with statuscode: 503",
                    689,
                    118,
                    0,
                    kubelet,
                );
                self.log(&ns, pod, container, false, stalled_log(self.now));
            }
        }
    }
}
