//! The platbot command line: serve | chat | ask | eval | audit | check-config.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use platbot::config::Config;
use platbot::startup::{self, App, StartOptions};
use tracing_subscriber::EnvFilter;

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
    /// Validate the configuration and print what is enabled.
    CheckConfig,
}

#[derive(Subcommand)]
enum EvalCommand {
    /// Intent accuracy of the alias planner on a JSONL set.
    Intents {
        file: PathBuf,
        /// Catalog folder or file (default: the sandbox's sample catalog, or [catalog] paths).
        #[arg(long)]
        catalog: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

fn main() -> Result<()> {
    // One crypto provider for every TLS client (see shared dependency notes).
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("PLATBOT_LOG").unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(run(cli))
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
    };
    let app = startup::build(config, &opts).await?;
    announce(&app);
    Ok(app)
}

fn announce(app: &App) {
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

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve { run, listen } => {
            let app = start(cli.config.as_ref(), &run).await?;
            let addr = listen.unwrap_or(app.config.http.listen);
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?;
            eprintln!("platbot serving on http://{}", listener.local_addr()?);
            let state = platbot::server::ServerState {
                engine: Arc::clone(&app.engine),
                token: app.config.http.token.as_deref().map(Arc::from),
            };
            platbot::server::serve(listener, state, shutdown_signal()).await?;
            app.engine.store().close().await;
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
        Command::Eval { what } => match what {
            EvalCommand::Intents {
                file,
                catalog,
                json,
            } => {
                eval_intents(cli.config.as_ref(), &file, catalog, json)?;
            }
        },
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
            let store = platbot::store::Store::open_in(&config.data_dir).await?;
            let filter = platbot::store::AuditFilter {
                user,
                action,
                since: since.as_deref().map(parse_time).transpose()?,
                until: until.as_deref().map(parse_time).transpose()?,
                limit: Some(limit),
            };
            let entries = store.audit(&filter).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
            } else if entries.is_empty() {
                println!("No audit entries match.");
            } else {
                for e in entries {
                    println!(
                        "{} {:<14} {:<8} {:<20} {:<10} {} {}{}",
                        e.at.format("%Y-%m-%d %H:%M:%S"),
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
        }
        Command::CheckConfig => {
            let config = load_config(cli.config.as_ref(), None)?;
            startup::catalog(&config, true).context("catalog")?;
            startup::alias_table(&config).context("tools")?;
            platbot::actions::golden_path::GoldenPaths::load(&config.tools_dir)
                .context("golden-path templates")?;
            print!("{}", config.summary());
            println!("OK");
        }
    }
    Ok(())
}

fn eval_intents(
    config_path: Option<&PathBuf>,
    file: &std::path::Path,
    catalog: Option<PathBuf>,
    json: bool,
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
    let empty = platbot::engine::PlanContext::default();
    let report = platbot::eval::intents::score(&cases, |u| planner.plan(u, &empty));
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render_text());
    }
    Ok(())
}

fn parse_time(raw: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    let (num, unit) = raw.split_at(raw.len().saturating_sub(1));
    let n: i64 = num
        .parse()
        .with_context(|| format!("`{raw}` is neither RFC 3339 nor an age like 30m, 2h, 7d"))?;
    let age = match unit {
        "m" => chrono::Duration::minutes(n),
        "h" => chrono::Duration::hours(n),
        "d" => chrono::Duration::days(n),
        _ => bail!("`{raw}`: the age unit must be m, h or d"),
    };
    Ok(chrono::Utc::now() - age)
}

async fn shutdown_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
