//! Which tool a message asks for: the pattern scores from the alias table, adjusted
//! by what the message names. A tool that needs a service loses points when no
//! service is named, so "how do I roll back a deploy?" stays a docs question while
//! "roll back cart in prod" is a rollback.

use super::mentions::Kind;
use super::numbers;
use super::{AliasPlanner, Features, ToolInfo};

/// The score a tool needs to be chosen.
pub(crate) const MIN_SCORE: f32 = 2.0;
/// A required service, team or subject the message does not name.
const MISSING_ENTITY: f32 = 2.0;
/// Only a service is named, but the tool is about teams (listing, namespaces).
const WRONG_ENTITY: f32 = 2.0;
/// A number whose cue words fit one of the tool's numeric arguments ("to 3 replicas").
const FITTING_NUMBER: f32 = 1.0;
/// A question that names nothing in the catalog leans towards the docs.
const QUESTION_WITHOUT_ENTITY: f32 = 1.0;
/// Only teams are named: team tools gain, service tools lose (they would have to ask).
const TEAMS_ONLY: f32 = 1.0;

/// What a message that names a service, a team or an environment and asks nothing else wants.
const DEFAULT_FOR_SERVICE: &str = "deployment_status";
const DEFAULT_FOR_TEAM_OR_ENVIRONMENT: &str = "list_deployments";
/// Longest message that may name only an entity ("cart in prod?").
const MAX_BARE_ENTITY_WORDS: usize = 6;
const GRATITUDE: &[&str] = &[
    "thanks",
    "thank",
    "thx",
    "ty",
    "cheers",
    "appreciated",
    "kudos",
];

/// Verbs of changes no action makes: such a request is refused, never read as the
/// nearest change ("delete the payments-prod namespace" is not a namespace request).
const UNSUPPORTED_CHANGES: &[&str] = &[
    "delete",
    "remove",
    "destroy",
    "drop",
    "purge",
    "wipe",
    "erase",
    "nuke",
    "uninstall",
    "decommission",
    "teardown",
];
/// Words that make such a message a question about the process (for the docs).
const PROCESS_CUES: &[&str] = &[
    "how",
    "hows",
    "why",
    "when",
    "where",
    "docs",
    "doc",
    "documentation",
    "process",
    "steps",
    "runbook",
    "guide",
    "policy",
    "allowed",
    "should",
];

/// The unsupported change a message asks for, if it asks for one rather than about one.
pub(crate) fn unsupported_change(f: &Features) -> Option<&'static str> {
    if f.msg.has_word(PROCESS_CUES) {
        return None;
    }
    let tear_down = f
        .msg
        .words
        .windows(2)
        .any(|w| w[0].text == "tear" && w[1].text == "down");
    if tear_down {
        return Some("tear down");
    }
    UNSUPPORTED_CHANGES
        .iter()
        .find(|v| f.msg.has_word(&[v]))
        .copied()
}

/// Score per tool, in the planner's tool order.
pub(crate) fn scores(p: &AliasPlanner, f: &Features) -> Vec<f32> {
    let mut scores = p.patterns.scores(&f.msg.words, p.tools.len());
    for (tool, score) in p.tools.iter().zip(scores.iter_mut()) {
        *score += structure(tool, f);
    }
    scores
}

fn structure(tool: &ToolInfo, f: &Features) -> f32 {
    let m = &f.mentions;
    let names_team = m.iter().any(|m| m.can_be(Kind::Team));
    // A team named where a service is needed still leads somewhere: its services.
    let names_service = m.iter().any(|m| m.service || m.team);
    let mut adjust = 0.0;
    let missing = (tool.requires("service") && !names_service)
        || (tool.requires("team") && !names_team)
        || (tool.requires("subject") && m.is_empty());
    if missing {
        adjust -= MISSING_ENTITY;
    }
    let only_services = !m.is_empty() && m.iter().all(|m| m.service_only());
    if tool.takes("team") && !tool.takes("service") && only_services {
        adjust -= WRONG_ENTITY;
    }
    let only_teams = !m.is_empty() && m.iter().all(|m| !m.can_be(Kind::Service));
    if only_teams && tool.takes("team") {
        adjust += TEAMS_ONLY;
    } else if only_teams && tool.requires("service") {
        adjust -= TEAMS_ONLY;
    }
    if tool
        .numeric
        .iter()
        .any(|arg| numbers::any_fits(arg, &f.msg.words, &f.numbers))
    {
        adjust += FITTING_NUMBER;
    }
    if tool.is_docs() && f.msg.question && m.is_empty() {
        adjust += QUESTION_WITHOUT_ENTITY;
    }
    adjust
}

/// The best-scoring tool; on a tie a read beats a mutation, then table order.
pub(crate) fn best(p: &AliasPlanner, f: &Features) -> Option<(usize, f32)> {
    scores(p, f)
        .into_iter()
        .enumerate()
        .max_by(|(ia, a), (ib, b)| {
            a.total_cmp(b)
                .then_with(|| p.tools[*ib].is_mutation().cmp(&p.tools[*ia].is_mutation()))
                .then_with(|| ib.cmp(ia))
        })
}

/// The tool this message asks for, or `None` when it is not a platform request.
pub(crate) fn choose(p: &AliasPlanner, f: &Features) -> Option<usize> {
    if let Some((tool, _)) = best(p, f).filter(|(_, s)| *s >= MIN_SCORE) {
        return Some(tool);
    }
    // Naming an environment too makes a longer message about the platform.
    let bare = f.msg.question || f.msg.words.len() <= MAX_BARE_ENTITY_WORDS || !f.envs.is_empty();
    if !bare || f.msg.has_word(GRATITUDE) {
        return None;
    }
    if f.mentions.iter().any(|m| m.service) {
        p.tool_index(DEFAULT_FOR_SERVICE)
    } else if f.mentions.iter().any(|m| m.team) || !f.envs.is_empty() {
        p.tool_index(DEFAULT_FOR_TEAM_OR_ENVIRONMENT)
    } else {
        None
    }
}
