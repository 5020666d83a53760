//! The `ticketgate` command line: `serve`, `check`, `pipe`, `token`, `outbox`, `migrate`.

use crate::config::Config;
use crate::gateway::Gateway;
use clap::{Parser, Subcommand};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use tokio::sync::watch;

/// sysexits(3): the codes mail servers and init systems understand.
pub mod exit {
    pub const OK: u8 = 0;
    pub const DATAERR: u8 = 65;
    pub const UNAVAILABLE: u8 = 69;
    pub const SOFTWARE: u8 = 70;
    pub const TEMPFAIL: u8 = 75;
    pub const NOPERM: u8 = 77;
    pub const CONFIG: u8 = 78;
}

#[derive(Parser, Debug)]
#[command(
    name = "ticketgate",
    version,
    about = "A multi-protocol API gateway for helpdesks"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Args, Debug, Clone)]
pub struct Common {
    /// The configuration file.
    #[arg(
        long,
        short = 'c',
        default_value = "gateway.toml",
        env = "TICKETGATE_CONFIG",
        global = true
    )]
    pub config: PathBuf,
    /// The data directory (overrides `server.data_dir`).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the gateway.
    Serve {
        #[command(flatten)]
        common: Common,
        /// The address to listen on (overrides `server.listen`); port 0 picks a free one.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// The admin listener's address for `/metrics` and `/readyz` (overrides
        /// `server.admin_listen`); port 0 picks a free one.
        #[arg(long)]
        admin_listen: Option<SocketAddr>,
    },
    /// Validate the configuration and report warnings.
    Check {
        #[command(flatten)]
        common: Common,
        /// Also call every upstream once (a one-ticket search) and report whether it
        /// answers and accepts the configured credentials.
        #[arg(long)]
        probe: bool,
    },
    /// Deliver one email message read from standard input (for a mail server's pipe).
    ///
    /// Exit status per sysexits, as Postfix and Exim act on it: 0 delivered, durably
    /// queued, a duplicate, or automatic mail (auto-reply, bounce, list) discarded;
    /// 65 unreadable or no text (bounced); 77 sender refused (bounced); 75 anything
    /// else, configuration mistakes included (the mail server keeps the message and
    /// retries). On failure, one line on stderr; the log goes to `pipe.log_file`.
    Pipe {
        #[command(flatten)]
        common: Common,
        /// The consumer the message is delivered as (default: `pipe.consumer`).
        #[arg(long)]
        consumer: Option<String>,
        /// An envelope recipient: one of the helpdesk's own addresses, never kept as a
        /// cc (repeatable; `RECIPIENT` and `ORIGINAL_RECIPIENT` in the environment count
        /// too).
        #[arg(long = "recipient", value_name = "ADDRESS")]
        recipients: Vec<String>,
        /// Also print, on standard output, why the message became a ticket, a reply,
        /// or was refused: `decision:`, `rule:` (the rule that matched), `detail:`,
        /// `ticket_id:` and `peak_memory_kib:` lines.
        #[arg(long)]
        explain: bool,
    },
    /// Print a TicketsApi bearer token (HS256) for a consumer, signed with
    /// `dialects.ticketsapi.jwt.hs256_secret`.
    Token {
        #[command(flatten)]
        common: Common,
        /// The consumer (its `jwt_subject` becomes the token's `sub`).
        #[arg(long)]
        consumer: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
    },
    /// Apply the gateway state's schema migrations now and say what was done (`serve`
    /// applies them at start too; this is for operators who apply them ahead, e.g.
    /// before starting several gateways on one PostgreSQL).
    ///
    /// With `--from A --to B`: copy tickets from upstream A to upstream B instead
    /// (thread, attachments, statuses, priorities, requesters, custom fields), and
    /// make every id and number clients knew them by name the copies. Resumable: a
    /// run that is stopped or killed continues where it was when run again.
    Migrate {
        #[command(flatten)]
        common: Common,
        /// The upstream to copy tickets from (with `--to`).
        #[arg(long, requires = "to")]
        from: Option<String>,
        /// The upstream to copy tickets to (with `--from`).
        #[arg(long, requires = "from")]
        to: Option<String>,
        /// Only tickets created on or after this date (`2026-12-01` or RFC 3339).
        #[arg(long, requires = "from", value_parser = parse_since)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// Say what would be copied; change nothing.
        #[arg(long, requires = "from")]
        dry_run: bool,
    },
    /// Inspect and act on the durable outbox.
    Outbox {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        action: OutboxAction,
    },
}

#[derive(Subcommand, Debug)]
pub enum OutboxAction {
    /// List items (all states, or only one).
    List {
        #[arg(long, value_parser = ["pending", "delivered", "dead"])]
        state: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Show one item, its payload included.
    Show { tracking_id: String },
    /// Put an item (or every dead item) back in line for delivery now.
    Retry {
        tracking_id: Option<String>,
        #[arg(long, conflicts_with = "tracking_id")]
        all: bool,
    },
    /// Remove an undelivered item for good.
    Drop { tracking_id: String },
}

/// The command line, parsed. A mistake in it exits 2, as usual, except under `pipe`:
/// a mail server bounces on 2, and a mistyped option in its transport is the operator's
/// to fix, so the message is held (75) instead.
pub fn parse_args() -> Result<Cli, ExitCode> {
    match Cli::try_parse() {
        Ok(cli) => Ok(cli),
        Err(e) => {
            let is_pipe = std::env::args().nth(1).is_some_and(|a| a == "pipe");
            let informational = matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            );
            if is_pipe && !informational {
                let first = e.to_string();
                let first = first.lines().next().unwrap_or_default();
                let first = first.strip_prefix("error: ").unwrap_or(first);
                Err(refuse(
                    exit::TEMPFAIL,
                    format!("configuration error, the message is kept and retried: {first}"),
                ))
            } else {
                e.exit()
            }
        }
    }
}

pub fn load(common: &Common) -> Result<Config, String> {
    let mut config = Config::load(&common.config).map_err(|e| e.to_string())?;
    if let Some(dir) = &common.data_dir {
        config.server.data_dir = dir.clone();
    }
    Ok(config)
}

/// Log to stderr from a writer thread of its own: a request's worker formats its line
/// and hands it over, and never waits on the terminal or the journal reading stderr
/// unless 128 000 lines are already waiting (then it waits: no line is dropped). The
/// guard flushes what is waiting when it is dropped, so keep it until the process ends.
pub fn init_logging(json: bool) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TICKETGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("ticketgate-log")
        .finish(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(writer);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    guard
}

pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Check { common, probe } => {
            let code = check(&common);
            if probe && code == ExitCode::from(exit::OK) {
                runtime().block_on(probe_upstreams(&common))
            } else {
                code
            }
        }
        Command::Serve {
            common,
            listen,
            admin_listen,
        } => {
            let rt = runtime();
            let code = rt.block_on(serve(common, listen, admin_listen));
            // A decoding still running on a blocking thread after its request gave up
            // must not hold the exit: in-flight requests had their grace already.
            rt.shutdown_timeout(std::time::Duration::from_secs(1));
            code
        }
        Command::Token {
            common,
            consumer,
            ttl,
        } => token(&common, &consumer, ttl),
        Command::Outbox { common, action } => runtime().block_on(outbox(common, action)),
        Command::Migrate {
            common,
            from: Some(from),
            to: Some(to),
            since,
            dry_run,
        } => runtime().block_on(migrate_tickets(
            common,
            crate::migrate::Plan {
                from,
                to,
                since,
                dry_run,
            },
        )),
        Command::Migrate { common, .. } => runtime().block_on(migrate(common)),
        Command::Pipe {
            common,
            consumer,
            recipients,
            explain,
        } => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime can be built");
            rt.block_on(pipe(common, consumer, recipients, explain))
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime can be built")
}

fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("ticketgate: {message}");
    ExitCode::from(code)
}

fn token(common: &Common, consumer: &str, ttl: u64) -> ExitCode {
    let config = match load(common) {
        Ok(c) => c,
        Err(e) => return fail(exit::CONFIG, e),
    };
    let Some(secret) = config
        .dialects
        .get::<ticketgate_ticketsapi::ServerConfig>("ticketsapi")
        .and_then(|t| t.jwt.hs256_secret.clone())
    else {
        return fail(
            exit::CONFIG,
            "dialects.ticketsapi.jwt.hs256_secret is not set: no token can be minted",
        );
    };
    let Some(subject) = config
        .consumers
        .iter()
        .find(|c| c.name == consumer)
        .map(|c| {
            c.value(ticketgate_ticketsapi::vendor::JWT_SUBJECT.name)
                .unwrap_or(&c.name)
                .to_owned()
        })
    else {
        return fail(exit::CONFIG, format!("no consumer named {consumer:?}"));
    };
    // Every grant; `Tickets.OnlyPrivate` narrows lists, so it is left out. What the
    // consumer may really do is still its `permissions` in this file.
    let grants: Vec<&str> = ticketgate_ticketsapi::ALL_TICKET_PERMISSIONS
        .into_iter()
        .filter(|p| *p != "Tickets.OnlyPrivate")
        .collect();
    println!(
        "{}",
        ticketgate_ticketsapi::mint_hs256(
            secret.as_bytes(),
            &subject,
            &grants,
            std::time::Duration::from_secs(ttl),
        )
    );
    ExitCode::from(exit::OK)
}

/// `check --probe`: one cheap read against every upstream.
async fn probe_upstreams(common: &Common) -> ExitCode {
    let config = match load(common) {
        Ok(c) => c,
        Err(e) => return fail(exit::CONFIG, e),
    };
    let gateway = match Gateway::build(config) {
        Ok(g) => g,
        Err(e) => return fail(exit::UNAVAILABLE, e),
    };
    let mut names: Vec<&String> = gateway.upstreams.keys().collect();
    names.sort();
    let mut failed = false;
    for name in names {
        let upstream = &gateway.upstreams[name];
        let outcome = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            ticketgate_model::Helpdesk::probe(upstream.as_ref()),
        )
        .await;
        match outcome {
            Ok(Ok(found)) => println!("upstream {name}: {found}"),
            Ok(Err(e)) if e.kind == ticketgate_model::ErrorKind::Unsupported => {
                println!(
                    "upstream {name}: not probed: it has no read operation to probe with ({e})"
                )
            }
            Ok(Err(e)) => {
                failed = true;
                println!("upstream {name}: FAILED: {e}");
            }
            Err(_) => {
                failed = true;
                println!("upstream {name}: FAILED: no answer within 10 s");
            }
        }
    }
    for upstream in gateway.upstreams.values() {
        ticketgate_model::Helpdesk::shutdown(upstream.as_ref()).await;
    }
    ExitCode::from(if failed { exit::UNAVAILABLE } else { exit::OK })
}

fn check(common: &Common) -> ExitCode {
    match load(common) {
        Ok(config) => {
            // The certificate files are read as `serve` would read them.
            if let Some(tls) = &config.server.tls
                && let Err(e) = crate::tls::ServerTls::load(tls)
            {
                return fail(exit::CONFIG, e);
            }
            for w in config.warnings() {
                eprintln!("warning: {w}");
            }
            println!(
                "{}: ok ({} consumer(s), {} upstream(s), mounts: {})",
                common.config.display(),
                config.consumers.len(),
                config.upstreams.len(),
                config
                    .mounts()
                    .iter()
                    .map(|(d, p)| format!("{d} at {p}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            ExitCode::from(exit::OK)
        }
        Err(e) => fail(exit::CONFIG, e),
    }
}

async fn serve(
    common: Common,
    listen: Option<SocketAddr>,
    admin_listen: Option<SocketAddr>,
) -> ExitCode {
    let mut config = match load(&common) {
        Ok(c) => c,
        Err(e) => return fail(exit::CONFIG, e),
    };
    if let Some(addr) = listen {
        config.server.listen = addr;
    }
    if let Some(addr) = admin_listen {
        config.server.admin_listen = addr;
    }
    let _log = init_logging(config.server.log_format == "json");
    for w in config.warnings() {
        tracing::warn!("{w}");
    }
    let _lock = match ticketgate_store::DataDirLock::acquire(&config.server.data_dir) {
        Ok(l) => l,
        Err(e) => return fail(exit::UNAVAILABLE, e),
    };
    let listener = match tokio::net::TcpListener::bind(config.server.listen).await {
        Ok(l) => l,
        Err(e) => {
            return fail(
                exit::UNAVAILABLE,
                format!("cannot listen on {}: {e}", config.server.listen),
            );
        }
    };
    let admin = match tokio::net::TcpListener::bind(config.server.admin_listen).await {
        Ok(l) => l,
        Err(e) => {
            return fail(
                exit::UNAVAILABLE,
                format!(
                    "cannot listen on {} (server.admin_listen): {e}",
                    config.server.admin_listen
                ),
            );
        }
    };
    let gateway = match Gateway::build(config) {
        Ok(g) => g,
        Err(e) => return fail(exit::UNAVAILABLE, e),
    };
    if let Err(e) = prepare_state(&gateway).await {
        return fail(
            exit::UNAVAILABLE,
            format!(
                "the gateway state ({}) cannot be prepared: {e}",
                gateway.state.describe()
            ),
        );
    }
    let (tx, rx) = watch::channel(false);
    // Piped mail handed over by `ticketgate pipe` (this process holds the data
    // directory's lock, so a socket left there is a stale one and is replaced).
    let handoff = if gateway.config().pipe.handoff {
        let data_dir = gateway.config().server.data_dir.clone();
        match crate::handoff::listen(gateway.clone(), &data_dir, rx.clone()) {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(error = %e, dir = %data_dir.display(), "piped mail cannot be handed to this gateway (each `ticketgate pipe` delivers by itself)");
                None
            }
        }
    } else {
        None
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let admin_addr = admin
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    println!("listening on {addr}");
    println!("admin listening on {admin_addr}");
    let _ = std::io::stdout().flush();
    tracing::info!(%addr, "ticketgate serving");
    tokio::spawn(signals(tx, gateway.clone(), common.clone(), listen));
    crate::serve_with_admin(listener, Some(admin), gateway, rx, handoff).await;
    tracing::info!("ticketgate stopped");
    ExitCode::from(exit::OK)
}

/// Apply the state's migrations before serving. A state that is unreachable for now
/// (PostgreSQL restarting) is waited for up to 30 s; then `serve` gives up, so a service
/// manager restarts it.
async fn prepare_state(gateway: &Gateway) -> ticketgate_model::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match gateway.state.migrate().await {
            Ok(report) => {
                if report.from != report.to {
                    tracing::info!(
                        state = gateway.state.describe(),
                        from = report.from,
                        to = report.to,
                        "state schema migrated"
                    );
                }
                return Ok(());
            }
            Err(e) if e.retryable && std::time::Instant::now() < deadline => {
                tracing::warn!(state = gateway.state.describe(), error = %e, "the gateway state is unreachable; waiting for it");
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

fn parse_since(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
        .map_err(|_| format!("{s:?} is not a date (2026-12-01) or an RFC 3339 time"))
}

/// `ticketgate migrate --from A --to B`: copy tickets between upstreams.
async fn migrate_tickets(common: Common, plan: crate::migrate::Plan) -> ExitCode {
    use crate::migrate::Outcome;
    use std::io::{IsTerminal, Write};
    let config = match load(&common) {
        Ok(c) => c,
        Err(e) => return fail(exit::CONFIG, e),
    };
    let gateway = match Gateway::build(config) {
        Ok(g) => g,
        Err(e) => return fail(exit::UNAVAILABLE, e),
    };
    if let Err(e) = gateway.state.migrate().await {
        return fail(exit::UNAVAILABLE, format!("the gateway state: {e}"));
    }
    let tty = std::io::stderr().is_terminal();
    let verb = if plan.dry_run { "would copy" } else { "copied" };
    let result = crate::migrate::run(&gateway, &plan, |id, outcome, seen, total| {
        match outcome {
            Outcome::Copied { to, .. } => println!("copied {}/{id} -> {}/{to}", plan.from, plan.to),
            Outcome::AlreadyCopied => {
                println!("skipped {}/{id}: copied by an earlier run", plan.from)
            }
            Outcome::WouldCopy => println!("would copy {}/{id}", plan.from),
            Outcome::Failed(reason) => println!("failed {}/{id}: {reason}", plan.from),
        }
        if tty {
            let width = 30usize;
            let filled = (seen as usize * width) / (total.max(1) as usize);
            eprint!(
                "\r[{}{}] {seen}/{total} {} -> {}",
                "#".repeat(filled.min(width)),
                " ".repeat(width - filled.min(width)),
                plan.from,
                plan.to
            );
            let _ = std::io::stderr().flush();
        }
    })
    .await;
    if tty {
        eprintln!();
    }
    for upstream in gateway.upstreams.values() {
        ticketgate_model::Helpdesk::shutdown(upstream.as_ref()).await;
    }
    match result {
        Ok(summary) => {
            let done = if plan.dry_run {
                summary.would_copy
            } else {
                summary.copied
            };
            println!(
                "summary: {} -> {}: {verb} {done}, skipped {}, failed {}",
                plan.from,
                plan.to,
                summary.skipped,
                summary.failed.len()
            );
            for (id, note) in &summary.notes {
                println!("  {}/{id} copied without: {note}", plan.from);
            }
            for (id, reason) in &summary.failed {
                println!("  {}/{id} failed: {reason}", plan.from);
            }
            if summary.failed.is_empty() {
                ExitCode::from(exit::OK)
            } else {
                // Failed tickets are tried again by the next run.
                ExitCode::from(1)
            }
        }
        Err(e) => fail(
            if e.retryable {
                exit::UNAVAILABLE
            } else {
                exit::CONFIG
            },
            format!("migrate {} -> {}: {e}", plan.from, plan.to),
        ),
    }
}

/// `ticketgate migrate`: the state's migrations, applied now, and what that did.
async fn migrate(common: Common) -> ExitCode {
    let config = match load(&common) {
        Ok(c) => c,
        Err(e) => return fail(exit::CONFIG, e),
    };
    let state = match crate::gateway::open_state(&config) {
        Ok(s) => s,
        Err(e) => return fail(exit::UNAVAILABLE, e),
    };
    match state.migrate().await {
        Ok(report) if report.from == report.to => {
            println!(
                "{}: schema at version {}, up to date: nothing to apply",
                state.describe(),
                report.to
            );
            ExitCode::from(exit::OK)
        }
        Ok(report) => {
            println!(
                "{}: applied migration(s) {} to {} (schema version {} -> {})",
                state.describe(),
                report.from + 1,
                report.to,
                report.from,
                report.to
            );
            ExitCode::from(exit::OK)
        }
        Err(e) => fail(
            exit::UNAVAILABLE,
            format!("{}: migrations not applied: {e}", state.describe()),
        ),
    }
}

/// SIGINT / SIGTERM stop gracefully; SIGHUP reloads consumers, keys and quotas.
async fn signals(
    tx: watch::Sender<bool>,
    gateway: std::sync::Arc<Gateway>,
    common: Common,
    listen: Option<SocketAddr>,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => match load(&common) {
                Ok(mut config) => {
                    if let Some(addr) = listen {
                        config.server.listen = addr;
                    }
                    for note in gateway.reload(config) {
                        tracing::warn!("reload: {note}");
                    }
                    tracing::info!("configuration reloaded");
                }
                Err(e) => tracing::error!("configuration NOT reloaded, the running one stays: {e}"),
            },
        }
    }
    tracing::info!("shutting down: finishing in-flight requests");
    let _ = tx.send(true);
}

/// `pipe --explain`: the decision, the rule that made it and its facts, on stdout.
fn explain(verdict: &crate::handoff::Verdict) {
    let mut out = std::io::stdout().lock();
    let detail = verdict.detail.replace(['\n', '\r'], " ");
    let _ = writeln!(
        out,
        "decision: {}\nrule: {}\ndetail: {detail}",
        verdict.decision, verdict.rule
    );
    if let Some(id) = &verdict.ticket_id {
        let _ = writeln!(out, "ticket_id: {id}");
    }
    if let Some(kib) = peak_memory_kib() {
        let _ = writeln!(out, "peak_memory_kib: {kib}");
    }
}

/// This process's peak resident set (Linux `VmHWM`), for `pipe --explain`.
fn peak_memory_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// `ticketgate pipe`, as a mail server runs it: the message on stdin, the verdict in
/// the exit status (see [`mail_exit`]), one line on stderr when the message is not
/// delivered, and everything else in the pipe log. With a `ticketgate serve` running
/// on the same data directory, the message is handed to it (see [`crate::handoff`]).
async fn pipe(
    common: Common,
    consumer: Option<String>,
    recipients: Vec<String>,
    explained: bool,
) -> ExitCode {
    use crate::handoff::{HandOff, Verdict};
    use std::io::Read as _;
    // Postfix and Exim bounce on any status they do not know as temporary, a panic's
    // 101 included: a fault of ours must hold the message, not return it.
    std::panic::set_hook(Box::new(|info| {
        tracing::error!(%info, "ticketgate pipe panicked");
        eprintln!("ticketgate: internal error; the message is kept and retried");
        std::process::exit(i32::from(exit::TEMPFAIL));
    }));
    let config = match load(&common) {
        Ok(c) => c,
        // Held, never bounced: the operator fixes the file and the queue flushes.
        Err(e) => return held_for_config(e),
    };
    init_pipe_logging(&config);
    let Some(name) = consumer.or_else(|| config.pipe.consumer.clone()) else {
        return held_for_config("no consumer for piped mail: pass --consumer or set pipe.consumer");
    };
    let mut recipients = recipients;
    // Postfix's local(8) (aliases) and Exim's pipe transport put the envelope recipient
    // in the environment; master.cf's pipe(8) passes it as --recipient=${recipient}.
    for var in ["RECIPIENT", "ORIGINAL_RECIPIENT"] {
        if let Ok(r) = std::env::var(var)
            && !r.trim().is_empty()
        {
            recipients.push(r);
        }
    }
    let limit = config.limits.email_bytes;
    let mut raw = Vec::new();
    let read = std::io::stdin()
        .lock()
        .take(limit as u64 + 1)
        .read_to_end(&mut raw);
    if let Err(e) = read {
        tracing::warn!(error = %e, "cannot read the message from standard input");
        return refuse(exit::TEMPFAIL, format!("cannot read the message: {e}"));
    }
    // One id for this message's upstream calls (and its outbox item), like a request's.
    let request_id = crate::http::new_request_id();
    tracing::info!(request_id, "mail piped in");
    let verdict = if raw.len() > limit {
        Verdict::too_large(limit)
    } else {
        let socket = crate::handoff::socket_path(&config.server.data_dir);
        let handed = if config.pipe.handoff {
            crate::handoff::hand_off(&socket, &name, &recipients, raw, &request_id).await
        } else {
            HandOff::NobodyThere(raw)
        };
        match handed {
            HandOff::Answered(verdict) => {
                tracing::info!(request_id, "mail handed to the running gateway");
                verdict
            }
            HandOff::Unanswered(verdict) => verdict,
            HandOff::NobodyThere(raw) => match Gateway::build(config) {
                Ok(gateway) => {
                    let id = std::sync::Arc::from(request_id.as_str());
                    crate::handoff::deliver(&gateway, &name, &raw, &recipients, id).await
                }
                Err(e) => {
                    tracing::error!(error = %e, "the gateway cannot start: mail held");
                    return refuse(exit::TEMPFAIL, one_line(&e.to_string()));
                }
            },
        }
    };
    verdict.log(&request_id);
    if let Some(said) = &verdict.said {
        println!("{said}");
    }
    if explained {
        explain(&verdict);
    }
    if let Some(refused) = &verdict.refused {
        eprintln!("ticketgate: {refused}");
    }
    ExitCode::from(verdict.code)
}

/// The exit status for a message that was not delivered.
///
/// A mail server bounces on every status but the temporary ones (Postfix: 71 and 75,
/// `global/sys_exits.c`; Exim: those in the transport's `temp_errors`, 75 in the README's
/// recipe), so only the sender's own mistakes bounce: a message that cannot be read or
/// has no text (65), a denied sender (77). Everything else — the helpdesk down without
/// an outbox, the data directory read-only, a credential refused upstream, a consumer
/// routed to an upstream that cannot create — is ours to fix, and holds the message
/// (75) until it is fixed.
pub(crate) fn mail_exit(e: &ticketgate_model::Error) -> u8 {
    use ticketgate_model::ErrorKind;
    match e.kind {
        ErrorKind::BadInput | ErrorKind::PayloadTooLarge | ErrorKind::UnsupportedMediaType => {
            exit::DATAERR
        }
        ErrorKind::Forbidden if e.field.as_deref() == Some(crate::email::SENDER_FIELD) => {
            exit::NOPERM
        }
        _ if e.retryable => exit::TEMPFAIL,
        // The helpdesk itself refused this message's ticket as invalid (osTicket's
        // "Unable to create new ticket: …"): retrying cannot help, the data is at fault.
        ErrorKind::UpstreamRejected | ErrorKind::NotFound | ErrorKind::Conflict
            if e.http_status() < 500 =>
        {
            exit::DATAERR
        }
        _ => exit::TEMPFAIL,
    }
}

/// A configuration mistake: logged where it can be, one line for the mail server's log,
/// and the message held (75) so nothing is lost while the operator fixes it.
fn held_for_config(message: impl std::fmt::Display) -> ExitCode {
    let verdict = crate::handoff::Verdict::held(&message.to_string());
    verdict.log("");
    refuse(verdict.code, verdict.refused.unwrap_or_default())
}

/// The one line a mail server puts in its log (and, for a bounce, in the bounce).
fn refuse(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("ticketgate: {}", one_line(&message.to_string()));
    ExitCode::from(code)
}

/// One line, without the source excerpt a TOML parse error shows (it may be a line of
/// the configuration holding a key), at most 300 characters.
pub(crate) fn one_line(message: &str) -> String {
    let is_excerpt = |line: &str| {
        let t = line.trim_start();
        t.starts_with('|')
            || t.split_once(" |")
                .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    };
    let joined = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !is_excerpt(l))
        .collect::<Vec<_>>()
        .join(": ");
    let clean: String = joined
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match clean.char_indices().nth(300) {
        Some((at, _)) => format!("{}…", &clean[..at]),
        None => clean,
    }
}

/// The pipe's log: appended to `pipe.log_file` (default `pipe.log` in the data
/// directory) at the level `TICKETGATE_LOG` sets, never to stderr. When the file cannot
/// be opened (a read-only data directory), there is no log; the verdict on stderr still
/// says what went wrong.
fn init_pipe_logging(config: &Config) {
    let path = config.pipe.log_path(&config.server.data_dir);
    // The first message may arrive before anything made the data directory.
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    else {
        return;
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("TICKETGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file));
    let _ = if config.server.log_format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

async fn outbox(common: Common, action: OutboxAction) -> ExitCode {
    let config = match load(&common) {
        Ok(c) => c,
        Err(e) => return fail(exit::CONFIG, e),
    };
    let state = match crate::gateway::open_state(&config) {
        Ok(s) => s,
        Err(e) => return fail(exit::UNAVAILABLE, e),
    };
    let result = outbox_action(&state, action).await;
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => fail(exit::SOFTWARE, e),
    }
}

async fn outbox_action(
    state: &ticketgate_store::GatewayState,
    action: OutboxAction,
) -> ticketgate_model::Result<u8> {
    use ticketgate_store::OutboxState;
    match action {
        OutboxAction::List {
            state: filter,
            limit,
        } => {
            let filter = filter.as_deref().map(|s| match s {
                "delivered" => OutboxState::Delivered,
                "dead" => OutboxState::Dead,
                _ => OutboxState::Pending,
            });
            let items = state.list(filter, limit).await?;
            println!(
                "{:<20} {:<10} {:<7} {:<9} {:>8}  {:<25} LAST ERROR / TICKET",
                "TRACKING ID", "STATE", "KIND", "UPSTREAM", "ATTEMPTS", "CREATED"
            );
            for i in &items {
                let state = serde_json::to_value(i.state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let kind = serde_json::to_value(i.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let tail = match (&i.ticket_id, &i.last_error) {
                    (Some(id), _) => format!("ticket {id}"),
                    (None, Some(e)) => e.clone(),
                    (None, None) => String::new(),
                };
                println!(
                    "{:<20} {:<10} {:<7} {:<9} {:>8}  {:<25} {}",
                    i.tracking_id,
                    state,
                    kind,
                    i.upstream,
                    i.attempts,
                    i.created_at.to_rfc3339(),
                    tail
                );
            }
            println!("{} item(s)", items.len());
            Ok(exit::OK)
        }
        OutboxAction::Show { tracking_id } => match state.item(&tracking_id).await? {
            Some(item) => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&item).unwrap_or_default()
                );
                Ok(exit::OK)
            }
            None => {
                eprintln!("ticketgate: no outbox item {tracking_id}");
                Ok(exit::DATAERR)
            }
        },
        OutboxAction::Retry {
            tracking_id: Some(id),
            ..
        } => {
            if state.retry(&id).await? {
                println!("{id}: queued for delivery now (a running ticketgate serve delivers it)");
                Ok(exit::OK)
            } else {
                eprintln!("ticketgate: no undelivered outbox item {id}");
                Ok(exit::DATAERR)
            }
        }
        OutboxAction::Retry {
            tracking_id: None,
            all,
        } => {
            if !all {
                eprintln!("ticketgate: give a tracking id or --all");
                return Ok(exit::DATAERR);
            }
            let n = state.retry_all().await?;
            println!("{n} dead item(s) queued for delivery now");
            Ok(exit::OK)
        }
        OutboxAction::Drop { tracking_id } => {
            if state.drop_item(&tracking_id).await? {
                println!("{tracking_id}: dropped");
                Ok(exit::OK)
            } else {
                eprintln!("ticketgate: no undelivered outbox item {tracking_id}");
                Ok(exit::DATAERR)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ticketgate_model::{Error, UpstreamAnswer, UpstreamHint, classify_upstream};

    fn osticket(status: u16, hint: UpstreamHint) -> Error {
        classify_upstream(
            "osTicket",
            &UpstreamAnswer {
                status,
                hint,
                message: "m",
                retry_after: None,
            },
        )
    }

    #[test]
    fn pipe_exits_permanent_for_a_permanent_failure_and_75_only_for_a_temporary_one() {
        // osTicket's 500 "Unable to create new ticket :<reason>": the message is at fault.
        assert_eq!(
            mail_exit(&osticket(500, UpstreamHint::Refused)),
            exit::DATAERR
        );
        // The gateway's key refused, an upstream answering what cannot be read: ours to
        // fix, so the message is held (a mail server bounces anything but 75).
        assert_eq!(
            mail_exit(&osticket(401, UpstreamHint::None)),
            exit::TEMPFAIL
        );
        assert_eq!(
            mail_exit(&ticketgate_model::upstream_unreadable("osTicket", "x")),
            exit::TEMPFAIL
        );
        // Down, overloaded, timing out: the mail server keeps the message.
        for status in [429, 500, 502, 503, 504] {
            assert_eq!(
                mail_exit(&osticket(status, UpstreamHint::None)),
                exit::TEMPFAIL
            );
        }
        assert_eq!(
            mail_exit(&Error::storage_unavailable("disk full")),
            exit::TEMPFAIL
        );
        assert_eq!(mail_exit(&Error::bad_input("x")), exit::DATAERR);
        // A consumer refused is a configuration fault: held. A denied sender bounces.
        assert_eq!(mail_exit(&Error::forbidden("x")), exit::TEMPFAIL);
        assert_eq!(
            mail_exit(&Error::forbidden("x").field(crate::email::SENDER_FIELD)),
            exit::NOPERM
        );
    }
}
