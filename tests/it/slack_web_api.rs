//! The Slack Web API client against the fake: calls run concurrently, a thread's posts keep
//! their order, rate limits (429 + Retry-After) hold back their method (for posting, their
//! channel) instead of dropping calls; Slack's errors come back by code.

use crate::support::common;
use crate::support::fake_slack;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_slack::{FakeSlack, NOT_IN_CHANNEL};
use platbot::chat::slack::{self, SlackApiError, SlackOptions, SlackWebApi, blocks};
use platbot::config::Config;

#[tokio::test]
async fn a_rate_limited_burst_waits_for_retry_after_and_keeps_its_order() {
    let fake = FakeSlack::start().await;
    fake.rate_limit("chat.postMessage", &[1]);
    let api = Arc::new(SlackWebApi::new(&fake.api_url, "xoxb-test").unwrap());
    let mut posts = Vec::new();
    for i in 0..5 {
        let api = Arc::clone(&api);
        posts.push(tokio::spawn(async move {
            api.post_message("C1", Some("1.1"), blocks::plain(&format!("message {i}")))
                .await
        }));
        // Let each call reach the method's queue before the next starts.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for p in posts {
        p.await.unwrap().expect("queued, not dropped");
    }
    let calls = fake.calls_of("chat.postMessage");
    assert_eq!(calls.len(), 6, "one 429, then five posts");
    assert_eq!(calls[0].status, 429);
    let limited_at = calls[0].at;
    let delivered: Vec<String> = calls[1..]
        .iter()
        .map(|c| {
            assert!(c.ok());
            assert!(
                c.at.duration_since(limited_at) >= Duration::from_millis(990),
                "Retry-After honoured"
            );
            c.str("text").unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        delivered,
        (0..5).map(|i| format!("message {i}")).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_limit_on_one_method_does_not_hold_up_another() {
    let fake = FakeSlack::start().await;
    fake.add_user("U1", "priya.nair@example.com");
    fake.rate_limit("chat.postMessage", &[2]);
    let api = Arc::new(SlackWebApi::new(&fake.api_url, "xoxb-test").unwrap());
    let poster = Arc::clone(&api);
    let started = Instant::now();
    let post =
        tokio::spawn(async move { poster.post_message("C1", None, blocks::plain("hi")).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let user = api.user_info("U1").await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "users.info waited for chat.postMessage"
    );
    assert_eq!(
        user.profile.unwrap().email.unwrap().to_string(),
        "priya.nair@example.com"
    );
    post.await.unwrap().unwrap();
    assert!(started.elapsed() >= Duration::from_secs(2));
}

#[tokio::test]
async fn endless_rate_limiting_gives_up_with_an_error() {
    let fake = FakeSlack::start().await;
    fake.rate_limit("chat.update", &[0, 0, 0, 0, 0, 0]);
    let api = SlackWebApi::new(&fake.api_url, "xoxb-test").unwrap();
    let err = api
        .update("C1", "1.1", blocks::plain("x"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SlackApiError::RateLimited { attempts: 5, .. }),
        "{err}"
    );
    assert_eq!(fake.calls_of("chat.update").len(), 5);
}

#[tokio::test]
async fn slack_errors_come_back_by_code() {
    let fake = FakeSlack::start().await;
    let api = SlackWebApi::new(&fake.api_url, "xoxb-test").unwrap();
    let err = api
        .post_message(NOT_IN_CHANNEL, None, blocks::plain("hi"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("not_in_channel"));
    let err = api.user_info("U404").await.unwrap_err();
    assert_eq!(err.code(), Some("user_not_found"));
}

#[tokio::test]
async fn a_wrong_bot_token_stops_startup_with_the_reason() {
    let fake = FakeSlack::start().await;
    let bot = common::sandbox_bot("").await;
    let toml = format!(
        "[slack]\nmode = \"events\"\napi_url = \"{}\"\n",
        fake.api_url
    );
    let env = |k: &str| match k {
        "SLACK_BOT_TOKEN" => Some("xoxp-a-user-token".to_owned()),
        "SLACK_SIGNING_SECRET" => Some("s".to_owned()),
        _ => None,
    };
    let settings = Config::from_toml(&toml, &env).unwrap().slack.unwrap();
    let err = slack::start(
        Arc::clone(&bot.app.engine),
        &settings,
        &SlackOptions::default(),
    )
    .await
    .err()
    .expect("refused");
    assert!(err.to_string().contains("auth.test"), "{err}");
    match err {
        slack::SlackError::Auth { source, .. } => assert_eq!(source.code(), Some("invalid_auth")),
        other => panic!("expected the auth.test failure, got {other}"),
    }
}

#[tokio::test]
async fn posts_to_different_threads_go_out_together() {
    let fake = FakeSlack::start().await;
    // Slow enough that one-at-a-time posting would spread the arrivals over 9 s.
    fake.delay("chat.postMessage", Duration::from_secs(1));
    let api = Arc::new(SlackWebApi::new(&fake.api_url, "xoxb-test").unwrap());
    let posts: Vec<_> = (0..10)
        .map(|i| {
            let api = Arc::clone(&api);
            tokio::spawn(async move {
                let thread = format!("1.{i}");
                api.post_message("C1", Some(&thread), blocks::plain("answer"))
                    .await
            })
        })
        .collect();
    for p in posts {
        p.await.unwrap().expect("posted");
    }
    let calls = fake.calls_of("chat.postMessage");
    assert_eq!(calls.len(), 10);
    let first = calls.iter().map(|c| c.at).min().unwrap();
    let last = calls.iter().map(|c| c.at).max().unwrap();
    assert!(
        last.duration_since(first) < Duration::from_secs(1),
        "every post was sent before the first one was answered"
    );
}

#[tokio::test]
async fn a_429_holds_its_channel_not_the_others_and_causes_no_storm() {
    let fake = FakeSlack::start().await;
    fake.rate_limit("chat.postMessage", &[2]);
    let api = Arc::new(SlackWebApi::new(&fake.api_url, "xoxb-test").unwrap());
    let first = {
        let api = Arc::clone(&api);
        tokio::spawn(async move {
            api.post_message("C1", Some("1.0"), blocks::plain("first"))
                .await
        })
    };
    fake.wait_for(5, "the first post", |calls| {
        calls
            .iter()
            .any(|c| c.method == "chat.postMessage")
            .then_some(())
    })
    .await;
    // While C1 waits out Retry-After: five more posts to C1 in other threads, one to C2.
    let mut same_channel = Vec::new();
    for i in 1..=5 {
        let api = Arc::clone(&api);
        same_channel.push(tokio::spawn(async move {
            let thread = format!("1.{i}");
            api.post_message("C1", Some(&thread), blocks::plain("later"))
                .await
        }));
    }
    api.post_message("C2", None, blocks::plain("elsewhere"))
        .await
        .expect("another channel is not held");
    let calls = fake.calls_of("chat.postMessage");
    let limited_at = calls[0].at;
    assert_eq!(calls[0].status, 429);
    let c2 = calls
        .iter()
        .find(|c| c.str("channel") == Some("C2"))
        .expect("C2 posted");
    assert!(
        c2.at.duration_since(limited_at) < Duration::from_millis(1500),
        "C2 did not wait for C1's Retry-After"
    );
    first.await.unwrap().expect("retried after Retry-After");
    for p in same_channel {
        p.await.unwrap().expect("waited, then posted");
    }
    let c1: Vec<_> = fake
        .calls_of("chat.postMessage")
        .into_iter()
        .filter(|c| c.str("channel") == Some("C1"))
        .collect();
    assert_eq!(c1.len(), 7, "one 429, then six posts: no storm of 429s");
    assert_eq!(c1.iter().filter(|c| c.status == 429).count(), 1);
    for c in c1.iter().filter(|c| c.ok()) {
        assert!(
            c.at.duration_since(limited_at) >= Duration::from_millis(1990),
            "every post to C1 waited out Retry-After"
        );
    }
}
