//! `search_docs`: answers how-to questions from the docs index, with citations.
//!
//! Retrieved text is data: it is only ever quoted, inside a block quote, never
//! interpreted. When nothing relevant scores above the threshold the answer
//! says so and names the team the catalog says owns what the question is about.

use crate::domain::ToolName;
use serde_json::json;

use super::args::SearchDocsArgs;
use super::{ActionContext, ActionError, ActionOutput, ReadAction};
use crate::domain::Citation;
use crate::knowledge::{KnowledgeError, Passage};
use crate::platform::Catalog;
use crate::platform::catalog::{Team, slug};

/// The most of one passage quoted in chat; the link has the rest.
const QUOTE_CHARS: usize = 700;
/// Queries longer than this are cut (a pasted log is not a question).
const MAX_QUERY_CHARS: usize = 1000;

pub struct SearchDocs;

#[async_trait::async_trait]
impl ReadAction for SearchDocs {
    type Args = SearchDocsArgs;
    const NAME: ToolName = ToolName::SearchDocs;
    const DOES: &'static str = "search the platform docs (ask \"how do I ...\")";

    async fn run(
        &self,
        ctx: &ActionContext<'_>,
        args: Self::Args,
    ) -> Result<ActionOutput, ActionError> {
        let query: String = args.query.trim().chars().take(MAX_QUERY_CHARS).collect();
        if query.is_empty() {
            return Err(ActionError::InvalidArgs(
                "search_docs: the question is empty".into(),
            ));
        }
        let Some(index) = ctx.platform.docs.as_ref() else {
            return Ok(ActionOutput::new(
                "The docs index is not configured here, so I cannot look that up.".into(),
                json!({"query": query, "passages": []}),
            ));
        };
        let limit = index.settings().max_passages;
        let results = match index.search(&query, limit, None).await {
            Ok(r) => r,
            Err(e @ (KnowledgeError::NotIndexed | KnowledgeError::Corrupt(_))) => {
                return Err(ActionError::Failed(format!(
                    "I cannot search the docs right now: {e}."
                )));
            }
            Err(e) => return Err(ActionError::Failed(format!("Docs search failed: {e}"))),
        };
        let relevant = results.relevant();
        if relevant.is_empty() {
            let owners = owners_mentioned(&ctx.platform.catalog, &query);
            return Ok(ActionOutput::new(
                nothing_found(&owners),
                json!({
                    "query": query,
                    "passages": [],
                    "best_coverage": results.passages.first().map(|p| p.coverage),
                    "threshold": results.threshold,
                    "suggested_owners": owners.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
                }),
            ));
        }
        let citations = relevant
            .iter()
            .map(|p| Citation {
                title: p.heading(),
                link: p.link.clone(),
            })
            .collect();
        Ok(ActionOutput {
            text: answer(&relevant),
            data: json!({"query": query, "passages": relevant}),
            citations,
        })
    }
}

/// The best passage quoted, the others named, every one numbered for its citation.
/// The links are not repeated here: every surface lists the citations once, numbered
/// in this order.
fn answer(passages: &[&Passage]) -> String {
    let mut out = String::from("From the platform docs:\n\n");
    if let Some(best) = passages.first() {
        out.push_str(&format!("[1] *{}*\n", best.heading()));
        out.push_str(&quote(&best.text));
        out.push('\n');
    }
    if passages.len() > 1 {
        out.push_str("\nSee also:\n");
        for (i, p) in passages.iter().enumerate().skip(1) {
            out.push_str(&format!(
                "[{}] *{}*: {}\n",
                i + 1,
                p.heading(),
                first_line(&p.text)
            ));
        }
    }
    out.trim_end().to_owned()
}

/// `text` as a block quote, cut at a line boundary near `QUOTE_CHARS`.
fn quote(text: &str) -> String {
    let mut out = String::new();
    let mut used = 0;
    let mut in_code = false;
    for line in text.lines() {
        if used + line.len() > QUOTE_CHARS && used > 0 {
            if in_code {
                out.push_str("> ```\n");
            }
            out.push_str("> …\n");
            return out;
        }
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        }
        used += line.len() + 1;
        out.push_str("> ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn first_line(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("```") && !l.starts_with('|'))
        .unwrap_or("");
    let short: String = line.chars().take(160).collect();
    if short.len() < line.len() {
        format!("{short}…")
    } else {
        short
    }
}

fn nothing_found(owners: &[&Team]) -> String {
    let mut out =
        String::from("I found nothing in the platform docs that answers that, so I won't guess.");
    match owners {
        [] => out.push_str(
            " The platform team maintains these docs: ask them in their channel, and ask for a page if this comes up often.",
        ),
        [team] => out.push_str(&format!(
            " This looks like something team *{}* owns{}; they are the best people to ask.",
            team.title_or_name(),
            team.email
                .as_ref()
                .map_or(String::new(), |e| format!(" ({e})"))
        )),
        teams => {
            let names: Vec<String> = teams
                .iter()
                .map(|t| format!("*{}*", t.title_or_name()))
                .collect();
            out.push_str(&format!(
                " Teams that own what you mention: {}.",
                names.join(", ")
            ));
        }
    }
    out
}

/// Teams the question names, directly or through a service they own.
fn owners_mentioned<'c>(catalog: &'c Catalog, query: &str) -> Vec<&'c Team> {
    let text = format!("-{}-", slug(query));
    let mentions = |alias: &str| !alias.is_empty() && text.contains(&format!("-{alias}-"));
    let mut names = Vec::new();
    for service in catalog.services() {
        if service.aliases().iter().any(|a| mentions(a)) && !names.contains(&service.owner) {
            names.push(service.owner.clone());
        }
    }
    for team in catalog.teams() {
        if team.aliases().iter().any(|a| mentions(a)) && !names.contains(&team.name) {
            names.push(team.name.clone());
        }
    }
    names
        .iter()
        .filter_map(|n| catalog.team(n.as_str()))
        .collect()
}

trait TitleOrName {
    fn title_or_name(&self) -> &str;
}

impl TitleOrName for Team {
    fn title_or_name(&self) -> &str {
        if self.title.is_empty() {
            self.name.as_str()
        } else {
            &self.title
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passage(title: &str, text: &str) -> Passage {
        Passage {
            source: "platform".into(),
            path: "x.md".into(),
            title: title.into(),
            headings: vec!["Rotating".into()],
            text: text.into(),
            link: "https://docs.example.com/x.md#rotating".into(),
            score: 1.0,
            coverage: 1.0,
        }
    }

    #[test]
    fn answers_quote_and_cite() {
        let a = passage("Secrets", "Run `vault write`.\n\nThen restart.");
        let b = passage("Deploying", "Merge to main.");
        let text = answer(&[&a, &b]);
        assert!(text.contains("> Run `vault write`."), "{text}");
        assert!(
            text.contains("[2] *Deploying › Rotating*: Merge to main."),
            "{text}"
        );
        // Each source once: the citations carry the links, the text only numbers them.
        assert!(!text.contains("https://"), "{text}");
        assert!(!text.contains("Sources"), "{text}");
    }

    #[test]
    fn long_passages_are_cut_and_code_fences_closed() {
        let long = format!("```sh\n{}```", "echo hello world\n".repeat(100));
        let q = quote(&long);
        assert!(q.len() < QUOTE_CHARS + 200);
        assert!(q.ends_with("> ```\n> …\n"), "{q}");
    }

    #[test]
    fn owners_come_from_services_and_teams_named() {
        let catalog = Catalog::sandbox();
        let owners = owners_mentioned(&catalog, "how do I rotate the ledger db password?");
        assert_eq!(owners.len(), 1);
        assert_eq!(owners[0].name.as_str(), "payments");
        let owners = owners_mentioned(&catalog, "does the data platform team run kafka?");
        assert_eq!(owners[0].name.as_str(), "data-platform");
        assert!(owners_mentioned(&catalog, "how do I bake bread").is_empty());
        assert!(nothing_found(&[]).contains("platform team"));
    }
}
