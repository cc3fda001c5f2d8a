//! Slack's rate limits as Slack applies them (a rate per method and channel, 429 past it),
//! not scripted 429s: a backlog larger than the rate meets one 429 per `Retry-After`, not
//! one per waiting call, and every message is still delivered.

use std::sync::Arc;
use std::time::Duration;

use crate::support::fake_slack::FakeSlack;
use platbot::chat::slack::{SlackWebApi, blocks};

const POSTS: usize = 40;
const RATE: u32 = 10;

#[tokio::test]
async fn a_backlog_past_the_rate_meets_one_429_per_retry_after_not_one_per_call() {
    let fake = FakeSlack::start().await;
    fake.limit_rate("chat.postMessage", RATE);
    let api = Arc::new(SlackWebApi::new(&fake.api_url, "xoxb-test").unwrap());
    // Answers in 40 threads of one channel at once: four times what Slack takes in a second.
    let posts: Vec<_> = (0..POSTS)
        .map(|i| {
            let api = Arc::clone(&api);
            tokio::spawn(async move {
                let thread = format!("1700000000.{i:06}");
                api.post_message("C1", Some(&thread), blocks::plain("answer"))
                    .await
            })
        })
        .collect();
    for p in posts {
        p.await
            .unwrap()
            .expect("delivered after waiting, not dropped");
    }
    let calls = fake.calls_of("chat.postMessage");
    assert_eq!(calls.iter().filter(|c| c.ok()).count(), POSTS);
    let limited: Vec<_> = calls.iter().filter(|c| c.status == 429).collect();
    let first = limited.first().expect("the rate was exceeded").at;
    // Calls already on the wire when Slack first said 429 meet it too: nothing to do about those.
    let in_flight = limited
        .iter()
        .filter(|c| c.at.duration_since(first) < Duration::from_millis(200))
        .count();
    let later = limited.len() - in_flight;
    let windows = POSTS / RATE as usize;
    assert!(
        later <= windows + 1,
        "{later} more 429s after the first burst of {in_flight}: a storm (at most one per Retry-After expected)"
    );
}
