//! Who may confirm a proposal. By default only the requester; the config can
//! name approver groups and require a second, different person in some
//! environments (prod), and each tool's `policy:` block in `tools/*.yaml` can
//! tighten that per action.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{Actor, Proposal};
use crate::domain::Environment;

/// A per-action override, read from the `policy:` block of `tools/<action>.yaml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ActionPolicy {
    /// Groups whose members may confirm this action, instead of the global approver groups.
    pub approvers: Option<Vec<String>>,
    /// Environments where this action needs two different people to confirm (added to the global ones).
    pub second_approver_environments: Option<Vec<Environment>>,
    /// `false` stops the requester confirming their own proposal of this action.
    pub requester_may_confirm: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PolicyDecision {
    Allowed { approvals_required: usize },
    Denied(String),
}

#[derive(Debug, Clone, Default)]
pub struct ApprovalPolicy {
    pub requester_may_confirm: bool,
    pub approver_groups: Vec<String>,
    pub second_approver_environments: Vec<Environment>,
    pub per_action: HashMap<String, ActionPolicy>,
}

impl ApprovalPolicy {
    pub fn decide(&self, proposal: &Proposal, actor: &Actor) -> PolicyDecision {
        let overrides = self.per_action.get(&proposal.action);
        let approvers = overrides
            .and_then(|o| o.approvers.as_ref())
            .unwrap_or(&self.approver_groups);
        // An action's policy can only tighten: its second-approver environments add to
        // the global ones, and it can take away (not grant) the requester's own confirmation.
        let action_second_envs = overrides.and_then(|o| o.second_approver_environments.as_ref());
        let requester_ok = self.requester_may_confirm
            && overrides
                .and_then(|o| o.requester_may_confirm)
                .unwrap_or(true);

        let approvals_required = match &proposal.environment {
            Some(env)
                if self.second_approver_environments.contains(env)
                    || action_second_envs.is_some_and(|e| e.contains(env)) =>
            {
                2
            }
            _ => 1,
        };
        let is_requester = actor.id == proposal.requester;
        let is_approver = actor.groups.iter().any(|g| approvers.contains(g));

        if is_requester && requester_ok || is_approver {
            return PolicyDecision::Allowed { approvals_required };
        }
        let who = if approvers.is_empty() {
            "only the person who asked may confirm it".to_owned()
        } else if requester_ok {
            format!(
                "only the person who asked ({}) or a member of {} may confirm it",
                proposal.requester,
                approvers.join(", ")
            )
        } else {
            format!("only a member of {} may confirm it", approvers.join(", "))
        };
        PolicyDecision::Denied(who)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::ChangePlan;
    use crate::approval::{ProposalId, ProposalState};
    use crate::chat::{ConversationKey, Surface};
    use crate::domain::UserId;

    fn proposal(env: &str) -> Proposal {
        let now = chrono::Utc::now();
        Proposal {
            id: ProposalId::new(),
            action: "restart_deployment".into(),
            args: serde_json::json!({}),
            plan: ChangePlan::default(),
            environment: Some(Environment::parse(env).unwrap()),
            requester: UserId::parse("alice").unwrap(),
            conversation: ConversationKey::new(Surface::Terminal, "c", "t"),
            state: ProposalState::Proposed,
            approvals: vec![],
            created_at: now,
            expires_at: now,
            updated_at: now,
            outcome: None,
        }
    }

    fn actor(id: &str, groups: &[&str]) -> Actor {
        Actor {
            id: UserId::parse(id).unwrap(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn only_the_requester_by_default() {
        let policy = ApprovalPolicy {
            requester_may_confirm: true,
            ..Default::default()
        };
        let p = proposal("dev");
        assert_eq!(
            policy.decide(&p, &actor("alice", &[])),
            PolicyDecision::Allowed {
                approvals_required: 1
            }
        );
        assert!(matches!(
            policy.decide(&p, &actor("bob", &["payments"])),
            PolicyDecision::Denied(_)
        ));
    }

    #[test]
    fn approver_groups_and_second_approver_in_prod() {
        let policy = ApprovalPolicy {
            requester_may_confirm: true,
            approver_groups: vec!["platform".into()],
            second_approver_environments: vec![Environment::parse("prod").unwrap()],
            per_action: HashMap::new(),
        };
        assert_eq!(
            policy.decide(&proposal("prod"), &actor("carol", &["platform"])),
            PolicyDecision::Allowed {
                approvals_required: 2
            }
        );
        assert_eq!(
            policy.decide(&proposal("staging"), &actor("carol", &["platform"])),
            PolicyDecision::Allowed {
                approvals_required: 1
            }
        );
    }

    #[test]
    fn per_action_policy_overrides() {
        let mut per_action = HashMap::new();
        per_action.insert(
            "restart_deployment".to_owned(),
            ActionPolicy {
                requester_may_confirm: Some(false),
                approvers: Some(vec!["sre".into()]),
                ..Default::default()
            },
        );
        let policy = ApprovalPolicy {
            requester_may_confirm: true,
            per_action,
            ..Default::default()
        };
        let p = proposal("dev");
        assert!(matches!(
            policy.decide(&p, &actor("alice", &[])),
            PolicyDecision::Denied(_)
        ));
        assert!(matches!(
            policy.decide(&p, &actor("dan", &["sre"])),
            PolicyDecision::Allowed { .. }
        ));
    }
}
