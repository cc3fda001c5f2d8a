//! All integration tests, one binary: each module was once its own test binary, and
//! linking kube, qdrant-edge, slack-morphism and async-openai into each one cost more
//! than the tests. Shared fakes and helpers live in `support`.

// Tests stage cluster states with kube's write calls, which the product may only make
// through actions::write (clippy.toml).
#![allow(clippy::disallowed_methods)]

mod support;

mod alias_eval;
mod argocd_status;
mod catalog_backstage;
mod cli;
mod deploy_manifests;
mod diagnose_analyzers;
mod diagnose_pod_logs;
mod diagnose_seeded;
mod discord_cards;
mod discord_fuzz;
mod discord_gateway;
mod discord_rest;
mod docs_determinism;
mod docs_embedding_roles;
mod docs_embeddings;
mod docs_index;
mod docs_qdrant_server;
mod fuzz_parsers;
mod golden_path;
mod golden_path_rbac;
mod http_api;
mod kube_double;
mod layers;
mod llm_classifier;
mod llm_injection;
mod llm_planner;
mod llm_resilience;
mod llm_warm_up;
mod metrics;
mod oncall_opsgenie;
mod oncall_pagerduty;
mod oncall_schedule_file;
mod planner_context;
mod read_actions;
mod remediation_memory;
mod remediation_restart_scale;
mod remediation_rollback;
mod replicas;
mod sandbox_rbac;
mod shutdown;
mod slack_events;
mod slack_rate_storm;
mod slack_readiness;
mod slack_replicas;
mod slack_socket;
mod slack_web_api;
mod status_rollout_states;
mod store_backends;
