//! The README's mail-server recipes on real mail servers: Postfix, then Exim, installed
//! from Debian's packages and configured for local delivery only (nothing leaves the
//! machine). The recipes are read out of README.md by their `recipe:` markers and
//! applied exactly as written, so the README cannot drift from what is tested.
//!
//! Through each mail server: a new message, a reply, an auto-reply, headerless binary
//! junk, a denied sender, a message while the data directory is read-only, and one
//! while the configuration has a mistake. Checked: the mail server's own verdict (its log), the
//! tickets (a `ticketgate serve` on the same data directory, as the pipe's user), and
//! the text of every bounce (the customer's mailbox).
//!
//! It installs packages and replaces the machine's mail server, so it runs only under
//! CI (`CI` set) or with `TICKETGATE_MAIL_SERVERS=1`, as root; anywhere else it says
//! so and passes without checking anything. Exim (Debian's default) is left installed.

mod support;

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const HELPDESK: &str = "helpdesk@example.com";
/// A local mailbox: the customer's envelope sender, so every bounce lands here.
const CUSTOMER_USER: &str = "tgcustomer";
const CUSTOMER: &str = "tgcustomer@example.com";
const MAILBOX: &str = "/var/mail/tgcustomer";
const DATA_DIR: &str = "/var/lib/ticketgate";
const CONFIG: &str = "/etc/ticketgate/gateway.toml";
const POSTFIX_LOG: &str = "/var/log/ticketgate-test-postfix.log";
const EXIM_LOG: &str = "/var/log/exim4/mainlog";

fn enabled() -> bool {
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
    let asked = std::env::var("TICKETGATE_MAIL_SERVERS").is_ok_and(|v| v == "1");
    if !(ci || asked) {
        eprintln!(
            "mail_servers: skipped (it installs Postfix and Exim): set TICKETGATE_MAIL_SERVERS=1 or CI"
        );
        return false;
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    assert!(root, "mail_servers must run as root: it installs packages");
    true
}

#[tokio::test]
async fn readme_recipes_on_real_postfix_then_exim() {
    if !enabled() {
        return;
    }
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    customer_mailbox();
    postfix_stage(&readme).await;
    exim_stage(&readme).await;
}

// ---------------------------------------------------------------- the stages

async fn postfix_stage(readme: &str) {
    stage("Postfix");
    let _ = Command::new("postfix").arg("stop").status();
    apt_install(
        &["postfix"],
        "postfix postfix/main_mailer_type select Local only\n\
         postfix postfix/mailname string example.com\n\
         postfix postfix/destinations string example.com, localhost\n",
    );
    // The mail server's own set-up, not ticketgate's: local delivery only, its log in
    // a file (no syslog here), and a pristine master.cf for the recipe to extend.
    let master = Path::new("/etc/postfix/master.cf");
    let pristine = Path::new("/etc/postfix/master.cf.ticketgate-test-orig");
    if !pristine.exists() {
        std::fs::copy(master, pristine).expect("master.cf can be saved");
    }
    std::fs::copy(pristine, master).expect("master.cf can be restored");
    std::fs::write("/etc/postfix/transport", "").expect("the transport table can be reset");
    sh(&format!(
        "postconf -e 'myhostname = example.com' 'mydomain = example.com' \
           'mydestination = example.com, localhost' 'inet_interfaces = loopback-only' \
           'relayhost =' 'default_transport = error:local delivery only' \
           'relay_transport = error:local delivery only' 'maillog_file = {POSTFIX_LOG}' \
           'transport_maps ='
         newaliases
         postfix status >/dev/null 2>&1 || postfix start
         postsuper -d ALL 2>/dev/null"
    ));
    install_ticketgate(readme);
    let master_cf = recipe(readme, "postfix-master.cf");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(master)
        .expect("master.cf opens");
    writeln!(file, "{master_cf}").expect("master.cf is written");
    sh(&recipe(readme, "postfix-main.cf"));
    deliver_the_cases(&Postfix).await;
    sh("postfix stop");
}

async fn exim_stage(readme: &str) {
    stage("Exim");
    apt_install(
        &["exim4-daemon-light"],
        "exim4-config exim4/dc_eximconfig_configtype select local delivery only; not on a network\n\
         exim4-config exim4/dc_other_hostnames string example.com\n\
         exim4-config exim4/dc_local_interfaces string 127.0.0.1 ; ::1\n\
         exim4-config exim4/use_split_config boolean true\n\
         exim4-config exim4/mailname string example.com\n",
    );
    // Local delivery only, example.com local, whatever an earlier configuration said.
    sh("sed -i \
          -e \"s/^dc_eximconfig_configtype=.*/dc_eximconfig_configtype='local'/\" \
          -e \"s/^dc_other_hostnames=.*/dc_other_hostnames='example.com'/\" \
          -e \"s/^dc_local_interfaces=.*/dc_local_interfaces='127.0.0.1 ; ::1'/\" \
          -e \"s/^dc_relay_domains=.*/dc_relay_domains=''/\" \
          -e \"s/^dc_smarthost=.*/dc_smarthost=''/\" \
          /etc/exim4/update-exim4.conf.conf");
    install_ticketgate(readme);
    std::fs::write(
        "/etc/exim4/conf.d/router/350_ticketgate",
        recipe(readme, "exim-router") + "\n",
    )
    .expect("the router is written");
    std::fs::write(
        "/etc/exim4/conf.d/transport/30_ticketgate",
        recipe(readme, "exim-transport") + "\n",
    )
    .expect("the transport is written");
    sh(&recipe(readme, "exim-update"));
    // An empty queue: nothing left over from an earlier run is delivered in this one.
    sh(
        "exim4 -bV >/dev/null && find /var/spool/exim4/input /var/spool/exim4/msglog -type f -delete",
    );
    deliver_the_cases(&Exim).await;
}

/// The cases, through `mta`, and what must come of each.
async fn deliver_the_cases(mta: &dyn MailServer) {
    // Delivery to an mbox wants it owned by its user.
    sh(&format!(
        "rm -f {MAILBOX} && install -o {CUSTOMER_USER} -g mail -m 660 /dev/null {MAILBOX}"
    ));
    let tag = mta.name();

    // New mail: delivered, a ticket; the helpdesk's own address (the envelope
    // recipient) is not a cc, Carol is.
    let new = format!(
        "From: Ann Customer <{CUSTOMER}>\nTo: {HELPDESK}\nCc: Carol <carol@elsewhere.example>\n\
         Subject: Printer on floor 2 is offline ({tag})\nMessage-ID: <new-{tag}@customer.example>\n\
         Content-Type: text/plain; charset=utf-8\n\nIt shows \x1b[31mE42\x1b[0m and stops.\n"
    );
    let verdict = mta.send(new.as_bytes());
    assert_eq!(verdict.status, Status::Delivered, "new mail: {verdict:?}");

    // A reply to it: delivered, a thread entry on that ticket.
    let reply = format!(
        "From: {CUSTOMER}\nTo: {HELPDESK}\nSubject: Re: Printer on floor 2 is offline ({tag})\n\
         Message-ID: <reply-{tag}@customer.example>\nIn-Reply-To: <new-{tag}@customer.example>\n\n\
         It works again after a restart.\n"
    );
    let verdict = mta.send(reply.as_bytes());
    assert_eq!(verdict.status, Status::Delivered, "reply: {verdict:?}");

    // An auto-reply: accepted (exit 0) and discarded, no ticket and no bounce.
    let auto = format!(
        "From: {CUSTOMER}\nTo: {HELPDESK}\nSubject: Out of office ({tag})\n\
         Auto-Submitted: auto-replied\nMessage-ID: <auto-{tag}@customer.example>\n\nI am away.\n"
    );
    let verdict = mta.send(auto.as_bytes());
    assert_eq!(verdict.status, Status::Delivered, "auto-reply: {verdict:?}");

    // Headerless binary junk: the mail server adds From, Date and Message-ID; it is
    // no ticket, and bounces (65) with ticketgate's one line.
    let mut junk = Vec::new();
    let mut x: u32 = 2026;
    for _ in 0..1500 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let b = (x >> 16) as u8;
        // Line ends and NUL are the mail server's business; the other bytes are the point.
        junk.push(if matches!(b, b'\n' | b'\r' | 0) {
            b'.'
        } else {
            b
        });
    }
    junk.extend_from_slice(b"\n\x1b[2J\x1b[31mjunk\x1b[0m\x07\n");
    let verdict = mta.send(&junk);
    assert_eq!(verdict.status, Status::Bounced, "junk: {verdict:?}");

    // A denied sender (by the From address, here one added to `mail.deny_senders`):
    // bounced (77) with a line that names the address and not the list.
    sh(&format!(
        "sed -i 's/^own_addresses = \\[\\]/own_addresses = []\\ndeny_senders = [\"@spam.example\"]/' {CONFIG} \
         && grep -q '^deny_senders' {CONFIG}"
    ));
    let denied = format!(
        "From: Spammer <offers@spam.example>\nTo: {HELPDESK}\nSubject: Cheap printers ({tag})\n\
         Message-ID: <denied-{tag}@spam.example>\n\nBuy now.\n"
    );
    let verdict = mta.send(denied.as_bytes());
    assert_eq!(
        verdict.status,
        Status::Bounced,
        "denied sender: {verdict:?}"
    );
    sh(&format!("sed -i '/^deny_senders/d' {CONFIG}"));

    // The data directory read-only for the pipe's user: deferred, not bounced; once it
    // is writable again and the queue is flushed, delivered exactly once.
    sh(&format!("chmod -R a-w {DATA_DIR}"));
    let held = format!(
        "From: {CUSTOMER}\nTo: {HELPDESK}\nSubject: Sent while the disk was read-only ({tag})\n\
         Message-ID: <readonly-{tag}@customer.example>\n\nPlease keep this one.\n"
    );
    let verdict = mta.send(held.as_bytes());
    assert_eq!(verdict.status, Status::Deferred, "read-only: {verdict:?}");
    sh(&format!("chmod -R u+w {DATA_DIR}"));
    let retried = mta.flush(&verdict.queue_id);
    assert_eq!(
        retried.status,
        Status::Delivered,
        "read-only, retried: {retried:?}"
    );

    // A configuration mistake (pipe.consumer naming a consumer that does not exist):
    // deferred, not bounced; delivered once it is fixed and the queue flushed.
    sh(&format!(
        "sed -i 's/^consumer = \"mail\"/consumer = \"mial\"/' {CONFIG} && grep -q '\"mial\"' {CONFIG}"
    ));
    let mistake = format!(
        "From: {CUSTOMER}\nTo: {HELPDESK}\nSubject: Sent while the configuration was broken ({tag})\n\
         Message-ID: <config-{tag}@customer.example>\n\nPlease keep this one too.\n"
    );
    let verdict = mta.send(mistake.as_bytes());
    assert_eq!(
        verdict.status,
        Status::Deferred,
        "config mistake: {verdict:?}"
    );
    assert!(
        verdict.log.contains("ticketgate: configuration error"),
        "the mail server's log says why: {verdict:?}"
    );
    sh(&format!(
        "sed -i 's/^consumer = \"mial\"/consumer = \"mail\"/' {CONFIG}"
    ));
    let retried = mta.flush(&verdict.queue_id);
    assert_eq!(
        retried.status,
        Status::Delivered,
        "config, retried: {retried:?}"
    );

    // The tickets, as a `serve` on the same data directory shows them.
    let serve = Serve::start();
    let tickets = serve.tickets().await;
    let subjects: Vec<&str> = tickets
        .iter()
        .filter_map(|t| t["subject"].as_str())
        .collect();
    let count = |s: &str| subjects.iter().filter(|x| **x == s).count();
    assert_eq!(
        count(&format!("Printer on floor 2 is offline ({tag})")),
        1,
        "{subjects:?}"
    );
    assert_eq!(
        count(&format!("Sent while the disk was read-only ({tag})")),
        1,
        "delivered exactly once: {subjects:?}"
    );
    assert_eq!(
        count(&format!("Sent while the configuration was broken ({tag})")),
        1,
        "delivered exactly once: {subjects:?}"
    );
    assert_eq!(
        tickets.len(),
        3,
        "no ticket for the auto-reply, the reply, the junk or the denied sender: {subjects:?}"
    );
    let first = tickets
        .iter()
        .find(|t| t["subject"] == format!("Printer on floor 2 is offline ({tag})").as_str())
        .and_then(|t| t["id"].as_str())
        .expect("the first ticket");
    let ticket = serve.ticket(first).await;
    assert_eq!(
        ticket["body"]["content"], "It shows E42 and stops.",
        "escape sequences cleaned: {ticket}"
    );
    let cc: Vec<&str> = ticket["cc"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["email"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        cc,
        ["carol@elsewhere.example"],
        "the helpdesk's own address is no cc: {ticket}"
    );
    let entries = ticket["entries"].as_array().cloned().unwrap_or_default();
    assert!(
        entries.iter().any(|e| e["body"]["content"]
            .as_str()
            .is_some_and(|b| b.contains("It works again"))),
        "the reply is on the ticket: {ticket}"
    );
    drop(serve);

    // Exactly two bounces reached the customer, the junk's and the denied sender's,
    // each with ticketgate's one line and no log line of it.
    let mailbox = wait_for_file_containing(
        MAILBOX,
        "does not accept mail from",
        Duration::from_secs(60),
    );
    let bounces = mailbox.lines().filter(|l| l.starts_with("From ")).count();
    assert_eq!(bounces, 2, "two bounces:\n{mailbox}");
    // Mail servers fold long lines of a bounce.
    let unfolded = mailbox.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        unfolded.contains("ticketgate: the message has no text to open a ticket with"),
        "{mailbox}"
    );
    assert!(
        unfolded
            .contains("ticketgate: this helpdesk does not accept mail from offers@spam.example"),
        "{mailbox}"
    );
    assert!(!unfolded.contains("deny_senders"), "{mailbox}");
    for leak in ["INFO", "WARN", "ERROR", "ticketgate::"] {
        assert!(
            !mailbox.contains(leak),
            "no log line in a bounce:\n{mailbox}"
        );
    }
    assert!(
        !mailbox.contains("Out of office"),
        "the auto-reply was not bounced:\n{mailbox}"
    );
}

// ---------------------------------------------------------------- the mail servers

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Delivered,
    Deferred,
    Bounced,
}

#[derive(Debug, Clone)]
struct Verdict {
    status: Status,
    queue_id: String,
    /// The mail server's log from the submission (or flush) to the verdict.
    log: String,
}

trait MailServer {
    fn name(&self) -> &'static str;
    fn log(&self) -> &'static str;
    /// The verdict in one log line about the helpdesk's address: its queue id and
    /// status, or `None` when the line is no verdict.
    fn verdict(&self, line: &str) -> Option<(String, Status)>;
    fn flush_command(&self) -> &'static str;

    /// Submit `message` from the customer to the helpdesk and wait for the verdict.
    fn send(&self, message: &[u8]) -> Verdict {
        let offset = file_len(self.log());
        let mut child = Command::new("/usr/sbin/sendmail")
            .args(["-i", "-f", CUSTOMER, HELPDESK])
            .stdin(Stdio::piped())
            .spawn()
            .expect("sendmail runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(message)
            .expect("the message is handed over");
        assert!(
            child.wait().expect("sendmail ends").success(),
            "sendmail accepted the message"
        );
        self.wait_verdict(offset, None)
    }

    /// Flush the queue and wait for the verdict on `queue_id`.
    fn flush(&self, queue_id: &str) -> Verdict {
        let offset = file_len(self.log());
        sh(self.flush_command());
        self.wait_verdict(offset, Some(queue_id))
    }

    fn wait_verdict(&self, offset: u64, queue_id: Option<&str>) -> Verdict {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let log = read_from(self.log(), offset);
            for line in log.lines() {
                if let Some((id, status)) = self.verdict(line)
                    && queue_id.is_none_or(|q| q == id)
                {
                    return Verdict {
                        status,
                        queue_id: id,
                        log: log.clone(),
                    };
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "{}: no verdict within 90 s; its log since:\n{log}",
                    self.name()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

struct Postfix;

impl MailServer for Postfix {
    fn name(&self) -> &'static str {
        "postfix"
    }
    fn log(&self) -> &'static str {
        POSTFIX_LOG
    }
    // `postfix/pipe[1234]: 4F1x2: to=<helpdesk@example.com>, relay=ticketgate, …, status=sent (…)`
    fn verdict(&self, line: &str) -> Option<(String, Status)> {
        if !line.contains(&format!("to=<{HELPDESK}>")) {
            return None;
        }
        let status = if line.contains("status=sent") {
            Status::Delivered
        } else if line.contains("status=deferred") {
            Status::Deferred
        } else if line.contains("status=bounced") {
            Status::Bounced
        } else {
            return None;
        };
        let id = line.split(": ").nth(1)?.trim().to_owned();
        Some((id, status))
    }
    fn flush_command(&self) -> &'static str {
        "postqueue -f"
    }
}

struct Exim;

impl MailServer for Exim {
    fn name(&self) -> &'static str {
        "exim"
    }
    fn log(&self) -> &'static str {
        EXIM_LOG
    }
    // `2026-12-02 14:00:00 1tAbCd-000123-Xy => helpdesk <helpdesk@example.com> R=… T=ticketgate_pipe`
    // (`==` deferred, `**` failed)
    fn verdict(&self, line: &str) -> Option<(String, Status)> {
        let mut words = line.split_whitespace().skip(2);
        let id = words.next()?;
        let status = match words.next()? {
            "=>" => Status::Delivered,
            "==" => Status::Deferred,
            "**" => Status::Bounced,
            _ => return None,
        };
        if !line.contains("T=ticketgate_pipe") {
            return None;
        }
        Some((id.to_owned(), status))
    }
    fn flush_command(&self) -> &'static str {
        "exim4 -qff"
    }
}

// ---------------------------------------------------------------- ticketgate

/// The binary where the mail server's user can run it, and the README's set-up.
fn install_ticketgate(readme: &str) {
    sh(&format!(
        "rm -rf {DATA_DIR} /etc/ticketgate && install -m 755 {} /usr/local/bin/ticketgate",
        support::binary().display()
    ));
    sh_in(&repo(), &recipe(readme, "setup"));
}

/// `ticketgate serve` on the pipe's data directory, as the pipe's user (files it
/// creates stay writable for the pipe).
struct Serve {
    child: Child,
    addr: String,
}

impl Serve {
    fn start() -> Self {
        use std::os::unix::process::CommandExt as _;
        let id = |flag: &str| -> u32 {
            let out = Command::new("id")
                .args([flag, "ticketgate"])
                .output()
                .expect("id runs");
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .expect("the user ticketgate exists")
        };
        let mut child = Command::new("/usr/local/bin/ticketgate")
            .args(["serve", "--config", CONFIG, "--listen", "127.0.0.1:0"])
            .args(["--admin-listen", "127.0.0.1:0"])
            .uid(id("-u"))
            .gid(id("-g"))
            .current_dir("/")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ticketgate serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .expect("serve prints its address");
        // Keep reading what serve prints (its admin address, …): a closed pipe would
        // make its next line fail.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("serve did not start: {line:?}"))
            .to_owned();
        Self { child, addr }
    }

    async fn tickets(&self) -> Vec<Value> {
        let page: Value = support::client()
            .get(format!("http://{}/v1/tickets?limit=100", self.addr))
            .header("Authorization", support::DEMO_BEARER)
            .send()
            .await
            .expect("serve answers")
            .json()
            .await
            .expect("a page");
        page["items"].as_array().cloned().unwrap_or_default()
    }

    async fn ticket(&self, id: &str) -> Value {
        support::client()
            .get(format!("http://{}/v1/tickets/{id}", self.addr))
            .header("Authorization", support::DEMO_BEARER)
            .send()
            .await
            .expect("serve answers")
            .json()
            .await
            .expect("a ticket")
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- helpers

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn stage(name: &str) {
    eprintln!("mail_servers: {name} stage");
}

/// The fenced block after `<!-- recipe: NAME -->` in the README, exactly as written.
fn recipe(readme: &str, name: &str) -> String {
    let marker = format!("<!-- recipe: {name} -->");
    let after = readme
        .split_once(&marker)
        .unwrap_or_else(|| panic!("README.md has no {marker}"))
        .1;
    let mut lines = after.lines().skip_while(|l| l.trim().is_empty());
    let fence = lines.next().unwrap_or_default();
    assert!(
        fence.starts_with("```"),
        "{marker} is not followed by a fenced block"
    );
    lines
        .take_while(|l| !l.starts_with("```"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The customer: a local user whose mailbox receives the bounces (Exim's local
/// deliveries want a home directory).
fn customer_mailbox() {
    sh(&format!(
        "id {CUSTOMER_USER} >/dev/null 2>&1 || useradd --shell /usr/sbin/nologin {CUSTOMER_USER}
         install -d -o {CUSTOMER_USER} /home/{CUSTOMER_USER}"
    ));
}

/// Install Debian packages without questions (answers preseeded), updating the package
/// lists only when the first try fails.
fn apt_install(packages: &[&str], preseed: &str) {
    let mut debconf = Command::new("debconf-set-selections")
        .stdin(Stdio::piped())
        .spawn()
        .expect("debconf-set-selections runs");
    debconf
        .stdin
        .take()
        .expect("stdin")
        .write_all(preseed.as_bytes())
        .expect("preseed");
    assert!(debconf.wait().expect("debconf").success(), "preseeding");
    let install = format!(
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
           -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold {} >/tmp/ticketgate-apt.log 2>&1",
        packages.join(" ")
    );
    if run_sh(&install, None).0 {
        return;
    }
    sh("DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1 || true");
    if !run_sh(&install, None).0 {
        panic!(
            "apt-get install {} failed:\n{}",
            packages.join(" "),
            std::fs::read_to_string("/tmp/ticketgate-apt.log").unwrap_or_default()
        );
    }
}

fn sh(script: &str) {
    let (ok, out) = run_sh(script, None);
    assert!(ok, "failed: {script}\n{out}");
}

fn sh_in(dir: &Path, script: &str) {
    let (ok, out) = run_sh(script, Some(dir));
    assert!(ok, "failed in {}: {script}\n{out}", dir.display());
}

fn run_sh(script: &str, dir: Option<&Path>) -> (bool, String) {
    let mut command = Command::new("sh");
    command.args(["-ec", script]);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let out = command.output().expect("sh runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn file_len(path: &str) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn read_from(path: &str, offset: u64) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    let start = (offset as usize).min(bytes.len());
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

fn wait_for_file_containing(path: &str, needle: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        // A bounce returns the junk it bounced: not UTF-8.
        let text = String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned();
        if text.contains(needle) || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
