//! The Discord surface: accepted gateway payloads to engine calls, answers through REST.
//!
//! `accept_*` are called by the gateway handler and return at once; the work runs afterwards.
//! Messages are answered in their channel's order (a thread, a DM, a server channel),
//! interactions at once, because Discord wants them acknowledged within 3 seconds.

use crate::chat::click::{RefusalIcons, finished_card, refusal};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serenity::model::application::Interaction;
use serenity::model::channel::Message;
use serenity::model::id::UserId as DiscordUserId;

use crate::approval::{ApprovalError, ProposalId, ProposalState, ProposalView};
use crate::chat::dedup::{self, RecentIds};
use crate::chat::queue::ThreadQueues;
use crate::chat::{Accepted, ConversationKey, Inbound, Reply, Surface};
use crate::engine::{Engine, EngineError};

use super::identity::{DiscordIdentity, Person, mapping_hint};
use super::inbound::{self, Asked, Click, Command, Decision, Ignored};
use super::render::{self, Card};
use super::rest::{DiscordRest, Place};

const REFUSAL_ICONS: RefusalIcons = RefusalIcons {
    not_allowed: "⛔",
    expired: "⌛",
};

const BUSY: &str = "I'm still working through earlier messages here; please wait for those answers, then ask again.";
const SORRY: &str =
    "Sorry, something went wrong on my side. Nothing was changed; please try again.";

/// Cards posted by this process, by proposal id, so a typed "confirm" can update the card.
const CARDS_MAX: usize = 10_000;

pub struct DiscordSurface {
    engine: Arc<Engine>,
    rest: Arc<DiscordRest>,
    identity: DiscordIdentity,
    bot: DiscordUserId,
    seen: RecentIds,
    threads: ThreadQueues,
    cards: Mutex<HashMap<String, (u64, u64)>>,
}

impl DiscordSurface {
    pub fn new(
        engine: Arc<Engine>,
        rest: Arc<DiscordRest>,
        identity: DiscordIdentity,
        bot: u64,
    ) -> Self {
        Self {
            engine,
            rest,
            identity,
            bot: DiscordUserId::new(bot.max(1)),
            seen: RecentIds::default(),
            threads: ThreadQueues::default(),
            cards: Mutex::new(HashMap::new()),
        }
    }

    /// Channels with work queued or running.
    pub fn busy_threads(&self) -> usize {
        self.threads.busy()
    }

    fn log_ignored(what: &str, id: u64, i: &Ignored) {
        if i.routine {
            tracing::debug!(id, reason = %i.reason, "Discord {what} ignored");
        } else {
            tracing::info!(id, reason = %i.reason, "Discord {what} ignored");
        }
    }

    /// A MESSAGE_CREATE: answered once per message id, in its channel's order.
    pub fn accept_message(self: &Arc<Self>, msg: &Message) -> Accepted {
        let asked = match inbound::message(msg, self.bot) {
            Ok(a) => a,
            Err(i) => {
                Self::log_ignored("message", msg.id.get(), &i);
                return Accepted::Ignored(i.reason);
            }
        };
        let delivery = format!("message:{}", asked.message);
        if !self.seen.first_time(&delivery) {
            tracing::info!(message = asked.message, "replayed Discord message ignored");
            return Accepted::Duplicate;
        }
        let channel = asked.channel.to_string();
        let key = ConversationKey::new(Surface::Discord, &channel, &channel);
        let this = Arc::clone(self);
        if self
            .threads
            .push(key, async move {
                if dedup::first_on_every_replica(this.engine.store(), Surface::Discord, &delivery)
                    .await
                {
                    this.answer(asked).await;
                }
            })
            .is_err()
        {
            tracing::warn!(%channel, "Discord channel queue full; message refused");
            let this = Arc::clone(self);
            let to = msg.channel_id.get();
            tokio::spawn(async move { this.post_text(to, BUSY).await });
        }
        Accepted::Queued
    }

    /// An INTERACTION_CREATE: a card click or `/platbot`, acknowledged within Discord's 3 s.
    pub fn accept_interaction(self: &Arc<Self>, interaction: &Interaction) -> Accepted {
        let (delivery, job) = match interaction {
            Interaction::Component(ci) => match inbound::click(ci) {
                Ok(click) => (
                    format!("interaction:{}", click.interaction),
                    Job::Click(click),
                ),
                Err(i) => {
                    Self::log_ignored("component", ci.id.get(), &i);
                    return Accepted::Ignored(i.reason);
                }
            },
            Interaction::Command(ci) => match inbound::command(ci) {
                Ok(cmd) => (
                    format!("interaction:{}", cmd.interaction),
                    Job::Command(cmd),
                ),
                Err(i) => {
                    Self::log_ignored("command", ci.id.get(), &i);
                    return Accepted::Ignored(i.reason);
                }
            },
            other => {
                let reason = format!("interaction kind {:?}", other.kind());
                tracing::info!(%reason, "Discord interaction ignored");
                return Accepted::Ignored(reason);
            }
        };
        if !self.seen.first_time(&delivery) {
            tracing::info!(%delivery, "replayed Discord interaction ignored");
            return Accepted::Duplicate;
        }
        // Not behind a channel's queue: the acknowledgement cannot wait for a slow answer,
        // and the proposal's compare-and-set orders clicks.
        let this = Arc::clone(self);
        tokio::spawn(async move {
            if !dedup::first_on_every_replica(this.engine.store(), Surface::Discord, &delivery)
                .await
            {
                return;
            }
            match job {
                Job::Click(c) => this.click(c).await,
                Job::Command(c) => this.command(c).await,
            }
        });
        Accepted::Queued
    }

    /// Where the answer to `asked` goes, and the conversation it belongs to: the thread it
    /// was written in, a new thread started from it in a server channel, or the DM itself.
    async fn thread_for(&self, asked: &Asked) -> (u64, ConversationKey) {
        let flat = |channel: u64| {
            let c = channel.to_string();
            (channel, ConversationKey::new(Surface::Discord, &c, &c))
        };
        if asked.guild.is_none() {
            return flat(asked.channel);
        }
        match self.rest.place(asked.channel).await {
            Ok(Place::Thread { parent }) => (
                asked.channel,
                ConversationKey::new(
                    Surface::Discord,
                    parent.to_string(),
                    asked.channel.to_string(),
                ),
            ),
            Ok(Place::Channel) => {
                match self
                    .rest
                    .start_thread(asked.channel, asked.message, &asked.text)
                    .await
                {
                    Ok(thread) => (
                        thread,
                        ConversationKey::new(
                            Surface::Discord,
                            asked.channel.to_string(),
                            thread.to_string(),
                        ),
                    ),
                    Err(e) => {
                        tracing::warn!(channel = asked.channel, error = %e, "cannot start a thread; answering in the channel");
                        (
                            asked.channel,
                            ConversationKey::new(
                                Surface::Discord,
                                asked.channel.to_string(),
                                asked.message.to_string(),
                            ),
                        )
                    }
                }
            }
            Ok(Place::Flat) => flat(asked.channel),
            Err(e) => {
                tracing::warn!(channel = asked.channel, error = %e, "cannot tell what the channel is; answering in it");
                flat(asked.channel)
            }
        }
    }

    fn person(&self, id: u64) -> Option<Person> {
        match self.identity.resolve(id) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(discord_user = id, error = %e, "Discord user without a usable id; ignored");
                None
            }
        }
    }

    async fn answer(&self, asked: Asked) {
        let Some(person) = self.person(asked.author.id) else {
            return;
        };
        let (channel, conversation) = self.thread_for(&asked).await;
        tracing::debug!(discord_user = asked.author.id, user = %person.user().id, %conversation, "Discord message");
        let replies = self.turn(conversation, &person, asked.text).await;
        for reply in &replies {
            self.post_reply(channel, reply).await;
        }
    }

    /// One engine turn; an unmapped person whose request was refused is told how to get mapped.
    async fn turn(
        &self,
        conversation: ConversationKey,
        person: &Person,
        text: String,
    ) -> Vec<Reply> {
        let user = person.user().clone();
        let mut replies = self
            .engine
            .handle(Inbound {
                conversation,
                user: user.clone(),
                text,
            })
            .await;
        if let Person::Unmapped(u) = person
            && let Some(r) = replies.iter_mut().find(|r| r.text.contains(u.id.as_str()))
            && let Some(id) =
                u.id.as_str()
                    .strip_prefix("discord:")
                    .and_then(|d| d.parse().ok())
        {
            r.text.push_str("\n\n");
            r.text.push_str(&mapping_hint(id));
        }
        replies
    }

    /// Posts one engine reply: a card for a new proposal (an update of the card when this
    /// process posted it already), text split to Discord's limits otherwise.
    pub async fn post_reply(&self, channel: u64, reply: &Reply) {
        if let Some(p) = &reply.proposal {
            if let Some((card_channel, card)) = self.card_of(&p.id) {
                if let Err(e) = self.rest.edit_card(card_channel, card, &Card::of(p)).await {
                    tracing::error!(proposal = %p.id, error = %e, "cannot update the proposal card");
                }
            } else if p.state == ProposalState::Proposed && p.approvals.is_empty() {
                match self.rest.post_card(channel, &Card::of(p)).await {
                    Ok(card) => {
                        self.remember_card(&p.id, channel, card);
                        return;
                    }
                    // The text card still says how to confirm ("confirm" in the thread).
                    Err(e) => {
                        tracing::error!(proposal = %p.id, error = %e, "cannot post the proposal card; posting it as text")
                    }
                }
            }
        }
        for text in render::reply_messages(reply) {
            if !self.post_text(channel, &text).await {
                return;
            }
        }
    }

    async fn post_text(&self, channel: u64, text: &str) -> bool {
        match self.rest.post(channel, text).await {
            Ok(_) => true,
            Err(e) => {
                tracing::error!(channel, error = %e, "cannot post a Discord reply");
                false
            }
        }
    }

    /// `/platbot <question>`: deferred at once, answered by editing the deferred response.
    async fn command(&self, cmd: Command) {
        if let Err(e) = self.rest.defer_command(cmd.interaction, &cmd.token).await {
            tracing::warn!(interaction = cmd.interaction, error = %e, "cannot acknowledge the command");
            return;
        }
        let Some(person) = self.person(cmd.author.id) else {
            return;
        };
        let (conversation, thread_from) = self.command_thread(&cmd).await;
        let replies = self.turn(conversation, &person, cmd.text.clone()).await;
        let mut first = true;
        for reply in &replies {
            let card = reply
                .proposal
                .as_ref()
                .filter(|p| p.state == ProposalState::Proposed && p.approvals.is_empty());
            let sent = match (card, first) {
                (Some(p), true) => self
                    .rest
                    .edit_original(&cmd.token, None, Some(&Card::of(p)))
                    .await
                    .map(|m| self.remember_card(&p.id, cmd.channel, m)),
                (Some(p), false) => self
                    .rest
                    .followup_card(&cmd.token, &Card::of(p))
                    .await
                    .map(|m| self.remember_card(&p.id, cmd.channel, m)),
                (None, _) => self.command_text(&cmd, reply, first).await,
            };
            first = false;
            if let Err(e) = sent {
                tracing::error!(interaction = cmd.interaction, error = %e, "cannot answer the command");
                return;
            }
        }
        // The answer becomes a thread's first message, so mentions in it go on from here.
        if let Some(message) = thread_from
            && let Err(e) = self
                .rest
                .start_thread(cmd.channel, message, &cmd.text)
                .await
        {
            tracing::warn!(channel = cmd.channel, error = %e, "cannot start a thread from the command's answer");
        }
    }

    /// The conversation a command belongs to, and the message to start its thread from: in a
    /// server channel the deferred response (whose id the thread will take), in a thread that
    /// thread, in a DM the DM.
    async fn command_thread(&self, cmd: &Command) -> (ConversationKey, Option<u64>) {
        let key = |channel: u64, thread: String| {
            ConversationKey::new(Surface::Discord, channel.to_string(), thread)
        };
        let own = key(cmd.channel, format!("command:{}", cmd.interaction));
        if cmd.guild.is_none() {
            return (key(cmd.channel, cmd.channel.to_string()), None);
        }
        match self.rest.place(cmd.channel).await {
            Ok(Place::Thread { parent }) => (key(parent, cmd.channel.to_string()), None),
            Ok(Place::Channel) => match self.rest.original(&cmd.token).await {
                Ok(message) => (key(cmd.channel, message.to_string()), Some(message)),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the deferred response; the command stays on its own");
                    (own, None)
                }
            },
            Ok(Place::Flat) => (own, None),
            Err(e) => {
                tracing::warn!(channel = cmd.channel, error = %e, "cannot tell what the channel is");
                (own, None)
            }
        }
    }

    async fn command_text(
        &self,
        cmd: &Command,
        reply: &Reply,
        first: bool,
    ) -> Result<(), super::rest::RestError> {
        for (i, text) in render::reply_messages(reply).iter().enumerate() {
            if first && i == 0 {
                self.rest
                    .edit_original(&cmd.token, Some(text), None)
                    .await?;
            } else {
                self.rest.followup(&cmd.token, text, false).await?;
            }
        }
        Ok(())
    }

    async fn click(&self, click: Click) {
        let Some(person) = self.person(click.author.id) else {
            return;
        };
        let user = match &person {
            Person::Mapped(u) => u.clone(),
            Person::Unmapped(_) => {
                let text = format!("⛔ Nothing was changed. {}", mapping_hint(click.author.id));
                self.explain_now(&click, &text).await;
                return;
            }
        };
        let Ok(id) = click.proposal.parse::<ProposalId>() else {
            self.explain_now(&click, "That button does not belong to a proposal I know.")
                .await;
            return;
        };
        if let Err(e) = self.rest.defer_click(click.interaction, &click.token).await {
            tracing::warn!(interaction = click.interaction, error = %e, "cannot acknowledge the click");
            return;
        }
        self.remember_card(&click.proposal, click.channel, click.card);
        let result = match click.decision {
            Decision::Confirm => self.engine.confirm_by(id, &user).await,
            Decision::Cancel => self.engine.cancel_by(id, &user).await,
        };
        match result {
            Ok(decision) => {
                self.edit_clicked_card(&click, &decision.proposal.view())
                    .await;
                let verb = match click.decision {
                    Decision::Confirm => "confirmed",
                    Decision::Cancel => "cancelled",
                };
                let text = format!("<@{}> {verb}. {}", click.author.id, decision.text);
                for piece in render::text_messages(&text, &[]) {
                    if let Err(e) = self.rest.followup(&click.token, &piece, false).await {
                        tracing::error!(error = %e, "cannot post the outcome");
                        break;
                    }
                }
            }
            Err(EngineError::Approval(e)) => {
                tracing::info!(proposal = %id, user = %user.id, error = %e, "Discord click refused");
                self.explain_later(&click, &refusal(click.decision, &e, &REFUSAL_ICONS))
                    .await;
                if matches!(e, ApprovalError::Expired(_) | ApprovalError::NotPending(_)) {
                    self.refresh_card(&click, id).await;
                }
            }
            Err(e) => {
                tracing::error!(proposal = %id, error = %e, "Discord click failed");
                self.explain_later(&click, SORRY).await;
            }
        }
    }

    /// Shows a finished card as it is now (a late click on an expired or done card).
    async fn refresh_card(&self, click: &Click, id: ProposalId) {
        if let Some(view) = finished_card(&self.engine, id).await {
            self.edit_clicked_card(click, &view).await;
        }
    }

    async fn edit_clicked_card(&self, click: &Click, p: &ProposalView) {
        if let Err(e) = self
            .rest
            .edit_original(&click.token, None, Some(&Card::of(p)))
            .await
        {
            tracing::error!(proposal = %p.id, error = %e, "cannot update the proposal card");
        }
    }

    /// An explanation only the clicking person sees, as the interaction's response.
    async fn explain_now(&self, click: &Click, text: &str) {
        if let Err(e) = self
            .rest
            .respond_ephemeral(click.interaction, &click.token, text)
            .await
        {
            tracing::warn!(error = %e, "cannot answer the click");
        }
    }

    /// An explanation only the clicking person sees, after the click was acknowledged.
    async fn explain_later(&self, click: &Click, text: &str) {
        if let Err(e) = self.rest.followup(&click.token, text, true).await {
            tracing::warn!(error = %e, "cannot post an ephemeral explanation");
        }
    }

    fn card_of(&self, proposal: &str) -> Option<(u64, u64)> {
        self.cards
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(proposal)
            .copied()
    }

    fn remember_card(&self, proposal: &str, channel: u64, message: u64) {
        let mut cards = self
            .cards
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cards.len() >= CARDS_MAX {
            // Forgetting only costs a fresh card instead of an in-place update.
            cards.clear();
        }
        cards.insert(proposal.to_owned(), (channel, message));
    }
}

enum Job {
    Click(Click),
    Command(Command),
}
