//! The HTTP surface over a real socket: the documented JSON API.

use crate::support::common;

use std::sync::Arc;

use crate::support::fakes;

use platbot::config::HttpLimits;
use platbot::server::{ServerState, serve};
use platbot::store::{AuditEvent, AuditOutcome};
use serde_json::{Value, json};

struct Api {
    base: String,
    http: reqwest::Client,
    bot: common::TestBot,
}

/// The API without caller authentication (loopback), as a local developer runs it.
async fn start(token: Option<&str>) -> Api {
    match token {
        None => {
            let bot = common::sandbox_bot("").await;
            let state = ServerState::local(Arc::clone(&bot.app.engine), HttpLimits::default());
            listen(bot, state).await
        }
        Some(t) => {
            let bot =
                fakes::sandbox_bot_with("[http]\ntoken_env = \"API_TOKEN\"", &[("API_TOKEN", t)])
                    .await;
            let state = ServerState::new(Arc::clone(&bot.app.engine), &bot.app.config.http);
            listen(bot, state).await
        }
    }
}

async fn listen(bot: common::TestBot, state: ServerState) -> Api {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, state, std::future::pending()));
    Api {
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        bot,
    }
}

impl Api {
    async fn get(&self, path: &str) -> Value {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        resp.json().await.unwrap_or(Value::Null)
    }

    async fn audit(&self) -> Vec<platbot::store::AuditEntry> {
        let filter = platbot::store::AuditFilter::default();
        self.bot.app.engine.store().audit(&filter).await.unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(path, body, None).await
    }

    async fn send(&self, path: &str, body: Value, token: Option<&str>) -> (u16, Value) {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn message_propose_confirm_over_http() {
    let api = start(None).await;
    let (status, body) = api
        .post(
            "/api/v1/messages",
            json!({"conversation": "c1", "user": "priya.nair", "text": "can I get a namespace for payments in dev?"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let proposal = &body["replies"][0]["proposal"];
    assert_eq!(proposal["action"], "create_namespace");
    assert_eq!(proposal["state"], "proposed");
    assert_eq!(
        proposal["args"],
        json!({"team": "payments", "environment": "dev"})
    );
    assert!(proposal["plan"]["changes"].as_array().unwrap().len() >= 6);
    let id = proposal["id"].as_str().unwrap().to_owned();

    let (status, body) = api
        .post(
            &format!("/api/v1/proposals/{id}/confirm"),
            json!({"user": "tomas.ruiz"}),
        )
        .await;
    assert_eq!(status, 403, "{body}");

    let (status, body) = api
        .post(
            &format!("/api/v1/proposals/{id}/confirm"),
            json!({"user": "priya.nair"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["proposal"]["state"], "succeeded");

    let (status, _) = api
        .post(
            &format!("/api/v1/proposals/{id}/confirm"),
            json!({"user": "priya.nair"}),
        )
        .await;
    assert_eq!(status, 409);
    let (status, _) = api
        .post(
            &format!("/api/v1/proposals/{id}/cancel"),
            json!({"user": "priya.nair"}),
        )
        .await;
    assert_eq!(status, 409);

    let got: Value = api
        .http
        .get(format!("{}/api/v1/proposals/{id}", api.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["proposal"]["state"], "succeeded");
}

#[tokio::test]
async fn cancel_over_http() {
    let api = start(None).await;
    let (_, body) = api
        .post(
            "/api/v1/messages",
            json!({"conversation": "c2", "user": "priya.nair", "text": "create ns payments-dev"}),
        )
        .await;
    let id = body["replies"][0]["proposal"]["id"]
        .as_str()
        .expect("proposal")
        .to_owned();
    let (status, body) = api
        .post(
            &format!("/api/v1/proposals/{id}/cancel"),
            json!({"user": "priya.nair"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["proposal"]["state"], "cancelled");
}

#[tokio::test]
async fn bad_requests_get_clear_errors() {
    let api = start(None).await;
    let resp = api
        .http
        .post(format!("{}/api/v1/messages", api.base))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("malformed"),
        "{body}"
    );

    let (status, body) = api
        .post(
            "/api/v1/messages",
            json!({"conversation": "c", "user": "has space", "text": "hi"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = api
        .post(
            "/api/v1/messages",
            json!({"conversation": "", "user": "u", "text": "hi"}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = api
        .post(
            "/api/v1/messages",
            json!({"conversation": "c", "text": "hi"}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = api
        .post("/api/v1/proposals/not-an-id/confirm", json!({"user": "u"}))
        .await;
    assert_eq!(status, 404);
    let (status, _) = api
        .post(
            &format!("/api/v1/proposals/{}/confirm", uuid::Uuid::new_v4()),
            json!({"user": "u"}),
        )
        .await;
    assert_eq!(status, 404);
    let health = api
        .http
        .get(format!("{}/healthz", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let ready = api
        .http
        .get(format!("{}/readyz", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
}

#[tokio::test]
async fn the_api_requires_the_bearer_token_when_configured() {
    let api = start(Some("s3cret-0123456789abcdef")).await;
    let (status, _) = api
        .post(
            "/api/v1/messages",
            json!({"conversation": "c", "user": "u", "text": "hi"}),
        )
        .await;
    assert_eq!(status, 401);
    let resp = api
        .http
        .post(format!("{}/api/v1/messages", api.base))
        .bearer_auth("s3cret-0123456789abcdef")
        .json(&json!({"conversation": "c", "user": "u", "text": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    // Health checks stay open for the orchestrator's probes.
    let health = api
        .http
        .get(format!("{}/healthz", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

const PRIYA: &str = "priya-token-0123456789";
const BACKSTAGE: &str = "backstage-token-0123456789";

/// Two callers as the README configures them: priya's own CLI, and an integration that acts
/// for users; platform approvers and a second approver in prod.
async fn start_with_callers() -> Api {
    let bot = fakes::sandbox_bot_with(
        r#"
        [approval]
        approver_groups = ["platform"]
        second_approver_environments = ["prod"]
        [groups]
        platform = ["olga.sre", "ravi.iyer"]
        [[http.clients]]
        name = "priya-cli"
        token_env = "T_PRIYA"
        user = "priya.nair"
        [[http.clients]]
        name = "backstage-plugin"
        token_env = "T_BS"
        may_act_as_users = true
        "#,
        &[("T_PRIYA", PRIYA), ("T_BS", BACKSTAGE)],
    )
    .await;
    let state = ServerState::new(Arc::clone(&bot.app.engine), &bot.app.config.http);
    listen(bot, state).await
}

#[tokio::test]
async fn without_valid_credentials_nothing_is_read_or_changed() {
    let api = start_with_callers().await;
    let writes = api.bot.double().mutation_count();
    let ask = json!({"conversation": "c", "user": "priya.nair", "text": "can I get a namespace for payments in dev?"});
    for token in [None, Some("wrong-token-0123456789"), Some("a.b.c")] {
        let (status, body) = api.send("/api/v1/messages", ask.clone(), token).await;
        assert_eq!(status, 401, "{token:?}: {body}");
        assert!(body["error"].is_string(), "{body}");
    }
    let id = uuid::Uuid::new_v4();
    let (status, _) = api
        .send(
            &format!("/api/v1/proposals/{id}/confirm"),
            json!({"user": "olga.sre"}),
            None,
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(api.bot.double().mutation_count(), writes);
    assert!(!api.bot.namespace_exists("payments-dev"));
}

#[tokio::test]
async fn a_client_bound_to_a_user_acts_only_as_that_user() {
    let api = start_with_callers().await;
    // The body may leave the user out: the token says who it is.
    let (status, body) = api
        .send(
            "/api/v1/messages",
            json!({"conversation": "c1", "text": "can I get a namespace for payments in dev?"}),
            Some(PRIYA),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let proposal = &body["replies"][0]["proposal"];
    assert_eq!(proposal["requester"], "priya.nair", "{body}");
    let id = proposal["id"].as_str().unwrap().to_owned();

    // Naming someone else is refused, whatever the policy would say about them.
    let (status, body) = api
        .send(
            "/api/v1/messages",
            json!({"conversation": "c1", "user": "olga.sre", "text": "yes"}),
            Some(PRIYA),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = api
        .send(
            &format!("/api/v1/proposals/{id}/confirm"),
            json!({"user": "olga.sre"}),
            Some(PRIYA),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("priya-cli"),
        "{body}"
    );
    assert!(!api.bot.namespace_exists("payments-dev"));

    // As herself (same id in another spelling is the same person), she confirms her own.
    let (status, body) = api
        .send(
            &format!("/api/v1/proposals/{id}/confirm"),
            json!({"user": "Priya.Nair"}),
            Some(PRIYA),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["proposal"]["state"], "succeeded", "{body}");
    assert!(api.bot.namespace_exists("payments-dev"));
}

#[tokio::test]
async fn an_integration_acts_for_named_users_and_is_audited_as_the_relay() {
    let api = start_with_callers().await;
    let (status, body) = api
        .send(
            "/api/v1/messages",
            json!({"conversation": "p1", "user": "jonah.feld", "text": "restart cart in prod"}),
            Some(BACKSTAGE),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let proposal = &body["replies"][0]["proposal"];
    assert_eq!(proposal["action"], "restart_deployment", "{body}");
    let id = proposal["id"].as_str().unwrap().to_owned();
    let confirm = format!("/api/v1/proposals/{id}/confirm");
    let writes = api.bot.double().mutation_count();

    // priya is neither the requester nor a platform approver.
    let (status, body) = api.send(&confirm, json!({}), Some(PRIYA)).await;
    assert_eq!(status, 403, "{body}");
    // An integration must say whom it acts for.
    let (status, body) = api.send(&confirm, json!({}), Some(BACKSTAGE)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(api.bot.double().mutation_count(), writes);

    // Two platform approvers, relayed by the integration: the second one runs it.
    let (status, body) = api
        .send(&confirm, json!({"user": "olga.sre"}), Some(BACKSTAGE))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["proposal"]["state"], "proposed", "{body}");
    assert_eq!(api.bot.double().mutation_count(), writes);
    let (status, body) = api
        .send(&confirm, json!({"user": "OLGA.SRE"}), Some(BACKSTAGE))
        .await;
    assert_eq!(status, 409, "the same approver in another spelling: {body}");
    let (status, body) = api
        .send(&confirm, json!({"user": "ravi.iyer"}), Some(BACKSTAGE))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["proposal"]["state"], "succeeded", "{body}");
    assert_eq!(api.bot.double().mutation_count(), writes + 1);

    let audit = api.audit().await;
    let confirms: Vec<_> = audit
        .iter()
        .filter(|e| e.event == AuditEvent::Confirm && e.outcome != AuditOutcome::Refused)
        .collect();
    assert_eq!(confirms.len(), 2, "{confirms:?}");
    for (entry, who) in confirms.iter().zip(["olga.sre", "ravi.iyer"]) {
        assert_eq!(entry.user, who);
        assert_eq!(entry.via.as_deref(), Some("backstage-plugin"), "{entry:?}");
    }
    let executed = audit
        .iter()
        .find(|e| e.event == AuditEvent::Execute)
        .expect("execute entry");
    assert_eq!(executed.user, "jonah.feld", "the cluster saw the requester");
    let detail = executed.detail.as_deref().unwrap_or_default();
    assert!(
        detail.contains("olga.sre") && detail.contains("ravi.iyer"),
        "{detail}"
    );
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_on_every_route() {
    let api = start(None).await;
    let big = "x".repeat(300 * 1024);
    for path in ["/api/v1/messages", "/slack/events"] {
        let resp = api
            .http
            .post(format!("{}{path}", api.base))
            .header("content-type", "application/json")
            .body(big.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 413, "{path}");
    }
    // A chunked body without a length is cut off at the limit too.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = api.base.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/messages HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 10 * 1024, " ".repeat(10 * 1024));
    for _ in 0..40 {
        if conn.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = conn.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

#[tokio::test]
async fn an_oversized_message_is_refused_and_not_remembered() {
    let api = start(None).await;
    let long = "why is cart slow ".repeat(400);
    let (status, body) = api
        .post(
            "/api/v1/messages",
            json!({"conversation": "big", "user": "priya.nair", "text": long}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["replies"][0]["text"]
            .as_str()
            .unwrap()
            .contains("at most"),
        "{body}"
    );
    let key = platbot::chat::ConversationKey::new(platbot::chat::Surface::Http, "api", "big");
    let turns = api
        .bot
        .app
        .engine
        .store()
        .recent_turns(&key, 1_000_000)
        .await
        .unwrap();
    assert!(turns.is_empty(), "{turns:?}");
}

#[tokio::test]
async fn a_burst_from_one_caller_is_rate_limited() {
    let bot = common::sandbox_bot("").await;
    let limits = HttpLimits {
        requests_per_minute: 3,
        ..HttpLimits::default()
    };
    let state = ServerState::local(Arc::clone(&bot.app.engine), limits);
    let api = listen(bot, state).await;
    let hi = json!({"conversation": "r", "user": "priya.nair", "text": "hi"});
    for _ in 0..3 {
        assert_eq!(api.post("/api/v1/messages", hi.clone()).await.0, 200);
    }
    let resp = api
        .http
        .post(format!("{}/api/v1/messages", api.base))
        .json(&hi)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&retry), "{retry}");
    // Health checks are not rate-limited.
    let health = api
        .http
        .get(format!("{}/healthz", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

/// An identity provider's signing key (ES256, made by ring) and its JWKS document.
struct Idp {
    pkcs8: Vec<u8>,
    jwks: Value,
}

fn idp(kid: &str) -> Idp {
    use base64::Engine as _;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    // An uncompressed P-256 point: 0x04, then x and y.
    let point = pair.public_key().as_ref();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let jwks = json!({"keys": [{
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
        "x": b64.encode(&point[1..33]), "y": b64.encode(&point[33..65]),
    }]});
    Idp {
        pkcs8: pkcs8.as_ref().to_vec(),
        jwks,
    }
}

fn jwt(idp: &Idp, kid: &str, claims: Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_ec_der(&idp.pkcs8),
    )
    .unwrap()
}

#[tokio::test]
async fn oidc_tokens_are_verified_against_the_issuer_keys() {
    let key = idp("k1");
    let jwks = key.jwks.clone();
    let idp_url = fakes::serve(axum::Router::new().route(
        "/certs",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            async move { axum::Json(jwks) }
        }),
    ))
    .await;
    let toml = format!(
        "[http.oidc]\nissuer = \"https://sso.example.test\"\naudience = \"platbot\"\njwks_url = \"{idp_url}/certs\"\n"
    );
    let bot = fakes::sandbox_bot_with(&toml, &[]).await;
    let state = ServerState::new(Arc::clone(&bot.app.engine), &bot.app.config.http);
    let api = listen(bot, state).await;
    let exp = jiff::Timestamp::now().as_second() + 600;
    let claims = |iss: &str, aud: &str, exp: i64| json!({"iss": iss, "aud": aud, "exp": exp, "preferred_username": "priya.nair"});
    let ask = json!({"conversation": "o1", "text": "can I get a namespace for payments in dev?"});

    let good = jwt(
        &key,
        "k1",
        claims("https://sso.example.test", "platbot", exp),
    );
    let (status, body) = api.send("/api/v1/messages", ask.clone(), Some(&good)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["replies"][0]["proposal"]["requester"], "priya.nair",
        "{body}"
    );

    // Acting as someone else with priya's token: 403.
    let as_olga = json!({"conversation": "o1", "user": "olga.sre", "text": "yes"});
    assert_eq!(
        api.send("/api/v1/messages", as_olga, Some(&good)).await.0,
        403
    );

    // Wrong issuer, wrong audience, expired, another key, a tampered token: 401.
    let stranger = idp("k1");
    let tampered = {
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        parts[1] = jwt(&key, "k1", json!({"iss": "https://sso.example.test", "aud": "platbot", "exp": exp, "preferred_username": "olga.sre"}))
            .split('.')
            .nth(1)
            .unwrap()
            .to_owned();
        parts.join(".")
    };
    for bad in [
        jwt(
            &key,
            "k1",
            claims("https://evil.example.test", "platbot", exp),
        ),
        jwt(&key, "k1", claims("https://sso.example.test", "other", exp)),
        jwt(
            &key,
            "k1",
            claims("https://sso.example.test", "platbot", exp - 4000),
        ),
        jwt(
            &stranger,
            "k1",
            claims("https://sso.example.test", "platbot", exp),
        ),
        jwt(
            &key,
            "k2",
            claims("https://sso.example.test", "platbot", exp),
        ),
        tampered,
    ] {
        let (status, body) = api.send("/api/v1/messages", ask.clone(), Some(&bad)).await;
        assert_eq!(status, 401, "{body}");
    }
    // A shared-secret token is never accepted, whatever it says.
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims("https://sso.example.test", "platbot", exp),
        &jsonwebtoken::EncodingKey::from_secret(b"guessable"),
    )
    .unwrap();
    assert_eq!(api.send("/api/v1/messages", ask, Some(&hs)).await.0, 401);
}

#[tokio::test]
async fn a_confirmed_change_completes_when_the_caller_goes_away() {
    let api = start(None).await;
    let (_, body) = api
        .post(
            "/api/v1/messages",
            json!({"conversation": "gone", "user": "priya.nair", "text": "can I get a namespace for payments in dev?"}),
        )
        .await;
    let id = body["replies"][0]["proposal"]["id"]
        .as_str()
        .expect("proposal")
        .to_owned();
    // A slow API server: each of the golden path's writes takes 300 ms.
    api.bot
        .double()
        .set_write_latency(std::time::Duration::from_millis(300));
    // The client gives up long before the change is done, and drops the connection.
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(400))
        .build()
        .unwrap();
    let gave_up = impatient
        .post(format!("{}/api/v1/proposals/{id}/confirm", api.base))
        .json(&json!({"user": "priya.nair"}))
        .send()
        .await;
    assert!(
        gave_up.is_err(),
        "the confirmation answered before the writes were done"
    );
    // The change runs to the end regardless, once, and is recorded with its audit entry.
    let mut state = Value::Null;
    for _ in 0..100 {
        state = api.get(&format!("/api/v1/proposals/{id}")).await["proposal"]["state"].clone();
        if state != "executing" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(state, "succeeded");
    assert!(api.bot.namespace_exists("payments-dev"));
    let audit = api.audit().await;
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.event == AuditEvent::Execute)
            .count(),
        1
    );
}
