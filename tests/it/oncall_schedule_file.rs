//! `who_is_on_call` from the schedule file, through the engine: the sandbox's built-in file,
//! a configured one, and the replies for what is missing. The rotation math itself (handoffs,
//! time zones, DST) is unit-tested in `src/platform/oncall/schedule.rs`.

use crate::support::common;

use common::sandbox_bot;
use platbot::domain::TeamName;
use platbot::platform::oncall::ScheduleFile;

#[tokio::test]
async fn the_sandbox_answers_from_its_built_in_schedule() {
    let bot = sandbox_bot("").await;
    let reply = bot
        .say_one("t", "jonah.feld", "who's on call for cart?")
        .await;
    let file = ScheduleFile::sandbox();
    let rota = file
        .rotation(&TeamName::parse("checkout").unwrap())
        .unwrap()
        .on_call(jiff::Timestamp::now())
        .unwrap();
    let primary = rota.primary.unwrap().person;
    let secondary = rota.secondary.unwrap().person;
    let text = &reply.text;
    assert!(
        text.contains(
            "*cart* (team checkout) (checkout rotation, schedule file; times in Europe/London)"
        ),
        "{text}"
    );
    assert!(
        text.contains(&format!("primary: {}", primary.display())),
        "{text}"
    );
    assert!(
        text.contains(&format!("secondary: {}", secondary.display())),
        "{text}"
    );
    assert!(text.contains(" until "), "{text}");
    assert!(text.contains("GMT") || text.contains("BST"), "{text}");
    let data = reply.data.expect("data");
    assert_eq!(data["team"], "checkout");
    assert_eq!(data["service"], "cart");
    assert_eq!(data["provider"], "schedule file");
    assert_eq!(
        data["primary"]["slack_id"],
        primary.slack_id.unwrap().as_str()
    );
    assert_eq!(data["primary"]["handle"], primary.handle.unwrap().as_str());
    assert!(data["primary"]["until"].as_str().unwrap().len() >= 25);
    // A team asked by name, and a typo of one.
    let reply = bot
        .say_one("t2", "x", "who is on call for the data platform team")
        .await;
    assert!(
        reply.text.contains("team *data-platform*"),
        "{}",
        reply.text
    );
    assert!(reply.text.contains("Europe/Amsterdam"), "{}", reply.text);
}

#[tokio::test]
async fn a_configured_schedule_file_replaces_the_sandbox_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oncall.yaml");
    std::fs::write(
        &path,
        "version: 1\nschedules:\n  payments:\n    timezone: Asia/Kolkata\n    rotation_start: \"2025-01-06\"\n    handoff: \"Mon 09:00\"\n    length_days: 7\n    rotation:\n      - {name: Only Person, user: only.person, handle: \"@only\", slack_id: U0000000001}\n",
    )
    .unwrap();
    let bot = sandbox_bot(&format!(
        "[oncall]\nschedule_file = \"{}\"\n",
        path.display()
    ))
    .await;
    let reply = bot.say_one("t", "x", "who's on call for payments?").await;
    assert!(
        reply.text.contains("primary: Only Person (@only)"),
        "{}",
        reply.text
    );
    assert!(reply.text.contains("secondary: nobody"), "{}", reply.text);
    assert!(reply.text.contains("IST"), "{}", reply.text);
    // A team the file does not list is named, with the file.
    let reply = bot.say_one("t2", "x", "who's on call for checkout?").await;
    assert!(
        reply
            .text
            .contains("team checkout has no rotation in the on-call schedule file"),
        "{}",
        reply.text
    );
    assert!(reply.text.contains("oncall.yaml"), "{}", reply.text);

    // A broken file stops startup with a message naming it.
    std::fs::write(&path, "version: 1\nschedules:\n  payments:\n    timezone: Nowhere/City\n    rotation_start: \"2025-01-06\"\n    handoff: \"Mon 09:00\"\n    rotation: [{name: A, user: a}]\n").unwrap();
    let config = common::config_in(
        dir.path(),
        &format!("[oncall]\nschedule_file = \"{}\"\n", path.display()),
    );
    let err = platbot::startup::build(config, &common::sandbox())
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("Nowhere/City"), "{err}");
}

#[tokio::test]
async fn unknown_subjects_and_missing_configuration_get_clear_replies() {
    let bot = sandbox_bot("").await;
    // The planner does not know `marketing` and asks; the action itself names it.
    let reply = bot.say_one("t", "x", "who's on call for marketing?").await;
    assert!(reply.proposal.is_none());
    assert!(
        reply.text.contains("which team or service"),
        "{}",
        reply.text
    );
    let actor = bot.app.engine.actor(&common::user("x"));
    let ctx = platbot::actions::ActionContext {
        platform: bot.app.engine.platform(),
        actor: &actor,
    };
    let registry = platbot::actions::Registry::standard();
    let Some(platbot::actions::RegistryEntry::Read(who)) =
        registry.get(platbot::domain::ToolName::WhoIsOnCall)
    else {
        panic!("who_is_on_call is a read action")
    };
    let err = who
        .run(&ctx, serde_json::json!({"subject": "marketing"}))
        .await
        .expect_err("unknown subject");
    assert!(
        err.to_string()
            .contains("no team or service `marketing` in the catalog"),
        "{err}"
    );
    let err = who
        .run(&ctx, serde_json::json!({"subject": "Not A Name"}))
        .await
        .expect_err("invalid subject");
    assert!(err.to_string().contains("not a valid name"), "{err}");
    // Not in sandbox mode and no schedule file: say what to configure.
    let dir = tempfile::tempdir().unwrap();
    let catalog = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sandbox/catalog");
    let config = common::config_in(
        dir.path(),
        &format!(
            "[kubernetes]\nmode = \"disabled\"\n[catalog]\npaths = [\"{}\"]\n",
            catalog.display()
        ),
    );
    let app = platbot::startup::build(config, &Default::default())
        .await
        .unwrap();
    let bot = common::TestBot { app, _dir: dir };
    let reply = bot.say_one("t", "x", "who's on call for payments?").await;
    assert!(
        reply
            .text
            .contains("no on-call schedule is configured: set [oncall] schedule_file"),
        "{}",
        reply.text
    );
}
