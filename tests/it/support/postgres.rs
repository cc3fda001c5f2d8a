//! A throwaway PostgreSQL cluster for the tests: `initdb` into a temp dir, `postgres` on a
//! free loopback port, one database per test. One cluster serves the whole test binary; a
//! watchdog stops it and deletes its files when the test process exits.
//!
//! PostgreSQL refuses to run as root, so as root (CI runs as root) the binaries run as the
//! `postgres` user through `runuser`, in a data dir owned by that user. Where the binaries
//! are missing the Postgres tests skip with a message, unless `PLATBOT_REQUIRE_POSTGRES` is
//! set (CI sets it), where a missing server is a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use platbot::config::PostgresSettings;
use platbot::store::Store;

pub struct Cluster {
    port: u16,
}

/// The cluster of this test binary, started on first use; `None` when PostgreSQL is not
/// installed (the reason is printed once).
pub fn cluster() -> Option<&'static Cluster> {
    static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();
    CLUSTER
        .get_or_init(|| match Cluster::start() {
            Ok(c) => Some(c),
            Err(why) if std::env::var_os("PLATBOT_REQUIRE_POSTGRES").is_some() => {
                panic!("PLATBOT_REQUIRE_POSTGRES is set but no PostgreSQL could start: {why}")
            }
            Err(why) => {
                eprintln!("SKIPPED: the Postgres tests need a PostgreSQL server: {why}");
                None
            }
        })
        .as_ref()
}

/// Settings for a fresh, empty database of the test cluster.
pub async fn fresh_database() -> Option<PostgresSettings> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let cluster = cluster()?;
    let name = format!(
        "t{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let admin = cluster.url("postgres");
    let pool = sqlx::PgPool::connect(&admin)
        .await
        .expect("connect as admin");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .expect("create database");
    pool.close().await;
    Some(PostgresSettings {
        url: cluster.url(&name).parse().expect("url"),
        password: None,
        max_connections: 8,
    })
}

/// A store on a fresh database, or `None` (skipped) without PostgreSQL.
pub async fn store() -> Option<Store> {
    let settings = fresh_database().await?;
    Some(
        Store::open_postgres(&settings)
            .await
            .expect("open postgres store"),
    )
}

fn find_binaries() -> Result<PathBuf, String> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("PLATBOT_TEST_PG_BIN")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    candidates.push(PathBuf::from("/usr/local/bin"));
    if let Ok(dirs) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = dirs.flatten().map(|d| d.path().join("bin")).collect();
        versions.sort();
        candidates.extend(versions.into_iter().rev());
    }
    candidates
        .into_iter()
        .find(|d| ["initdb", "pg_ctl", "postgres"].iter().all(|b| d.join(b).exists()))
        .ok_or_else(|| "initdb, pg_ctl and postgres not found in $PLATBOT_TEST_PG_BIN, /usr/local/bin or /usr/lib/postgresql/*/bin".to_owned())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A command that runs `program` as the user PostgreSQL accepts.
fn pg_command(program: &Path, as_postgres: bool) -> Command {
    if as_postgres {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn run(mut cmd: Command, what: &str) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

impl Cluster {
    fn start() -> Result<Cluster, String> {
        let bin = find_binaries()?;
        let as_postgres = is_root();
        // As root, under /tmp itself (world-traversable), not a $TMPDIR that may be root's
        // own 0700 directory: the postgres user must reach its data dir.
        let tmp = if as_postgres {
            PathBuf::from("/tmp")
        } else {
            std::env::temp_dir()
        };
        let root = tmp.join(format!("platbot-pg-{}", std::process::id()));
        let data = root.join("data");
        std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
        if as_postgres {
            run(
                {
                    let mut c = Command::new("chown");
                    c.arg("postgres:").arg(&root);
                    c
                },
                "chown of the cluster dir to postgres",
            )?;
        }
        let mut initdb = pg_command(&bin.join("initdb"), as_postgres);
        initdb
            .args([
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&data);
        run(initdb, "initdb")?;
        let port = free_port()?;
        let log = root.join("postgres.log");
        let mut pg_ctl = pg_command(&bin.join("pg_ctl"), as_postgres);
        pg_ctl
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(&log)
            .arg("-o")
            // Durability is not under test: no fsync keeps the suite fast.
            .arg(format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
                data.display()
            ))
            .args(["-w", "-t", "60", "start"]);
        run(pg_ctl, "pg_ctl start")
            .map_err(|e| format!("{e}\n{}", std::fs::read_to_string(&log).unwrap_or_default()))?;
        watchdog(&bin, &data, &root, as_postgres)?;
        let cluster = Cluster { port };
        cluster.wait_ready()?;
        Ok(cluster)
    }

    fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if Instant::now() > deadline {
                return Err(format!("postgres did not listen on port {}", self.port));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

/// Stops the cluster and deletes its files once this test process is gone (a `static`
/// is never dropped, and a killed test run must not leave a server behind).
fn watchdog(bin: &Path, data: &Path, root: &Path, as_postgres: bool) -> Result<(), String> {
    let stop = format!(
        "{}{} -D '{}' -m immediate stop",
        if as_postgres {
            "runuser -u postgres -- "
        } else {
            ""
        },
        bin.join("pg_ctl").display(),
        data.display()
    );
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf '{root}'",
        pid = std::process::id(),
        root = root.display()
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(drop)
        .map_err(|e| format!("watchdog: {e}"))
}
