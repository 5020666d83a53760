//! The `ticketgate` command line: `serve`, `check`, `outbox`.

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
        env = "TICKETGATE_CONFIG"
    )]
    pub config: PathBuf,
    /// The data directory (overrides `server.data_dir`).
    #[arg(long)]
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
    /// Exit status per sysexits: 0 delivered or durably queued, 65 unreadable or
    /// not a ticket (auto-reply, bounce…), 75 temporary failure (the mail server
    /// retries), 77 sender or consumer refused, 78 configuration error.
    Pipe {
        #[command(flatten)]
        common: Common,
        /// The consumer the message is delivered as (default: `pipe.consumer`).
        #[arg(long)]
        consumer: Option<String>,
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

pub fn load(common: &Common) -> Result<Config, String> {
    let mut config = Config::load(&common.config).map_err(|e| e.to_string())?;
    if let Some(dir) = &common.data_dir {
        config.server.data_dir = dir.clone();
    }
    Ok(config)
}

pub fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TICKETGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
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
        Command::Serve { common, listen } => runtime().block_on(serve(common, listen)),
        Command::Token {
            common,
            consumer,
            ttl,
        } => token(&common, &consumer, ttl),
        Command::Outbox { common, action } => runtime().block_on(outbox(common, action)),
        Command::Pipe {
            common,
            consumer,
            explain,
        } => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime can be built");
            rt.block_on(pipe(common, consumer, explain))
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
        .ticketsapi
        .as_ref()
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
        .map(|c| c.jwt_subject.clone().unwrap_or_else(|| c.name.clone()))
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
        let query = ticketgate_model::Query {
            limit: 1,
            ..Default::default()
        };
        let outcome = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            ticketgate_model::Helpdesk::search(upstream.as_ref(), &query),
        )
        .await;
        match outcome {
            Ok(Ok(page)) => println!("upstream {name}: ok ({} ticket(s))", page.total),
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

async fn serve(common: Common, listen: Option<SocketAddr>) -> ExitCode {
    let mut config = match load(&common) {
        Ok(c) => c,
        Err(e) => return fail(exit::CONFIG, e),
    };
    if let Some(addr) = listen {
        config.server.listen = addr;
    }
    init_logging(config.server.log_format == "json");
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
    let gateway = match Gateway::build(config) {
        Ok(g) => g,
        Err(e) => return fail(exit::UNAVAILABLE, e),
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    println!("listening on {addr}");
    let _ = std::io::stdout().flush();
    tracing::info!(%addr, "ticketgate serving");
    let (tx, rx) = watch::channel(false);
    tokio::spawn(signals(tx, gateway.clone(), common.clone(), listen));
    crate::serve(listener, gateway, rx).await;
    tracing::info!("ticketgate stopped");
    ExitCode::from(exit::OK)
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
fn explain(decision: &str, rule: &crate::email::Decision, ticket_id: Option<&str>) {
    let mut out = std::io::stdout().lock();
    let detail = rule.detail.replace(['\n', '\r'], " ");
    let _ = writeln!(
        out,
        "decision: {decision}\nrule: {}\ndetail: {detail}",
        rule.rule
    );
    if let Some(id) = ticket_id {
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

async fn pipe(common: Common, consumer: Option<String>, explained: bool) -> ExitCode {
    use std::io::Read as _;
    use ticketgate_model::{ErrorKind, Ingested, Permission};
    let config = match load(&common) {
        Ok(c) => c,
        Err(e) => return fail(exit::CONFIG, e),
    };
    init_logging(config.server.log_format == "json");
    let Some(name) = consumer.or_else(|| config.pipe.consumer.clone()) else {
        return fail(
            exit::CONFIG,
            "no consumer for piped mail: pass --consumer or set pipe.consumer",
        );
    };
    let limit = config.limits.email_bytes;
    let mut raw = Vec::new();
    let read = std::io::stdin()
        .lock()
        .take(limit as u64 + 1)
        .read_to_end(&mut raw);
    if let Err(e) = read {
        return fail(exit::TEMPFAIL, format!("cannot read the message: {e}"));
    }
    if raw.len() > limit {
        return fail(
            exit::DATAERR,
            format!("the message is larger than {limit} bytes"),
        );
    }
    let gateway = match Gateway::build(config) {
        Ok(g) => g,
        Err(e) => return fail(exit::TEMPFAIL, e),
    };
    let consumers = gateway.consumers();
    let Some(entry) = consumers.entry(&name) else {
        return fail(exit::CONFIG, format!("consumer {name:?} is not defined"));
    };
    if !entry.consumer.permissions.has(Permission::Create) {
        return fail(
            exit::NOPERM,
            format!("consumer {name:?} lacks the create permission"),
        );
    }
    let consumer = entry.consumer.clone();
    let (result, rule) = crate::email::ingest_explained(&gateway, &consumer, &raw).await;
    let say = |decision: &str, ticket_id: Option<&str>| {
        if explained {
            explain(decision, &rule, ticket_id);
        }
    };
    match result {
        Ok(Ingested::Created(t)) => {
            println!("created ticket {}", t.number);
            say("ticket", Some(&t.id));
        }
        Ok(Ingested::Replied { ticket, .. }) => {
            println!("added a reply to ticket {}", ticket.number);
            say("reply", Some(&ticket.id));
        }
        Ok(Ingested::Duplicate { ticket_id, .. }) => {
            println!("already delivered (ticket {ticket_id})");
            say("duplicate", None);
        }
        Ok(Ingested::Queued { tracking_id }) => {
            println!("queued for delivery as {tracking_id} (the upstream is unavailable)");
            say("queued", Some(&tracking_id));
        }
        Ok(Ingested::Ignored { reason }) => {
            say("refused", None);
            return fail(exit::DATAERR, format!("not a ticket: {reason}"));
        }
        Err(e) => {
            say(if e.retryable { "deferred" } else { "refused" }, None);
            let code = match e.kind {
                ErrorKind::Unauthorized | ErrorKind::Forbidden => exit::NOPERM,
                ErrorKind::BadInput
                | ErrorKind::PayloadTooLarge
                | ErrorKind::UnsupportedMediaType => exit::DATAERR,
                ErrorKind::Unsupported => exit::UNAVAILABLE,
                _ => exit::TEMPFAIL,
            };
            return fail(code, e);
        }
    }
    ExitCode::from(exit::OK)
}

async fn outbox(common: Common, action: OutboxAction) -> ExitCode {
    let config = match load(&common) {
        Ok(c) => c,
        Err(e) => return fail(exit::CONFIG, e),
    };
    let state = match ticketgate_store::GatewayState::open(
        &config.server.data_dir.join("gateway.sqlite"),
    ) {
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
