//! The terminal surface: a line-per-message chat on stdin/stdout.
//! `/confirm <id>` and `/cancel <id>` act on any proposal by id; `confirm` and
//! `cancel` alone act on the newest pending one in this conversation.

use std::io::Write;

use tokio::io::{AsyncBufReadExt, BufReader};

use super::{ConversationKey, Inbound, Reply, Surface, UserRef};
use crate::approval::ProposalId;
use crate::domain::UserId;
use crate::engine::Engine;

pub struct TerminalChat<'a> {
    pub engine: &'a Engine,
    pub user: UserId,
    pub conversation: ConversationKey,
}

impl<'a> TerminalChat<'a> {
    pub fn new(engine: &'a Engine, user: UserId, thread: String) -> Self {
        Self {
            engine,
            user,
            conversation: ConversationKey::new(Surface::Terminal, "tty", thread),
        }
    }

    /// Handles one line; returns what to print.
    pub async fn line(&self, line: &str) -> Vec<String> {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("/confirm ") {
            return vec![self.by_id(rest, true).await];
        }
        if let Some(rest) = trimmed.strip_prefix("/cancel ") {
            return vec![self.by_id(rest, false).await];
        }
        let msg = Inbound {
            conversation: self.conversation.clone(),
            user: UserRef::direct(self.user.clone()),
            text: line.to_owned(),
        };
        self.engine.handle(msg).await.iter().map(render).collect()
    }

    async fn by_id(&self, raw: &str, confirm: bool) -> String {
        let id: ProposalId = match raw.parse() {
            Ok(id) => id,
            Err(e) => return format!("{e}"),
        };
        let result = if confirm {
            self.engine.confirm(id, &self.user).await
        } else {
            self.engine.cancel(id, &self.user).await
        };
        match result {
            Ok(d) => d.text,
            Err(e) => e.to_string(),
        }
    }

    /// Reads stdin until EOF or `/quit`.
    pub async fn run(&self) -> std::io::Result<()> {
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        loop {
            print!("{}> ", self.user);
            std::io::stdout().flush()?;
            let Some(line) = lines.next_line().await? else {
                println!();
                return Ok(());
            };
            match line.trim() {
                "" => continue,
                "/quit" | "/exit" | "exit" | "quit" => return Ok(()),
                _ => {}
            }
            for out in self.line(&line).await {
                println!("{out}\n");
            }
        }
    }
}

pub fn render(reply: &Reply) -> String {
    let mut out = reply.text.clone();
    if !reply.citations.is_empty() {
        out.push_str("\nSources:");
    }
    for (i, c) in reply.citations.iter().enumerate() {
        out.push_str(&format!("\n  [{}] {} <{}>", i + 1, c.title, c.link));
    }
    if let Some(p) = &reply.proposal {
        out.push_str(&format!("\n  (proposal id {})", p.id));
    }
    out
}
