//! `diagnose` on the sandbox's five broken workloads and a healthy one, through the engine:
//! the findings, their evidence, and the remediation offered as a proposal.

use crate::support::common;
use crate::support::stage;

use common::sandbox_bot;
use platbot::approval::ProposalState;
use stage::{evidence, finding, findings};

#[tokio::test]
async fn search_crashloop_is_traced_to_the_renamed_configmap_key() {
    let bot = sandbox_bot("").await;
    let writes = bot.double().mutation_count();
    let reply = bot
        .say_one("t", "hana.sato", "why is search crashing in staging?")
        .await;
    let data = reply.data.clone().expect("structured findings");
    let fs = findings(&data);

    // The headline first: the service is down.
    assert_eq!(fs[0]["check"], "deployment.unavailable", "{}", reply.text);
    assert_eq!(fs[0]["severity"], "critical");

    let crash = finding(&fs, "pod.crash_loop");
    assert_eq!(crash["severity"], "critical");
    assert_eq!(crash["affected"].as_array().map(Vec::len), Some(2));
    let ev = evidence(crash);
    for needle in [
        "CrashLoopBackOff (restartCount 7)",
        "exit code 1 (Error) after running 1s",
        "BackOff",
        "\"count\":142",
        "panic: config: required environment variable SEARCH_OPENSEARCH_URL is not set",
        "\"previous\":true",
    ] {
        assert!(ev.contains(needle), "missing {needle:?} in {ev}");
    }
    let cause = crash["likely_cause"].as_str().unwrap();
    assert!(
        cause.contains("key `opensearch-url` of ConfigMap search-config"),
        "{cause}"
    );
    assert!(cause.contains("did you mean `opensearch_url`"), "{cause}");
    assert!(cause.contains("before the crashes began"), "{cause}");
    let fix = crash["fix"].as_str().unwrap();
    assert!(fix.contains("Rolling back would not help"), "{fix}");

    // The fix needs a person first, so it is suggested, not proposed.
    let remedy = &crash["remediation"];
    assert_eq!(remedy["action"], "restart_deployment");
    assert!(
        remedy["precondition"]
            .as_str()
            .unwrap()
            .contains("opensearch-url")
    );
    assert!(reply.proposal.is_none(), "{}", reply.text);
    assert!(data.get("offer").is_none());

    let cfg = finding(&fs, "pod.missing_config_ref");
    assert_eq!(cfg["object"]["kind"], "ConfigMap");
    assert!(
        evidence(cfg).contains("last changed 36 minutes ago"),
        "{cfg}"
    );
    let svc = finding(&fs, "service.no_endpoints");
    assert_eq!(svc["severity"], "critical");

    // Rendered for chat without an LLM, and read-only.
    assert!(
        reply.text.contains("CRITICAL Deployment search"),
        "{}",
        reply.text
    );
    assert!(
        reply.text.contains("Say \"restart search in staging\""),
        "{}",
        reply.text
    );
    assert_eq!(bot.double().mutation_count(), writes);
    // Read as the asker, and scoped to the namespace (no cluster-wide lists).
    let requests = bot.double().requests();
    let lists: Vec<_> = requests
        .iter()
        .filter(|r| {
            r.method == "GET" && !r.path.contains("/log") && r.path.contains("search-staging")
        })
        .collect();
    assert!(lists.len() >= 12, "{lists:?}");
    assert!(
        lists
            .iter()
            .all(|r| r.impersonate_user.as_deref() == Some("hana.sato"))
    );
    assert!(
        !requests
            .iter()
            .any(|r| r.path == "/api/v1/pods" || r.path == "/api/v1/events"),
        "no cluster-wide lists"
    );
}

#[tokio::test]
async fn a_bad_image_tag_offers_a_rollback_to_the_revision_still_serving() {
    let bot = sandbox_bot("").await;
    let writes = bot.double().mutation_count();
    let reply = bot
        .say_one(
            "t",
            "elena.petrova",
            "why is feature-store failing in staging?",
        )
        .await;
    let data = reply.data.clone().unwrap();
    let fs = findings(&data);
    let pull = finding(&fs, "pod.image_pull");
    assert!(
        pull["problem"]
            .as_str()
            .unwrap()
            .contains("image not found")
    );
    let ev = evidence(pull);
    assert!(ev.contains("feature-store:v0.13.0"), "{ev}");
    assert!(ev.contains("ErrImagePull"), "{ev}");
    assert!(
        pull["likely_cause"]
            .as_str()
            .unwrap()
            .contains("does not exist")
    );
    let remedy = &pull["remediation"];
    assert_eq!(remedy["action"], "rollback_deployment");
    assert_eq!(remedy["args"]["revision"], 2);
    assert!(
        remedy["reasoning"]
            .as_str()
            .unwrap()
            .contains("still serves 2 ready pod(s)")
    );

    // Offered as a proposal with a dry-run plan and the image diff; nothing changed yet.
    let proposal = reply.proposal.clone().expect("the rollback is proposed");
    assert_eq!(proposal.action, "rollback_deployment");
    assert_eq!(proposal.args["service"], "feature-store");
    assert_eq!(proposal.args["environment"], "staging");
    assert_eq!(proposal.args["revision"], 2);
    assert_eq!(proposal.state, ProposalState::Proposed);
    assert!(proposal.plan.dry_run.passed, "{:?}", proposal.plan);
    let detail = proposal.plan.changes[0].detail.clone().unwrap();
    assert!(detail.contains("revision 3 -> 2"), "{detail}");
    assert!(
        detail.contains(":v0.13.0 -> registry.example.com/data-platform/feature-store:v0.12.1"),
        "{detail}"
    );
    assert!(reply.text.contains("Reply `confirm`"), "{}", reply.text);
    assert_eq!(bot.double().mutation_count(), writes);
    assert!(
        bot.double()
            .requests()
            .iter()
            .any(|r| r.dry_run && r.method == "PATCH")
    );
}

#[tokio::test]
async fn a_pending_pod_is_explained_by_the_scheduler_message_and_node_capacity() {
    let bot = sandbox_bot("").await;
    let reply = bot
        .say_one(
            "t",
            "priya.nair",
            "why are ledger pods not getting scheduled in production?",
        )
        .await;
    let fs = findings(reply.data.as_ref().unwrap());
    let pending = finding(&fs, "pod.pending");
    assert_eq!(
        pending["severity"], "warning",
        "two of three pods still serve"
    );
    let problem = pending["problem"].as_str().unwrap();
    assert!(problem.contains("1 of 3 pod(s) Pending"), "{problem}");
    assert!(
        problem.contains("6 node(s): not enough free memory"),
        "{problem}"
    );
    let ev = evidence(pending);
    assert!(ev.contains("FailedScheduling"), "{ev}");
    assert!(ev.contains("the pod requests 6Gi memory"), "{ev}");
    assert!(ev.contains("15.4Gi allocatable"), "{ev}");
    // Scaling down is only a mitigation: suggested with its condition, not proposed.
    let remedy = &pending["remediation"];
    assert_eq!(remedy["action"], "scale_deployment");
    assert_eq!(remedy["args"]["replicas"], 2);
    assert!(remedy["precondition"].is_string());
    assert!(reply.proposal.is_none());
    assert_eq!(
        finding(&fs, "deployment.unavailable")["severity"],
        "warning"
    );
}

#[tokio::test]
async fn oom_kills_offer_a_higher_memory_limit_with_the_arithmetic_shown() {
    let bot = sandbox_bot("").await;
    let reply = bot
        .say_one(
            "t",
            "yuki.tanaka",
            "notifications keeps restarting in staging, what's wrong?",
        )
        .await;
    let fs = findings(reply.data.as_ref().unwrap());
    let oom = finding(&fs, "pod.oom_killed");
    let ev = evidence(oom);
    assert!(ev.contains("exit code 137 (OOMKilled)"), "{ev}");
    assert!(ev.contains("memory limit 256Mi"), "{ev}");
    assert!(
        ev.contains("heapUsedMB"),
        "the previous instance's log: {ev}"
    );
    let remedy = &oom["remediation"];
    assert_eq!(remedy["action"], "set_memory_limit");
    assert_eq!(remedy["args"]["memory_mib"], 384);
    assert_eq!(remedy["args"]["container"], "notifications");
    let why = remedy["reasoning"].as_str().unwrap();
    assert!(why.contains("1.5 x 256Mi = 384Mi"), "{why}");
    assert!(why.contains("request stays 256Mi"), "{why}");

    let proposal = reply.proposal.expect("proposed");
    assert_eq!(proposal.action, "set_memory_limit");
    let detail = proposal.plan.changes[0].detail.clone().unwrap();
    assert!(detail.contains("memory limit 256Mi -> 384Mi"), "{detail}");
    assert!(proposal.plan.dry_run.passed);
}

#[tokio::test]
async fn a_stalled_rollout_offers_a_rollback_and_shows_why_the_new_pods_are_not_ready() {
    let bot = sandbox_bot("").await;
    let reply = bot
        .say_one("t", "hana.sato", "why is recommendations broken in prod")
        .await;
    let fs = findings(reply.data.as_ref().unwrap());
    assert_eq!(
        fs[0]["check"], "deployment.progress_deadline",
        "{}",
        reply.text
    );
    let stalled = &fs[0];
    let ev = evidence(stalled);
    assert!(ev.contains("ProgressDeadlineExceeded"), "{ev}");
    assert!(ev.contains("new ReplicaSet"), "{ev}");
    assert!(ev.contains("3 pods, 3 ready"), "{ev}");
    let probe = finding(&fs, "pod.readiness_probe");
    let pev = evidence(probe);
    assert!(pev.contains("statuscode: 503"), "{pev}");
    assert!(pev.contains("\"count\":689"), "{pev}");
    assert!(pev.contains("model warm-up incomplete"), "{pev}");
    assert!(pev.contains("httpGet /readyz on port http (8080)"), "{pev}");

    let proposal = reply.proposal.expect("the rollback is proposed");
    assert_eq!(proposal.action, "rollback_deployment");
    assert_eq!(proposal.args["revision"], 1);
    let detail = proposal.plan.changes[0].detail.clone().unwrap();
    assert!(detail.contains("revision 2 -> 1"), "{detail}");
    assert!(
        detail.contains(
            "recommendations:v3.2.0 -> registry.example.com/search/recommendations:v3.1.4"
        ),
        "{detail}"
    );
}

#[tokio::test]
async fn a_healthy_workload_reports_healthy_and_proposes_nothing() {
    let bot = sandbox_bot("").await;
    let reply = bot
        .say_one("t", "jonah.feld", "diagnose cart in prod")
        .await;
    assert!(reply.text.contains("healthy"), "{}", reply.text);
    assert!(reply.text.contains("3/3 ready"), "{}", reply.text);
    assert!(reply.proposal.is_none());
    let data = reply.data.unwrap();
    assert!(findings(&data).is_empty(), "{data}");
    assert_eq!(data["diagnoses"][0]["pods"], 3);
    assert!(
        data["diagnoses"][0]["unread"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn without_an_environment_every_environment_is_diagnosed() {
    let bot = sandbox_bot("").await;
    let reply = bot.say_one("t", "x", "diagnose search").await;
    let data = reply.data.unwrap();
    let envs: Vec<&str> = data["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["environment"].as_str().unwrap())
        .collect();
    assert_eq!(envs, ["dev", "staging", "prod"]);
    assert!(
        reply
            .text
            .contains("*search* in prod (search-prod): healthy"),
        "{}",
        reply.text
    );
    assert!(
        reply
            .text
            .contains("*search* in staging (search-staging): 4 problem(s)"),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn an_unknown_service_gets_a_clear_answer() {
    let bot = sandbox_bot("").await;
    let reply = bot.say_one("t", "x", "diagnose serch in staging").await;
    assert!(reply.proposal.is_none());
    assert!(!reply.text.is_empty());
}

#[tokio::test]
async fn reads_that_miss_the_time_budget_are_reported_never_called_healthy() {
    use platbot::actions::ActionContext;
    use platbot::actions::diagnose::{diagnose_in, render};

    let bot = sandbox_bot("").await;
    let platform = bot.app.engine.platform();
    let actor = bot.app.engine.actor(&common::user("jonah.feld"));
    let ctx = ActionContext {
        platform,
        actor: &actor,
    };
    let service = platform.catalog.service("cart").expect("cart");
    let env = platbot::domain::Environment::parse("prod").unwrap();
    let d = diagnose_in(&ctx, service, &env, std::time::Duration::ZERO)
        .await
        .expect("a diagnosis, even an empty one");
    assert!(!d.healthy());
    assert!(
        d.unread
            .iter()
            .any(|u| u.what == "pods" && u.reason.contains("budget")),
        "{:?}",
        d.unread
    );
    let text = render(&[d], None);
    assert!(text.contains("could not read the workload"), "{text}");
    assert!(!text.contains("healthy"), "{text}");
    assert!(!text.contains("not deployed"), "{text}");
}
