//! The fake's REST half: `https://discord.com/api/v10` over TLS, Discord's limits, scripted 429s.

use super::*;

/// The TLS half of `https://discord.com`.
pub(super) struct TlsListener {
    tcp: tokio::net::TcpListener,
    tls: tokio_rustls::TlsAcceptor,
}

impl TlsListener {
    pub(super) fn new(tcp: tokio::net::TcpListener) -> Self {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = vec![CertificateDer::from_pem_slice(CERT_PEM).unwrap()];
        let key = PrivateKeyDer::from_pem_slice(KEY_PEM).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Self {
            tcp,
            tls: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.tls.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

// --- REST ---

fn error(status: u16, code: u64, message: &str) -> (u16, Value) {
    (status, json!({"code": code, "message": message}))
}

pub(super) async fn api(
    State(state): State<Arc<FakeState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri
        .path_and_query()
        .map_or(uri.path(), |p| p.as_str())
        .trim_start_matches("/api/v10")
        .to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let limited = scripted_429(&state, method.as_str(), &path);
    let (status, answer) = match limited {
        Some(_) => (429, Value::Null),
        None => answer(&state, &method, &path, &headers, &body),
    };
    lock(&state.calls).push(Call {
        method: method.to_string(),
        path,
        body,
        status,
        response: answer.clone(),
        at: Instant::now(),
    });
    if let Some(secs) = limited {
        let s = format!("{secs}");
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [
                (header::RETRY_AFTER.as_str(), s.clone()),
                ("x-ratelimit-limit", "5".to_owned()),
                ("x-ratelimit-remaining", "0".to_owned()),
                ("x-ratelimit-reset-after", s.clone()),
                ("x-ratelimit-bucket", "f4k3bucket".to_owned()),
                ("x-ratelimit-scope", "user".to_owned()),
            ],
            axum::Json(json!({"message": "You are being rate limited.", "retry_after": secs, "global": false})),
        )
            .into_response();
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    if status == StatusCode::NO_CONTENT {
        return status.into_response();
    }
    (status, axum::Json(answer)).into_response()
}

fn scripted_429(state: &FakeState, method: &str, path: &str) -> Option<f64> {
    let mut limited = lock(&state.limited);
    limited
        .iter_mut()
        .find(|(m, p, q)| m == method && path.starts_with(p.as_str()) && !q.is_empty())
        .and_then(|(_, _, q)| q.pop_front())
}

fn answer(
    state: &FakeState,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &Value,
) -> (u16, Value) {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let interaction_route = path.starts_with("/interactions/") || path.starts_with("/webhooks/");
    if !interaction_route && auth != format!("Bot {TOKEN}") {
        return error(401, 0, "401: Unauthorized");
    }
    let route = path.split('?').next().unwrap_or_default();
    let parts: Vec<&str> = route.trim_matches('/').split('/').collect();
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["gateway"]) => {
            let url = lock(&state.gateway_answer)
                .clone()
                .unwrap_or_else(|| lock(&state.ws_url).clone());
            (200, json!({"url": url}))
        }
        ("GET", ["gateway", "bot"]) => (
            200,
            json!({"url": *lock(&state.ws_url), "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1}}),
        ),
        ("GET", ["users", "@me"]) => (200, payloads::bot_user()),
        ("GET", ["oauth2", "applications", "@me"]) => (200, payloads::application()),
        ("PUT", ["applications", _, "commands"] | ["applications", _, "guilds", _, "commands"]) => {
            let commands: Vec<Value> = body
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|mut c| {
                    c["id"] = json!("1100000000000000777");
                    c["application_id"] = json!(APPLICATION.to_string());
                    c["version"] = json!("1100000000000000778");
                    c["type"] = json!(1);
                    c
                })
                .collect();
            (200, Value::Array(commands))
        }
        ("GET", ["channels", id]) => match id
            .parse::<u64>()
            .ok()
            .and_then(|id| lock(&state.channels).get(&id).cloned())
        {
            Some(c) => (200, c),
            None => error(404, 10003, "Unknown Channel"),
        },
        ("POST", ["channels", channel, "messages"]) => {
            let Ok(channel) = channel.parse::<u64>() else {
                return error(404, 10003, "Unknown Channel");
            };
            if !lock(&state.channels).contains_key(&channel) {
                return error(404, 10003, "Unknown Channel");
            }
            new_message(state, channel, body)
        }
        ("PATCH", ["channels", _, "messages", id]) => {
            edit_message(state, id.parse().unwrap_or_default(), body)
        }
        ("POST", ["channels", channel, "messages", id, "threads"]) => {
            let (Ok(channel), Ok(id)) = (channel.parse::<u64>(), id.parse::<u64>()) else {
                return error(404, 10008, "Unknown Message");
            };
            let thread = payloads::channel(id, 11, Some(channel));
            let mut channels = lock(&state.channels);
            if channels.contains_key(&id) {
                return error(
                    400,
                    160004,
                    "A thread has already been created for this message",
                );
            }
            channels.insert(id, thread.clone());
            (201, thread)
        }
        ("POST", ["interactions", _, token, "callback"]) => callback(state, token, body),
        ("GET", ["webhooks", _, token, "messages", "@original"]) => {
            let original = lock(&state.interactions)
                .get(*token)
                .and_then(|p| p.original);
            match original.map(|id| lock(&state.messages).get(&id).cloned()) {
                Some(Some(m)) => (200, m),
                _ => error(404, 10008, "Unknown Message"),
            }
        }
        ("PATCH", ["webhooks", _, token, "messages", "@original"]) => {
            let original = {
                let interactions = lock(&state.interactions);
                match interactions.get(*token) {
                    Some(p) if p.acked => p.original,
                    _ => return error(404, 10015, "Unknown Webhook"),
                }
            };
            match original {
                Some(id) => edit_message(state, id, body),
                None => error(404, 10008, "Unknown Message"),
            }
        }
        ("POST", ["webhooks", _, token]) => {
            let channel = match lock(&state.interactions).get(*token) {
                Some(p) if p.acked => p.channel,
                _ => return error(404, 10015, "Unknown Webhook"),
            };
            new_message(state, channel, body)
        }
        _ => error(404, 0, "404: Not Found"),
    }
}

/// Discord's limits on what one message may carry.
fn check_limits(body: &Value) -> Result<(), String> {
    let len = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
    if len(&body["content"]) > 2000 {
        return Err("content: Must be 2000 or fewer in length.".into());
    }
    let embeds = body["embeds"].as_array().cloned().unwrap_or_default();
    if embeds.len() > 10 {
        return Err("embeds: Must be 10 or fewer in length.".into());
    }
    let mut total = 0;
    for e in &embeds {
        let fields = e["fields"].as_array().cloned().unwrap_or_default();
        if len(&e["title"]) > 256
            || len(&e["description"]) > 4096
            || fields.len() > 25
            || len(&e["footer"]["text"]) > 2048
        {
            return Err("embeds.0: an embed limit was exceeded".into());
        }
        if fields
            .iter()
            .any(|f| len(&f["name"]) > 256 || len(&f["value"]) > 1024 || len(&f["value"]) == 0)
        {
            return Err("embeds.0.fields: a field limit was exceeded".into());
        }
        total += len(&e["title"])
            + len(&e["description"])
            + len(&e["footer"]["text"])
            + fields
                .iter()
                .map(|f| len(&f["name"]) + len(&f["value"]))
                .sum::<usize>();
    }
    if total > 6000 {
        return Err("embeds: Embed size exceeds maximum size of 6000".into());
    }
    Ok(())
}

fn new_message(state: &FakeState, channel: u64, body: &Value) -> (u16, Value) {
    if let Err(why) = check_limits(body) {
        return (
            400,
            json!({"code": 50035, "message": "Invalid Form Body", "errors": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": why}]}}),
        );
    }
    let id = state.next_id.fetch_add(1, Ordering::SeqCst);
    let mut m = payloads::message(
        id,
        channel,
        &payloads::bot_user(),
        body["content"].as_str().unwrap_or_default(),
        vec![],
    );
    m["embeds"] = body["embeds"]
        .as_array()
        .cloned()
        .map_or(json!([]), Value::Array);
    m["components"] = body["components"]
        .as_array()
        .cloned()
        .map_or(json!([]), Value::Array);
    m["flags"] = body["flags"].clone();
    if m["flags"].is_null() {
        m["flags"] = json!(0);
    }
    lock(&state.messages).insert(id, m.clone());
    (200, m)
}

fn edit_message(state: &FakeState, id: u64, body: &Value) -> (u16, Value) {
    if let Err(why) = check_limits(body) {
        return (
            400,
            json!({"code": 50035, "message": "Invalid Form Body", "errors": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": why}]}}),
        );
    }
    let mut messages = lock(&state.messages);
    let Some(m) = messages.get_mut(&id) else {
        return error(404, 10008, "Unknown Message");
    };
    for key in ["content", "embeds", "components"] {
        if !body[key].is_null() {
            m[key] = body[key].clone();
        }
    }
    (200, m.clone())
}

fn callback(state: &FakeState, token: &str, body: &Value) -> (u16, Value) {
    let channel = {
        let mut interactions = lock(&state.interactions);
        let Some(p) = interactions.get_mut(token) else {
            return error(404, 10062, "Unknown interaction");
        };
        if p.acked {
            return error(400, 40060, "Interaction has already been acknowledged.");
        }
        if p.sent.elapsed() > ACK_WINDOW {
            return error(404, 10062, "Unknown interaction");
        }
        p.acked = true;
        p.channel
    };
    match body["type"].as_u64() {
        // Deferred: a "thinking" message that `@original` edits later.
        Some(5) => {
            let (_, m) = new_message(state, channel, &json!({"content": ""}));
            let id = m["id"].as_str().and_then(|i| i.parse().ok());
            if let Some(p) = lock(&state.interactions).get_mut(token) {
                p.original = id;
            }
            (204, Value::Null)
        }
        Some(4) => {
            let (status, m) = new_message(state, channel, &body["data"]);
            if status != 200 {
                return (status, m);
            }
            (204, Value::Null)
        }
        Some(6 | 7) => (204, Value::Null),
        _ => error(400, 50035, "Invalid Form Body"),
    }
}
