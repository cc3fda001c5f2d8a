//! The Slack surface: turns accepted payloads into engine calls and posts the results.
//!
//! `accept_*` are called by the transports with a verified payload and return at once
//! (Slack wants an acknowledgement within 3 seconds); the work runs afterwards, queued
//! per thread so a thread's messages are answered in order.

use crate::chat::click::{RefusalIcons, finished_card, refusal};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use slack_morphism::prelude::*;

use crate::approval::{ApprovalError, ProposalId, ProposalState};
use crate::chat::{ConversationKey, Inbound, Reply, Surface};
use crate::engine::{Engine, EngineError};

use super::api::SlackWebApi;
use super::blocks;
use super::identity::{GUEST_REPLY, SlackIdentity, Unserved};
use super::inbound::{self, Click, Command, Decision, Message};
use crate::chat::dedup::{self, RecentIds};
use crate::chat::queue::ThreadQueues;

const REFUSAL_ICONS: RefusalIcons = RefusalIcons {
    not_allowed: ":no_entry:",
    expired: ":hourglass:",
};

pub use crate::chat::Accepted;

const BUSY: &str = "I'm still working through earlier messages in this thread; please wait for those answers, then ask again.";

/// Cards posted by this process, by proposal id, so a typed "confirm" can update the card.
const CARDS_MAX: usize = 10_000;

pub struct SlackSurface {
    engine: Arc<Engine>,
    api: Arc<SlackWebApi>,
    identity: SlackIdentity,
    bot_user: Option<String>,
    seen: RecentIds,
    threads: ThreadQueues,
    cards: Mutex<HashMap<String, (String, String)>>,
}

impl SlackSurface {
    pub fn new(engine: Arc<Engine>, api: Arc<SlackWebApi>, bot_user: Option<String>) -> Self {
        let identity = SlackIdentity::new(Arc::clone(&api), Arc::clone(&engine.platform().catalog));
        Self {
            engine,
            api,
            identity,
            bot_user,
            seen: RecentIds::default(),
            threads: ThreadQueues::default(),
            cards: Mutex::new(HashMap::new()),
        }
    }

    pub fn api(&self) -> &Arc<SlackWebApi> {
        &self.api
    }

    /// Threads with work queued or running.
    pub fn busy_threads(&self) -> usize {
        self.threads.busy()
    }

    /// An `event_callback`: answered once per event id, in its thread's order.
    pub fn accept_event(
        self: &Arc<Self>,
        cb: &SlackPushEventCallback,
        retry: Option<&str>,
    ) -> Accepted {
        let msg = match inbound::message(cb, self.bot_user.as_deref()) {
            Ok(m) => m,
            Err(inbound::Ignored { reason, routine }) => {
                if routine {
                    tracing::debug!(event_id = %cb.event_id, %reason, "Slack event ignored");
                } else {
                    tracing::info!(event_id = %cb.event_id, %reason, "Slack event ignored");
                }
                return Accepted::Ignored(reason);
            }
        };
        let delivery = format!("event:{}", msg.event_id);
        if !self.seen.first_time(&delivery) {
            tracing::info!(event_id = %msg.event_id, retry = retry.unwrap_or("-"), "duplicate Slack event ignored");
            return Accepted::Duplicate;
        }
        if let Some(n) = retry {
            tracing::info!(event_id = %msg.event_id, retry = n, "Slack retry of an event not seen before; handling it");
        }
        let key = ConversationKey::new(Surface::Slack, &msg.channel, &msg.thread_ts);
        let this = Arc::clone(self);
        let (channel, thread) = (msg.channel.clone(), msg.thread_ts.clone());
        if self
            .threads
            .push(key, async move {
                if this.first_on_every_replica(&delivery).await {
                    this.answer(msg).await;
                }
            })
            .is_err()
        {
            tracing::warn!(%channel, %thread, "Slack thread queue full; message refused");
            let this = Arc::clone(self);
            tokio::spawn(async move { this.busy_thread(&channel, &thread).await });
        }
        Accepted::Queued
    }

    /// A `block_actions` interaction: Confirm / Cancel on a card.
    pub fn accept_interaction(self: &Arc<Self>, ev: &SlackInteractionEvent) -> Accepted {
        let clicks = match inbound::clicks(ev) {
            Ok(c) => c,
            Err(inbound::Ignored { reason, .. }) => {
                tracing::info!(%reason, "Slack interaction ignored");
                return Accepted::Ignored(reason);
            }
        };
        let mut accepted = Accepted::Duplicate;
        for click in clicks {
            let id = format!("click:{}:{}", click.trigger_id, click.proposal);
            if !self.seen.first_time(&id) {
                tracing::info!(trigger_id = %click.trigger_id, "duplicate Slack click ignored");
                continue;
            }
            accepted = Accepted::Queued;
            // Not behind the thread's queue: the compare-and-set in the engine orders clicks,
            // and a click should not wait for a slow answer in the same thread.
            let this = Arc::clone(self);
            tokio::spawn(async move {
                if this.first_on_every_replica(&id).await {
                    this.click(click).await;
                }
            });
        }
        accepted
    }

    /// `/platbot <text>`: the ephemeral acknowledgement to send now; the answer follows in a thread.
    pub fn accept_command(self: &Arc<Self>, ev: &SlackCommandEvent) -> (Accepted, String) {
        let cmd = inbound::command(ev);
        if cmd.text.is_empty() {
            return (
                Accepted::Ignored("empty command".into()),
                "Ask me something, e.g. `/platbot how is cart doing in prod` or `/platbot can I get a namespace for payments in dev?`".into(),
            );
        }
        let delivery = format!("command:{}", cmd.trigger_id);
        if !self.seen.first_time(&delivery) {
            tracing::info!(trigger_id = %cmd.trigger_id, "duplicate slash command ignored");
            return (Accepted::Duplicate, String::new());
        }
        let this = Arc::clone(self);
        let key = ConversationKey::new(
            Surface::Slack,
            &cmd.channel,
            format!("command:{}", cmd.trigger_id),
        );
        if self
            .threads
            .push(key, async move {
                if this.first_on_every_replica(&delivery).await {
                    this.command(cmd).await;
                }
            })
            .is_err()
        {
            return (Accepted::Ignored("queue full".into()), BUSY.into());
        }
        (
            Accepted::Queued,
            "On it; I'll answer in a thread here.".into(),
        )
    }

    /// Says so when a thread has too many messages waiting (see `queue::MAX_QUEUED`).
    async fn busy_thread(&self, channel: &str, thread: &str) {
        if let Err(e) = self
            .api
            .post_message(channel, Some(thread), blocks::plain(BUSY))
            .await
        {
            tracing::warn!(error = %e, "cannot say the thread is busy");
        }
    }

    /// The store's check across replicas (this process's own `seen` caught repeats it
    /// received itself).
    async fn first_on_every_replica(&self, delivery: &str) -> bool {
        dedup::first_on_every_replica(self.engine.store(), Surface::Slack, delivery).await
    }

    async fn answer(&self, msg: Message) {
        let user = match self.identity.resolve(&msg.user).await {
            Ok(user) => user,
            Err(Unserved::Guest) => {
                let reply = Reply::text(GUEST_REPLY);
                self.post_reply(&msg.channel, &msg.thread_ts, &reply).await;
                return;
            }
            Err(Unserved::Unusable) => return,
        };
        tracing::debug!(slack_user = %msg.user, user = %user.id, channel = %msg.channel, "Slack message");
        let inbound = Inbound {
            conversation: ConversationKey::new(Surface::Slack, &msg.channel, &msg.thread_ts),
            user,
            text: msg.text,
        };
        let replies = self.engine.handle(inbound).await;
        for reply in &replies {
            self.post_reply(&msg.channel, &msg.thread_ts, reply).await;
        }
    }

    async fn command(&self, cmd: Command) {
        // A thread needs a parent message: the question itself, posted by the bot.
        let parent = SlackMessageContent::new().with_text(format!(
            "<@{}> asked: {}",
            cmd.user,
            blocks::escape(&cmd.text)
        ));
        let parent = match self.api.post_message(&cmd.channel, None, parent).await {
            Ok(ts) => ts,
            Err(e) => {
                tracing::warn!(channel = %cmd.channel, error = %e, "cannot post in the command's channel");
                let why = if matches!(e.code(), Some("not_in_channel" | "channel_not_found")) {
                    "I can't post in this channel. Invite me with `/invite @platbot`, or message me directly."
                } else {
                    "Slack did not let me answer here; please try again in a moment."
                };
                if let Err(e) = self
                    .api
                    .respond(&cmd.response_url, blocks::plain(why))
                    .await
                {
                    tracing::warn!(error = %e, "cannot answer through response_url either");
                }
                return;
            }
        };
        let msg = Message {
            event_id: format!("command:{}", cmd.trigger_id),
            channel: cmd.channel,
            thread_ts: parent,
            user: cmd.user,
            text: cmd.text,
        };
        self.answer(msg).await;
    }

    /// Posts one engine reply in a thread: a card for a new proposal (an update of the
    /// card when this process posted it already), text split to Slack's limits otherwise.
    pub async fn post_reply(&self, channel: &str, thread_ts: &str, reply: &Reply) {
        if let Some(p) = &reply.proposal {
            if let Some((card_channel, card_ts)) = self.card_of(&p.id) {
                self.update_card(&card_channel, &card_ts, p).await;
            } else if p.state == ProposalState::Proposed && p.approvals.is_empty() {
                match self
                    .api
                    .post_message(channel, Some(thread_ts), blocks::proposal_card(p))
                    .await
                {
                    Ok(ts) => {
                        self.remember_card(&p.id, channel, &ts);
                        return;
                    }
                    // The text card still says how to confirm ("confirm" in the thread).
                    Err(e) => {
                        tracing::error!(proposal = %p.id, error = %e, "cannot post the proposal card; posting it as text")
                    }
                }
            }
        }
        for content in blocks::reply_messages(reply) {
            if let Err(e) = self
                .api
                .post_message(channel, Some(thread_ts), content)
                .await
            {
                tracing::error!(channel, thread_ts, error = %e, "cannot post a reply");
                return;
            }
        }
    }

    async fn click(&self, click: Click) {
        let user = match self.identity.resolve(&click.user).await {
            Ok(user) => user,
            Err(Unserved::Guest) => {
                self.explain(&click, GUEST_REPLY).await;
                return;
            }
            Err(Unserved::Unusable) => return,
        };
        let Ok(id) = click.proposal.parse::<ProposalId>() else {
            self.explain(&click, "That button does not belong to a proposal I know.")
                .await;
            return;
        };
        self.remember_card(&click.proposal, &click.channel, &click.message_ts);
        let result = match click.decision {
            Decision::Confirm => self.engine.confirm(id, &user.id).await,
            Decision::Cancel => self.engine.cancel(id, &user.id).await,
        };
        match result {
            Ok(decision) => {
                let view = decision.proposal.view();
                self.update_card(&click.channel, &click.message_ts, &view)
                    .await;
                let verb = match click.decision {
                    Decision::Confirm => "confirmed",
                    Decision::Cancel => "cancelled",
                };
                let text = format!(
                    "<@{}> {verb}. {}",
                    click.user,
                    blocks::escape(&decision.text)
                );
                let thread = click.thread_ts.as_deref().unwrap_or(&click.message_ts);
                self.post_mrkdwn(&click.channel, thread, &text).await;
            }
            Err(EngineError::Approval(e)) => {
                tracing::info!(proposal = %id, user = %user.id, error = %e, "Slack click refused");
                self.explain(&click, &refusal(click.decision, &e, &REFUSAL_ICONS))
                    .await;
                if matches!(e, ApprovalError::Expired(_) | ApprovalError::NotPending(_)) {
                    self.refresh_card(&click, id).await;
                }
            }
            Err(e) => {
                tracing::error!(proposal = %id, error = %e, "Slack click failed");
                self.explain(&click, "Sorry, something went wrong on my side. Nothing was changed; please try again.")
                    .await;
            }
        }
    }

    /// Shows a finished card as it is now (a late click on an expired or done card).
    async fn refresh_card(&self, click: &Click, id: ProposalId) {
        if let Some(view) = finished_card(&self.engine, id).await {
            self.update_card(&click.channel, &click.message_ts, &view)
                .await;
        }
    }

    async fn update_card(&self, channel: &str, ts: &str, p: &crate::approval::ProposalView) {
        if let Err(e) = self.api.update(channel, ts, blocks::proposal_card(p)).await {
            tracing::error!(proposal = %p.id, error = %e, "cannot update the proposal card");
        }
    }

    async fn post_mrkdwn(&self, channel: &str, thread_ts: &str, mrkdwn: &str) {
        for content in blocks::mrkdwn_messages(mrkdwn, &[]) {
            if let Err(e) = self
                .api
                .post_message(channel, Some(thread_ts), content)
                .await
            {
                tracing::error!(channel, error = %e, "cannot post in the thread");
                return;
            }
        }
    }

    /// An explanation only the clicking user sees.
    async fn explain(&self, click: &Click, text: &str) {
        let thread = click.thread_ts.as_deref();
        if let Err(e) = self
            .api
            .post_ephemeral(&click.channel, &click.user, thread, blocks::plain(text))
            .await
        {
            tracing::warn!(error = %e, "cannot post an ephemeral explanation");
        }
    }

    fn card_of(&self, proposal: &str) -> Option<(String, String)> {
        self.cards
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(proposal)
            .cloned()
    }

    fn remember_card(&self, proposal: &str, channel: &str, ts: &str) {
        let mut cards = self
            .cards
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cards.len() >= CARDS_MAX {
            // Forgetting only costs a fresh card instead of an in-place update.
            cards.clear();
        }
        cards.insert(proposal.to_owned(), (channel.to_owned(), ts.to_owned()));
    }
}
