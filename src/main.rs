//! The platbot command line: serve | chat | ask | eval | audit | check-config | rbac.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use platbot::config::Config;
use platbot::startup::{self, App, StartOptions};
use platbot::telemetry::logging::{self, LogFormat};

/// mimalloc keeps freed memory for reuse: building an index allocates and
/// drops many large matrices and vectors, and glibc's malloc handed each back
/// to the kernel and faulted fresh zero pages in again.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "platbot",
    version,
    about = "A chat-ops bot for internal developer platforms"
)]
struct Cli {
    /// Configuration file (TOML).
    #[arg(long, global = true, env = "PLATBOT_CONFIG")]
    config: Option<PathBuf>,
    /// Log format on stderr: text (colours only on a terminal) or json (one object per line).
    #[arg(
        long,
        global = true,
        env = "PLATBOT_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct RunArgs {
    /// Use an in-process Kubernetes API seeded with sample teams and services instead of a cluster.
    #[arg(long)]
    sandbox: bool,
    /// Serve the sandbox's Kubernetes API on this address too (use it with `kubectl --server http://ADDR`).
    #[arg(long, requires = "sandbox")]
    sandbox_listen: Option<SocketAddr>,
    /// Where the store (proposals, audit log, thread memory) and indexes live.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP surface (JSON API, health checks).
    Serve {
        #[command(flatten)]
        run: RunArgs,
        /// Address to listen on (default 127.0.0.1:8080, or [http] listen).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Chat in the terminal.
    Chat {
        #[command(flatten)]
        run: RunArgs,
        /// Who you are (a catalog user); defaults to $USER.
        #[arg(long = "as", env = "PLATBOT_USER")]
        user: Option<String>,
    },
    /// Ask one question and print the answer.
    Ask {
        #[command(flatten)]
        run: RunArgs,
        #[arg(long = "as", env = "PLATBOT_USER")]
        user: Option<String>,
        question: String,
    },
    /// Score the planner on an eval set.
    Eval {
        #[command(subcommand)]
        what: EvalCommand,
    },
    /// List the audit log.
    Audit {
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        action: Option<String>,
        /// Entries since this time: RFC 3339, or an age like 30m, 2h, 7d.
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        until: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Index the docs sources ([knowledge] in the config; docs-index/ by default).
    /// Only changed files are re-read; deleted files leave the index.
    Index {
        /// Where the index lives (default: the data dir of the config, `.platbot`).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Drop the stored index and build it again (fixes a damaged index).
        #[arg(long)]
        rebuild: bool,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Validate the configuration and print what is enabled.
    CheckConfig,
    /// Print the ClusterRoles platbot needs for the loaded catalog and config: its own
    /// (impersonating only the catalog teams' and [groups]' groups) and the provisioner's.
    Rbac {
        /// Use the sandbox's sample catalog when [catalog] names none.
        #[arg(long)]
        sandbox: bool,
    },
}

#[derive(Subcommand)]
enum EvalCommand {
    /// Intent accuracy of the alias planner (or with --llm, the LLM planner) on a JSONL set.
    Intents {
        file: PathBuf,
        /// Catalog folder or file (default: the sandbox's sample catalog, or [catalog] paths).
        #[arg(long)]
        catalog: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        /// Score the LLM planner of the config's [llm] section: the first tool call its loop
        /// accepts (no tool runs), or its question or no-tool answer; with latency per message.
        #[arg(long)]
        llm: bool,
        /// Also cross-validate the intent classifier over its training examples with K
        /// folds: per-tool precision/recall, a confusion table, calibration.
        #[arg(long, value_name = "K", conflicts_with = "llm")]
        cv: Option<usize>,
    },
    /// Retrieval quality of the docs index: recall@1/5/10 and MRR over a JSONL set,
    /// on a fresh index of DIR (BM25, plus the configured embeddings if any).
    Retrieval {
        file: PathBuf,
        /// The folder the set's `relevant` paths are relative to.
        #[arg(long)]
        docs: PathBuf,
        /// Build the index here instead of a throwaway folder (rebuilt every run; the
        /// embeddings cache in it is kept, so a second run embeds nothing again).
        #[arg(long)]
        index_dir: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

fn main() -> std::process::ExitCode {
    // One crypto provider for every TLS client (see shared dependency notes).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    logging::init(cli.log_format);
    let done = tokio::runtime::Runtime::new()
        .context("starting the async runtime")
        .and_then(|runtime| runtime.block_on(run(cli)));
    match done {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line with the whole cause chain, not a Debug dump or a backtrace.
            eprintln!("platbot: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn load_config(path: Option<&PathBuf>, data_dir: Option<&PathBuf>) -> Result<Config> {
    let mut config = Config::load(path.map(PathBuf::as_path))?;
    if let Some(d) = data_dir {
        config.data_dir = d.clone();
    }
    Ok(config)
}

async fn start(cli_config: Option<&PathBuf>, run: &RunArgs) -> Result<App> {
    let config = load_config(cli_config, run.data_dir.as_ref())?;
    let opts = StartOptions {
        sandbox: run.sandbox,
        sandbox_listen: run.sandbox_listen,
        sandbox_rbac: run.sandbox,
    };
    let app = startup::build(config, &opts).await?;
    announce(&app);
    Ok(app)
}

fn announce(app: &App) {
    for w in &app.config.warnings {
        eprintln!("warning: {w}");
    }
    if let Some(llm) = &app.config.llm {
        eprintln!(
            "LLM planner: {} at {} (the alias planner answers when it fails).",
            llm.model, llm.base_url
        );
    }
    if let Some(s) = &app.sandbox {
        eprintln!(
            "SANDBOX: talking to an in-process Kubernetes API at {} (not a real cluster), seeded with sample teams and services.",
            s.running.url
        );
        eprintln!(
            "         Try: kubectl --server {} get namespaces",
            s.running.url
        );
    } else if !app.engine.platform().has_cluster() {
        eprintln!(
            "Kubernetes is not configured (no kube context, no in-cluster config): status and changes are unavailable; docs answers still work. Use --sandbox to try everything."
        );
    }
}

fn user_or_default(user: Option<String>) -> Result<platbot::domain::UserId> {
    let raw = user
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "anonymous".to_owned());
    Ok(platbot::domain::UserId::parse(&raw)?)
}

/// Slack, when configured: Socket Mode starts connecting now; in Events API mode the
/// returned service carries the routes to mount.
async fn start_slack(
    app: &App,
    addr: SocketAddr,
) -> Result<Option<platbot::chat::slack::SlackService>> {
    let Some(settings) = &app.config.slack else {
        return Ok(None);
    };
    let options = platbot::chat::slack::SlackOptions::default();
    let slack = platbot::chat::slack::start(Arc::clone(&app.engine), settings, &options)
        .await
        .context("starting Slack")?;
    match settings.mode {
        platbot::config::SlackMode::Socket => {
            eprintln!("Slack: Socket Mode started (connecting to Slack)")
        }
        platbot::config::SlackMode::Events => eprintln!(
            "Slack: Events API on http://{addr}/slack/events, /slack/interactivity, /slack/commands"
        ),
    }
    Ok(Some(slack))
}

/// Discord, when configured: the token is checked now, the gateway connects in the background.
async fn start_discord(app: &App) -> Result<Option<platbot::chat::discord::DiscordService>> {
    let Some(settings) = &app.config.discord else {
        return Ok(None);
    };
    let options = platbot::chat::discord::DiscordOptions::default();
    let discord = platbot::chat::discord::start(Arc::clone(&app.engine), settings, &options)
        .await
        .context("starting Discord")?;
    eprintln!("Discord: connecting to the gateway (mention the bot, DM it, or use /platbot)");
    Ok(Some(discord))
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve { run, listen } => {
            let app = start(cli.config.as_ref(), &run).await?;
            serve(&app, listen).await?;
        }
        Command::Chat { run, user } => {
            let app = start(cli.config.as_ref(), &run).await?;
            let user = user_or_default(user)?;
            eprintln!(
                "Chatting as {user}. Type a request, `confirm`/`cancel` for a proposal, /quit to leave."
            );
            let thread = uuid::Uuid::new_v4().to_string();
            platbot::chat::terminal::TerminalChat::new(&app.engine, user, thread)
                .run()
                .await?;
            app.engine.store().close().await;
        }
        Command::Ask {
            run,
            user,
            question,
        } => {
            let app = start(cli.config.as_ref(), &run).await?;
            let user = user_or_default(user)?;
            let thread = uuid::Uuid::new_v4().to_string();
            let chat = platbot::chat::terminal::TerminalChat::new(&app.engine, user, thread);
            for out in chat.line(&question).await {
                println!("{out}");
            }
            app.engine.store().close().await;
        }
        Command::Eval { what } => eval(cli.config.as_ref(), what).await?,
        Command::Audit {
            data_dir,
            user,
            action,
            since,
            until,
            limit,
            json,
        } => {
            let config = load_config(cli.config.as_ref(), data_dir.as_ref())?;
            let filter = platbot::store::AuditFilter {
                user,
                action,
                since: since.as_deref().map(parse_time).transpose()?,
                until: until.as_deref().map(parse_time).transpose()?,
                limit: Some(limit),
            };
            print_audit(&config, &filter, json).await?;
        }
        Command::Index {
            data_dir,
            rebuild,
            json,
        } => {
            let config = load_config(cli.config.as_ref(), data_dir.as_ref())?;
            index_docs(&config, rebuild, json).await?;
        }
        Command::CheckConfig => check_config(&load_config(cli.config.as_ref(), None)?)?,
        Command::Rbac { sandbox } => {
            let config = load_config(cli.config.as_ref(), None)?;
            print!("{}", rbac_manifests(&config, sandbox).await?);
        }
    }
    Ok(())
}

/// `platbot serve`: the HTTP API and the configured chat surfaces until a shutdown signal.
async fn serve(app: &App, listen: Option<SocketAddr>) -> Result<()> {
    let addr = listen.unwrap_or(app.config.http.listen);
    app.config.http.check_exposure(addr)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let slack = start_slack(app, listener.local_addr()?).await?;
    let discord = start_discord(app).await?;
    let mut state = platbot::server::ServerState::new(Arc::clone(&app.engine), &app.config.http);
    // Socket Mode: not ready until Slack can deliver to this replica.
    if let Some(c) = slack.as_ref().and_then(|s| s.connection()) {
        state = state.with_connection(c);
    }
    // Metrics first: "serving on" is the last line a supervisor or test waits for.
    serve_metrics(app, &state).await?;
    let shutdown = shutdown_signal()?;
    eprintln!("platbot serving on http://{}", listener.local_addr()?);
    spawn_retention(app);
    let routes = slack.as_ref().and_then(|s| s.routes.clone());
    platbot::server::serve_with(listener, state, routes, shutdown).await?;
    if let Some(slack) = &slack {
        slack.shutdown().await;
    }
    if let Some(discord) = &discord {
        discord.shutdown().await;
    }
    app.engine.store().close().await;
    Ok(())
}

/// Retention for a long-running server: once an hour (startup already pruned).
fn spawn_retention(app: &App) {
    let (store, retention) = (app.engine.store().clone(), app.config.retention);
    tokio::spawn(async move {
        let mut hourly = tokio::time::interval(std::time::Duration::from_secs(3600));
        hourly.tick().await;
        loop {
            hourly.tick().await;
            if let Err(e) = store.prune(&retention, jiff::Timestamp::now()).await {
                tracing::warn!(error = %e, "retention: could not delete old records");
            }
        }
    });
}

/// `platbot audit`: the matching entries as JSON or one line each.
async fn print_audit(
    config: &Config,
    filter: &platbot::store::AuditFilter,
    json: bool,
) -> Result<()> {
    let store = platbot::store::Store::connect(&config.store, &config.data_dir).await?;
    let entries = store.audit(filter).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
    } else if entries.is_empty() {
        println!("No audit entries match.");
    } else {
        for e in entries {
            println!(
                "{} {:<14} {:<8} {:<20} {:<10} {} {}{}",
                e.at.strftime("%Y-%m-%d %H:%M:%S"),
                e.user,
                e.event,
                e.action,
                e.outcome,
                e.args,
                e.duration_ms.map_or(String::new(), |d| format!("{d}ms ")),
                e.detail.unwrap_or_default()
            );
        }
    }
    Ok(())
}

/// `platbot check-config`: everything the configuration names loads.
fn check_config(config: &Config) -> Result<()> {
    startup::catalog(config, true).context("catalog")?;
    startup::oncall(config, true).context("on-call")?;
    startup::alias_table(config).context("tools")?;
    platbot::actions::golden_path::GoldenPaths::load(&config.tools_dir)
        .context("golden-path templates")?;
    if let Some(llm) = &config.llm {
        platbot::engine::prompt::Prompts::load(&llm.prompts_dir).context("prompts")?;
    }
    print!("{}", config.summary());
    for w in &config.warnings {
        println!("warning: {w}");
    }
    println!("OK");
    Ok(())
}

/// The YAML of `platbot rbac`.
async fn rbac_manifests(config: &Config, sandbox: bool) -> Result<String> {
    let mut catalog = startup::catalog(config, sandbox).context("catalog")?;
    if let Some(backstage) = &config.backstage {
        let timeout = std::time::Duration::from_secs(30);
        catalog.merge(
            platbot::platform::catalog::fetch_backstage(backstage, timeout)
                .await
                .context("reading the Backstage catalog")?,
        );
    }
    let paths = platbot::actions::golden_path::GoldenPaths::load(&config.tools_dir)
        .context("golden-path templates")?;
    let objects = platbot::actions::golden_path::sample_namespace_objects(&paths)
        .context("golden-path templates")?;
    let groups = startup::group_scope(config, &catalog).groups();
    let provisioner = startup::provisioner(config, sandbox);
    let acting = if config.kubernetes.impersonate {
        platbot::platform::rbac::Acting::AsTheAsker
    } else {
        platbot::platform::rbac::Acting::AsItself
    };
    let yaml = platbot::platform::rbac::manifests(&groups, acting, provisioner.as_ref(), &objects)
        .context("writing the manifests")?;
    Ok(format!(
        "# Generated by `platbot rbac` for {} catalog teams and {} configured groups.\n\
         # Users stay unrestricted: chat users who are not in the catalog still read as themselves.\n{yaml}",
        catalog.teams().count(),
        config.groups.len()
    ))
}

/// The planner without an LLM against an eval set (trained on all its examples), and
/// with `cv`, K-fold cross-validation of its classifier over those examples first.
fn eval_intents(
    config_path: Option<&PathBuf>,
    file: &std::path::Path,
    catalog: Option<PathBuf>,
    json: bool,
    cv: Option<usize>,
) -> Result<()> {
    let mut config = load_config(config_path, None)?;
    if let Some(c) = catalog {
        config.catalog_paths = vec![c];
    }
    let catalog = Arc::new(startup::catalog(&config, true)?);
    let planner = startup::alias_planner(&config, catalog)?;
    let cases = platbot::eval::intents::load_cases(file)?;
    if cases.is_empty() {
        bail!("{} has no cases", file.display());
    }
    let cv = match cv {
        Some(k) if k < 2 => bail!("--cv needs at least 2 folds"),
        Some(k) => {
            use platbot::eval::cv::{Folding, cross_validate};
            let set = planner.training_set(&startup::alias_table(&config)?);
            Some([Folding::ByExample, Folding::ByTemplate].map(|f| cross_validate(&set, k, f)))
        }
        None => None,
    };
    let empty = platbot::engine::PlanContext::default();
    let report = platbot::eval::intents::score(&cases, |u| planner.plan(u, &empty));
    let (examples, trained_in) = planner.training_summary();
    if json {
        // The eval report's fields at the top, as without `--cv`; training and CV beside them.
        let mut out = serde_json::to_value(&report)?;
        if let Some(obj) = out.as_object_mut() {
            let ms = trained_in.as_secs_f64() * 1000.0;
            obj.insert(
                "training".into(),
                serde_json::json!({"examples": examples, "ms": ms}),
            );
            if let Some(cv) = cv {
                obj.insert("cv".into(), serde_json::to_value(cv)?);
            }
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "classifier: trained on {examples} examples in {:.0} ms\n",
            trained_in.as_secs_f64() * 1000.0
        );
        for report in cv.iter().flatten() {
            println!("{}", report.render_text());
        }
        print!("{}", report.render_text());
    }
    Ok(())
}

/// Latency percentiles of a set of messages, in milliseconds.
#[derive(serde::Serialize)]
struct Percentiles {
    count: usize,
    median: u128,
    p90: u128,
    max: u128,
}

impl Percentiles {
    fn of(mut ms: Vec<u128>) -> Self {
        ms.sort_unstable();
        let pick = |q: f64| {
            let idx = (ms.len().saturating_sub(1) as f64 * q).round() as usize;
            ms.get(idx).copied().unwrap_or_default()
        };
        Self {
            count: ms.len(),
            median: pick(0.5),
            p90: pick(0.9),
            max: pick(1.0),
        }
    }
}

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "median {} ms, p90 {} ms, max {} ms",
            self.median, self.p90, self.max
        )
    }
}

/// `platbot eval`: the retrieval set, or the intent set against the planner without a
/// model (with cross-validation on request) or the LLM planner.
async fn eval(config: Option<&PathBuf>, what: EvalCommand) -> Result<()> {
    match what {
        EvalCommand::Retrieval {
            file,
            docs,
            index_dir,
            json,
        } => eval_retrieval(config, &file, &docs, index_dir, json).await,
        EvalCommand::Intents {
            file,
            catalog,
            json,
            llm: false,
            cv,
        } => eval_intents(config, &file, catalog, json, cv),
        EvalCommand::Intents {
            file,
            catalog,
            json,
            llm: true,
            ..
        } => eval_intents_llm(config, &file, catalog, json).await,
    }
}

/// What the LLM eval counts besides the score.
#[derive(Default)]
struct LlmTally {
    latencies: Vec<u128>,
    /// Messages the model was asked about (the rest the classifier settled).
    consulted: Vec<u128>,
    errors: usize,
    /// Failed requests whose fallback (the planner without the model) would have been right.
    rescued: usize,
    prompt_tokens: u64,
    completion_tokens: u64,
}

impl LlmTally {
    fn count(&mut self, ms: u128, preview: &platbot::engine::llm::Preview) {
        self.latencies.push(ms);
        if !preview.routed {
            self.consulted.push(ms);
        }
        for u in &preview.requests {
            self.prompt_tokens += u64::from(u.prompt_tokens);
            self.completion_tokens += u64::from(u.completion_tokens);
        }
    }
}

/// The LLM planner against the eval set, one request per case (as the first step of a
/// turn would be), with latency and token figures.
async fn eval_intents_llm(
    config_path: Option<&PathBuf>,
    file: &std::path::Path,
    catalog: Option<PathBuf>,
    json: bool,
) -> Result<()> {
    use platbot::engine::{Intent, PlanContext};
    let mut config = load_config(config_path, None)?;
    if let Some(c) = catalog {
        config.catalog_paths = vec![c];
    }
    let settings = config
        .llm
        .clone()
        .context("--llm needs an [llm] section (base_url, model) in the config")?;
    let catalog = Arc::new(startup::catalog(&config, true)?);
    let aliases = startup::alias_table(&config)?;
    let environments: Vec<_> = config.environments.iter().map(|e| e.name.clone()).collect();
    let agent = startup::llm_agent(
        &settings,
        platbot::actions::all_tools(),
        &aliases,
        Arc::clone(&catalog),
        &environments,
    )?;
    let cases = platbot::eval::intents::load_cases(file)?;
    if cases.is_empty() {
        bail!("{} has no cases", file.display());
    }
    // As `serve` does at start; its time is reported apart, not as a message's latency.
    if settings.warm_up {
        let w = agent.warm_up().await;
        eprintln!(
            "warm-up (system prompt and tools, {} prompt tokens): {} ms, {}",
            w.prompt_tokens, w.duration_ms, w.outcome
        );
    }
    let empty = PlanContext::default();
    let alias = startup::alias_planner(&config, Arc::clone(&catalog))?;
    let mut tally = LlmTally::default();
    let mut predictions = Vec::with_capacity(cases.len());
    for (i, case) in cases.iter().enumerate() {
        let started = std::time::Instant::now();
        let preview = agent.predict(&case.utterance, &empty).await;
        let ms = started.elapsed().as_millis();
        tally.count(ms, &preview);
        let intent = preview.intent.unwrap_or_else(|e| {
            tally.errors += 1;
            eprintln!("  {}: {e}", case.id);
            // What the user gets then: the planner without the model answers.
            let fallback = alias.plan(&case.utterance, &empty).into();
            if platbot::eval::intents::passes(&case.expect, &fallback) {
                tally.rescued += 1;
            }
            Intent::NotPlatform {
                reply: format!("error: {e}"),
            }
            .into()
        });
        let verdict = if platbot::eval::intents::passes(&case.expect, &intent) {
            "ok".to_owned()
        } else {
            format!(
                "FAIL {:?} -> {}",
                case.utterance,
                serde_json::to_string(&intent)?
            )
        };
        let how = if preview.routed { "routed" } else { "model" };
        eprintln!(
            "[{}/{}] {} {ms} ms {how} {verdict}",
            i + 1,
            cases.len(),
            case.id
        );
        predictions.push(intent);
    }
    let mut predicted = predictions.into_iter();
    let report = platbot::eval::intents::score(&cases, |_| {
        predicted.next().unwrap_or(
            Intent::NotPlatform {
                reply: String::new(),
            }
            .into(),
        )
    });
    print_llm_report(agent.model(), &report, tally, json)
}

fn print_llm_report(
    model_name: &str,
    report: &platbot::eval::intents::IntentReport,
    tally: LlmTally,
    json: bool,
) -> Result<()> {
    let LlmTally {
        latencies,
        consulted,
        errors,
        rescued,
        prompt_tokens,
        completion_tokens,
    } = tally;
    let all = Percentiles::of(latencies);
    let model = Percentiles::of(consulted);
    if json {
        let out = serde_json::json!({
            "model": model_name,
            "report": report,
            "latency_ms": all,
            "consulted": { "messages": model.count, "latency_ms": model },
            "errors": errors,
            "errors_right_after_fallback": rescued,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("model: {model_name}");
    print!("{}", report.render_text());
    println!(
        "\nlatency per message: {all}; {errors} request errors; tokens: {prompt_tokens} prompt, {completion_tokens} completion"
    );
    println!(
        "asked the model: {} of {} messages (the classifier settled the rest); their latency: {model}",
        model.count, all.count
    );
    if errors > 0 {
        println!(
            "failed requests are answered by the planner without the model: {rescued} of the {errors} would be right, so users get {}/{}",
            report.passed + rescued,
            report.total
        );
    }
    Ok(())
}

fn parse_time(raw: &str) -> Result<jiff::Timestamp> {
    if let Ok(t) = raw.parse::<jiff::Timestamp>() {
        return Ok(t);
    }
    let (num, unit) = raw.split_at(raw.len().saturating_sub(1));
    let n: i64 = num
        .parse()
        .with_context(|| format!("`{raw}` is neither RFC 3339 nor an age like 30m, 2h, 7d"))?;
    let age = match unit {
        "m" => jiff::SignedDuration::try_from_mins(n),
        "h" => jiff::SignedDuration::try_from_hours(n),
        "d" => n
            .checked_mul(24)
            .and_then(jiff::SignedDuration::try_from_hours),
        _ => bail!("`{raw}`: the age unit must be m, h or d"),
    };
    age.and_then(|age| jiff::Timestamp::now().checked_sub(age).ok())
        .with_context(|| format!("`{raw}` reaches further back than a timestamp can"))
}

/// `/metrics` and the probes on `[http] metrics_listen`, when set; it stops with the process.
async fn serve_metrics(app: &App, state: &platbot::server::ServerState) -> Result<()> {
    let Some(addr) = app.config.http.metrics_listen else {
        return Ok(());
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for metrics"))?;
    eprintln!(
        "platbot metrics on http://{}/metrics",
        listener.local_addr()?
    );
    let state = state.clone();
    tokio::spawn(async move {
        let served = platbot::server::metrics::serve(listener, state, std::future::pending()).await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    });
    Ok(())
}

/// Resolves on SIGTERM (what Kubernetes sends a pod) or SIGINT (Ctrl-C). Both are watched
/// from this call on: as PID 1 a signal that arrives before its handler is ignored, so this
/// runs before the server says it is up.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("watching for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("watching for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = interrupt.recv() => {}
        }
        tracing::info!("shutting down: finishing requests in flight");
    })
}

async fn index_docs(config: &Config, rebuild: bool, json: bool) -> Result<()> {
    use platbot::knowledge::{DocsIndex, IndexOptions, progress::TerminalProgress};
    let index = DocsIndex::open(&config.knowledge, &config.data_dir).await?;
    let bar = TerminalProgress::new();
    let report = |e| bar.update(e);
    let summary = index
        .index(
            IndexOptions {
                rebuild,
                ..IndexOptions::default()
            },
            Some(&report),
        )
        .await;
    bar.finish();
    let summary = summary?;
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("Indexed {}", summary.render());
    }
    Ok(())
}

async fn eval_retrieval(
    config_path: Option<&PathBuf>,
    file: &std::path::Path,
    docs: &std::path::Path,
    index_dir: Option<PathBuf>,
    json: bool,
) -> Result<()> {
    use platbot::knowledge::{DocsIndex, IndexOptions};
    let config = load_config(config_path, None)?;
    let cases = platbot::eval::retrieval::load_cases(file)?;
    if cases.is_empty() {
        bail!("{} has no cases", file.display());
    }
    if !docs.is_dir() {
        bail!("--docs {}: not a folder", docs.display());
    }
    // An edge index of DIR alone, whatever the config's sources and store are.
    let scratch = tempfile::tempdir().context("creating a scratch index folder")?;
    let data = index_dir.unwrap_or_else(|| scratch.path().to_owned());
    let mut settings = config.knowledge.clone();
    settings.qdrant = None;
    settings.sources = vec![platbot::config::DocSourceSettings {
        name: "eval".into(),
        path: docs.to_path_buf(),
        base_url: None,
    }];
    let index = DocsIndex::open(&settings, &data).await?;
    let summary = index
        .index(
            IndexOptions {
                rebuild: true,
                ..IndexOptions::default()
            },
            None,
        )
        .await?;
    let report = platbot::eval::retrieval::evaluate(&index, &cases, summary.seconds).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render_text());
    }
    Ok(())
}
