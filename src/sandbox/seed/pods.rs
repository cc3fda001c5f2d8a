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
        let container = w.service.name;
        let at = Scene {
            ns: &w.namespace,
            pod,
            container,
            image: w.image(revision.tag),
            uid: uid(key),
            involved: Involved {
                kind: "Pod",
                api_version: "v1",
                name: pod.to_string(),
                uid: uid(key),
                field_path: Some(format!("spec.containers{{{container}}}")),
            },
            node,
        };
        match state {
            PodState::Running => {
                let log = healthy_log(w.service, revision.tag, self.now);
                self.log(at.ns, pod, container, false, log);
            }
            PodState::CrashLoop => self.crash_loop_story(&at),
            PodState::ImagePullBackOff => self.image_pull_story(&at),
            PodState::Pending => self.unschedulable_story(at),
            PodState::OomRestarting(restarts) => {
                self.oom_story(&at, restarts);
                let log = healthy_log(w.service, revision.tag, self.now);
                self.log(at.ns, pod, container, false, log);
            }
            PodState::NotReady => {
                self.kubelet_event(
                    &at,
                    "Warning",
                    "Unhealthy",
                    "Readiness probe failed: HTTP probe failed with statuscode: 503",
                    (689, 118, 0),
                );
                self.log(at.ns, pod, container, false, stalled_log(self.now));
            }
        }
    }

    /// An event about the pod's container from the kubelet on its node; `times` is the
    /// count and the first and last occurrence in minutes ago.
    fn kubelet_event(
        &mut self,
        at: &Scene<'_>,
        kind: &str,
        reason: &str,
        message: &str,
        times: (i64, i64, i64),
    ) {
        let (count, first, last) = times;
        self.event(
            at.ns,
            &at.involved,
            kind,
            reason,
            message,
            count,
            first,
            last,
            ("kubelet", at.node),
        );
    }

    fn back_off(&mut self, at: &Scene<'_>, times: (i64, i64, i64)) {
        let message = format!(
            "Back-off restarting failed container {} in pod {}_{}({})",
            at.container, at.pod, at.ns, at.uid
        );
        self.kubelet_event(at, "Warning", "BackOff", &message, times);
    }

    fn crash_loop_story(&mut self, at: &Scene<'_>) {
        self.back_off(at, (142, 34, 0));
        let pulled = format!(
            "Container image \"{}\" already present on machine",
            at.image
        );
        self.kubelet_event(at, "Normal", "Pulled", &pulled, (8, 35, 3));
        self.log(at.ns, at.pod, at.container, true, crash_log(self.now));
        self.log(at.ns, at.pod, at.container, false, String::new());
    }

    fn image_pull_story(&mut self, at: &Scene<'_>) {
        let image = &at.image;
        let steps = [
            (
                "Normal",
                "Pulling",
                format!("Pulling image \"{image}\""),
                (9, 24, 1),
            ),
            (
                "Warning",
                "Failed",
                format!(
                    "Failed to pull image \"{image}\": Error response from daemon: manifest for {image} not found: manifest unknown: manifest unknown"
                ),
                (9, 24, 1),
            ),
            (
                "Warning",
                "Failed",
                "Error: ErrImagePull".to_owned(),
                (9, 24, 1),
            ),
            (
                "Normal",
                "BackOff",
                format!("Back-off pulling image \"{image}\""),
                (97, 24, 0),
            ),
            (
                "Warning",
                "Failed",
                "Error: ImagePullBackOff".to_owned(),
                (97, 24, 0),
            ),
        ];
        for (kind, reason, message, times) in steps {
            self.kubelet_event(at, kind, reason, &message, times);
        }
    }

    /// The scheduler's refusal: about the pod, not a container of it.
    fn unschedulable_story(&mut self, at: Scene<'_>) {
        let scheduler = Involved {
            field_path: None,
            ..at.involved
        };
        let message = "0/6 nodes are available: 6 Insufficient memory. preemption: 0/6 nodes are available: 6 No preemption victims found for incoming pod.";
        self.event(
            at.ns,
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

    fn oom_story(&mut self, at: &Scene<'_>, restarts: i64) {
        self.back_off(at, (restarts / 2, 150, 4));
        let pulled = format!(
            "Container image \"{}\" already present on machine",
            at.image
        );
        self.kubelet_event(at, "Normal", "Pulled", &pulled, (restarts, 180, 4));
        let started = format!("Started container {}", at.container);
        self.kubelet_event(at, "Normal", "Started", &started, (restarts + 1, 180, 4));
        self.log(at.ns, at.pod, at.container, true, oom_log(self.now));
    }
}

/// A pod whose story is told: where it runs and what its events are about.
struct Scene<'a> {
    ns: &'a str,
    pod: &'a str,
    container: &'a str,
    image: String,
    uid: String,
    involved: Involved,
    node: &'a str,
}
