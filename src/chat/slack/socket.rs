//! Socket Mode: platbot opens websockets to Slack (URLs from `apps.connections.open`,
//! called with the app-level token), so no public URL is needed.
//!
//! slack-morphism acknowledges an envelope when the callback returns, so the callbacks
//! only hand the payload to the surface, which queues the work. Slack redelivers an
//! envelope it saw no acknowledgement for; the surface's event-id check makes that harmless.

use std::sync::Arc;

use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;

use super::surface::SlackSurface;

/// Connection settings; the defaults are slack-morphism's (two connections, so one
/// can be refreshed while the other serves).
#[derive(Debug, Clone)]
pub struct SocketOptions {
    pub connections: u32,
}

impl Default for SocketOptions {
    fn default() -> Self {
        Self {
            connections: SlackClientSocketModeConfig::DEFAULT_CONNECTIONS_COUNT,
        }
    }
}

pub struct SocketMode {
    listener: SlackClientSocketModeListener<SlackClientHyperHttpsConnector>,
}

impl SocketMode {
    /// Registers the app token and starts connecting in the background.
    pub async fn start(
        surface: Arc<SlackSurface>,
        app_token: &str,
        options: &SocketOptions,
    ) -> Result<Self, SlackClientError> {
        let environment = Arc::new(
            SlackClientEventsListenerEnvironment::new(surface.api().client())
                .with_error_handler(on_error)
                .with_user_state(surface),
        );
        let callbacks = SlackSocketModeListenerCallbacks::new()
            .with_push_events(on_push)
            .with_interaction_events(on_interaction)
            .with_command_events(on_command);
        let config = SlackClientSocketModeConfig::new()
            .with_max_connections_count(options.connections.max(1));
        let listener = SlackClientSocketModeListener::new(&config, environment, callbacks);
        listener
            .listen_for(&SlackApiToken::new(app_token.into()))
            .await?;
        listener.start().await;
        tracing::info!(
            connections = options.connections,
            "Slack Socket Mode started"
        );
        Ok(Self { listener })
    }

    pub async fn shutdown(&self) {
        self.listener.shutdown().await;
    }
}

async fn surface(state: &SlackClientEventsUserState) -> Option<Arc<SlackSurface>> {
    let storage = state.read().await;
    let surface = storage.get_user_state::<Arc<SlackSurface>>().cloned();
    if surface.is_none() {
        tracing::error!("Socket Mode callback without the Slack surface");
    }
    surface
}

async fn on_push(
    event: SlackPushEventCallback,
    _client: Arc<SlackClient<SlackClientHyperHttpsConnector>>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    if let Some(surface) = surface(&state).await {
        let accepted = surface.accept_event(&event, None);
        tracing::debug!(event_id = %event.event_id, ?accepted, "Socket Mode event acknowledged");
    }
    Ok(())
}

async fn on_interaction(
    event: SlackInteractionEvent,
    _client: Arc<SlackClient<SlackClientHyperHttpsConnector>>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    if let Some(surface) = surface(&state).await {
        let accepted = surface.accept_interaction(&event);
        tracing::debug!(?accepted, "Socket Mode interaction acknowledged");
    }
    Ok(())
}

async fn on_command(
    event: SlackCommandEvent,
    _client: Arc<SlackClient<SlackClientHyperHttpsConnector>>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    let ack = match surface(&state).await {
        Some(surface) => surface.accept_command(&event).1,
        None => String::new(),
    };
    let content = if ack.is_empty() {
        SlackMessageContent::new()
    } else {
        SlackMessageContent::new().with_text(ack)
    };
    Ok(SlackCommandEventResponse::new(content)
        .with_response_type(SlackMessageResponseType::Ephemeral))
}

/// Errors inside the listener (a frame that does not parse, a websocket failure):
/// logged, and the envelope acknowledged so Slack does not redeliver what cannot succeed.
fn on_error(
    err: Box<dyn std::error::Error + Send + Sync>,
    _client: Arc<SlackClient<SlackClientHyperHttpsConnector>>,
    _state: SlackClientEventsUserState,
) -> http::StatusCode {
    tracing::warn!(error = %err, "Slack Socket Mode error");
    http::StatusCode::OK
}
