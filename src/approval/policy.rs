//! Who may ask for a change, and who may confirm it.
//!
//! Asking: a change to a team's namespace or service may be requested by that team's members
//! and the action's approvers (a tool's `policy:` can name more groups, or open it to every
//! known user). Confirming: by default only the requester; the config can name approver groups
//! and require a second, different person in some environments (prod), and each tool's
//! `policy:` block in `tools/*.yaml` can tighten that per action.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{Actor, Proposal};
use crate::domain::proposal::ChangeSubject;
use crate::domain::{Environment, TeamName, ToolName};

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
    /// Who may ask for this change: `team` (default: the owning team and the approvers) or
    /// `anyone` (every user the catalog or `[groups]` knows).
    pub request: Option<RequestScope>,
    /// More groups whose members may ask for this change to any team's namespace or service.
    pub requesters: Option<Vec<String>>,
}

/// Who may ask for a change.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RequestScope {
    Team,
    Anyone,
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
    /// Whether `actor` may ask for `action` on `subject`, owned by `owner` (unknown when the
    /// catalog has no such service). `Err` says who may, for the reply.
    pub fn may_request(
        &self,
        action: ToolName,
        subject: &ChangeSubject,
        owner: Option<&TeamName>,
        actor: &Actor,
    ) -> Result<(), String> {
        let overrides = self.per_action.get(action.as_str());
        let approvers = overrides
            .and_then(|o| o.approvers.as_ref())
            .unwrap_or(&self.approver_groups);
        let extra: &[String] = overrides
            .and_then(|o| o.requesters.as_deref())
            .unwrap_or_default();
        let anyone = overrides.and_then(|o| o.request) == Some(RequestScope::Anyone);
        let member_of = |groups: &[String]| actor.groups.iter().any(|g| groups.contains(g));
        if actor.groups.is_empty() {
            return Err(format!(
                "{} is not a member of any team in the catalog (nor of a configured group), so I can only answer questions for them; ask the platform team to add them to the catalog",
                actor.id
            ));
        }
        let owns = owner.is_some_and(|t| actor.groups.iter().any(|g| g == t.as_str()));
        if owns || member_of(approvers) || member_of(extra) || anyone {
            return Ok(());
        }
        let mut who: Vec<String> = Vec::new();
        if let Some(t) = owner {
            who.push(format!("members of {t}"));
        }
        if !approvers.is_empty() || !extra.is_empty() {
            let groups: Vec<&str> = approvers.iter().chain(extra).map(String::as_str).collect();
            who.push(format!("members of {}", groups.join(", ")));
        }
        let whose = match (subject, owner) {
            (ChangeSubject::Team(t), _) => format!("team {t}'s namespace"),
            (ChangeSubject::Service(s), Some(t)) => format!("{s} (owned by team {t})"),
            (ChangeSubject::Service(s), None) => format!("{s}, which no team owns in the catalog"),
        };
        if who.is_empty() {
            return Err(format!("nobody may ask for changes to {whose}"));
        }
        Err(format!(
            "{} may not ask for changes to {whose}; only {} may",
            actor.id,
            who.join(" or ")
        ))
    }

    pub fn decide(&self, proposal: &Proposal, actor: &Actor) -> PolicyDecision {
        let overrides = self.per_action.get(proposal.action.as_str());
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
    use crate::approval::{ProposalId, ProposalState};
    use crate::domain::UserId;
    use crate::domain::proposal::ChangePlan;
    use crate::domain::{ConversationKey, Surface};

    fn proposal(env: &str) -> Proposal {
        let now = jiff::Timestamp::now();
        Proposal {
            id: ProposalId::new(),
            action: ToolName::RestartDeployment,
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
            via: None,
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

    #[test]
    fn a_team_s_changes_are_requested_by_its_members_and_approvers() {
        let policy = ApprovalPolicy {
            requester_may_confirm: true,
            approver_groups: vec!["platform".into()],
            ..Default::default()
        };
        let payments = TeamName::parse("payments").unwrap();
        let svc = ChangeSubject::Service(crate::domain::ServiceName::parse("ledger").unwrap());
        let act = ToolName::RestartDeployment;
        assert!(
            policy
                .may_request(act, &svc, Some(&payments), &actor("priya", &["payments"]))
                .is_ok()
        );
        assert!(
            policy
                .may_request(act, &svc, Some(&payments), &actor("olga", &["platform"]))
                .is_ok()
        );
        let refused = policy
            .may_request(act, &svc, Some(&payments), &actor("jonah", &["checkout"]))
            .unwrap_err();
        assert!(
            refused.contains("members of payments") && refused.contains("platform"),
            "{refused}"
        );
        let stranger = policy
            .may_request(
                act,
                &ChangeSubject::Team(payments.clone()),
                Some(&payments),
                &actor("mallory", &[]),
            )
            .unwrap_err();
        assert!(stranger.contains("not a member of any team"), "{stranger}");
        // A service nobody owns: only approvers.
        assert!(
            policy
                .may_request(act, &svc, None, &actor("jonah", &["checkout"]))
                .is_err()
        );
        assert!(
            policy
                .may_request(act, &svc, None, &actor("olga", &["platform"]))
                .is_ok()
        );
    }

    #[test]
    fn a_tool_can_open_requests_or_name_more_requesters() {
        let mut per_action = HashMap::new();
        per_action.insert(
            "scale_deployment".to_owned(),
            ActionPolicy {
                requesters: Some(vec!["sre".into()]),
                ..Default::default()
            },
        );
        per_action.insert(
            "create_namespace".to_owned(),
            ActionPolicy {
                request: Some(RequestScope::Anyone),
                ..Default::default()
            },
        );
        let policy = ApprovalPolicy {
            per_action,
            ..Default::default()
        };
        let payments = TeamName::parse("payments").unwrap();
        let svc = ChangeSubject::Service(crate::domain::ServiceName::parse("ledger").unwrap());
        assert!(
            policy
                .may_request(
                    ToolName::ScaleDeployment,
                    &svc,
                    Some(&payments),
                    &actor("dan", &["sre"])
                )
                .is_ok()
        );
        assert!(
            policy
                .may_request(
                    ToolName::RestartDeployment,
                    &svc,
                    Some(&payments),
                    &actor("dan", &["sre"])
                )
                .is_err()
        );
        let ns = ChangeSubject::Team(payments.clone());
        assert!(
            policy
                .may_request(
                    ToolName::CreateNamespace,
                    &ns,
                    Some(&payments),
                    &actor("jonah", &["checkout"])
                )
                .is_ok()
        );
        // Even then, someone the catalog does not know may not.
        assert!(
            policy
                .may_request(
                    ToolName::CreateNamespace,
                    &ns,
                    Some(&payments),
                    &actor("mallory", &[])
                )
                .is_err()
        );
    }
}
