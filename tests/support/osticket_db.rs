//! What a live osTicket stored, read straight from its MariaDB (the socket in
//! `OSTICKET_DB_SOCK`): the judge of the live osTicket suites. Every value is read as
//! HEX so bodies with tabs, newlines and any byte come back exactly.

use std::collections::HashMap;
use std::process::Command;

/// One ticket as osTicket keeps it.
#[derive(Debug, Clone)]
pub struct StoredTicket {
    pub ticket_id: u64,
    pub number: String,
    pub source: String,
    pub subject: String,
    pub name: String,
    pub email: String,
    /// As osTicket normalises it: the digits, then `X` and the extension.
    pub phone: String,
    /// The first message of the thread: `(format, body)`.
    pub body_format: String,
    pub body: String,
    /// The first message's attachments: `(name, media type, bytes)`.
    pub attachments: Vec<(String, String, Vec<u8>)>,
}

/// A connection to one live osTicket's database.
pub struct OsticketDb {
    socket: String,
}

impl OsticketDb {
    pub fn new(env: &HashMap<String, String>) -> Self {
        Self {
            socket: env
                .get("OSTICKET_DB_SOCK")
                .expect("up.sh names the database socket")
                .clone(),
        }
    }

    /// Rows of hex-encoded columns, decoded.
    fn query(&self, sql: &str) -> Vec<Vec<Vec<u8>>> {
        let out = Command::new("mariadb")
            .args(["--no-defaults", "-uroot", "-N", "-B", "osticket"])
            .arg(format!("--socket={}", self.socket))
            .arg("-e")
            .arg(sql)
            .output()
            .expect("the mariadb client runs");
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.split('\t').map(unhex).collect())
            .collect()
    }

    /// The tickets whose subject is exactly `subject`.
    pub fn tickets_with_subject(&self, subject: &str) -> Vec<StoredTicket> {
        let rows = self.query(&format!(
            "SELECT HEX(CAST(t.ticket_id AS CHAR)), HEX(t.number), HEX(t.source), HEX(c.subject), \
             HEX(IFNULL(u.name, '')), HEX(IFNULL(ue.address, '')), HEX(IFNULL(uc.phone, '')) \
             FROM ost_ticket t JOIN ost_ticket__cdata c USING (ticket_id) \
             LEFT JOIN ost_user u ON u.id = t.user_id \
             LEFT JOIN ost_user_email ue ON ue.id = u.default_email_id \
             LEFT JOIN ost_user__cdata uc ON uc.user_id = u.id \
             WHERE c.subject = UNHEX('{}') ORDER BY t.ticket_id",
            hex(subject.as_bytes())
        ));
        rows.into_iter()
            .map(|r| {
                let text = |i: usize| String::from_utf8_lossy(&r[i]).into_owned();
                let ticket_id: u64 = text(0).parse().expect("a numeric ticket id");
                let (body_format, body, entry_id) = self.first_message(ticket_id);
                StoredTicket {
                    ticket_id,
                    number: text(1),
                    source: text(2),
                    subject: text(3),
                    name: text(4),
                    email: text(5),
                    phone: text(6),
                    body_format,
                    body,
                    attachments: entry_id.map(|e| self.attachments(e)).unwrap_or_default(),
                }
            })
            .collect()
    }

    /// The one ticket with this subject (fails when there are none or several).
    pub fn ticket(&self, subject: &str) -> StoredTicket {
        let mut found = self.tickets_with_subject(subject);
        assert_eq!(found.len(), 1, "exactly one ticket {subject:?} in osTicket");
        found.remove(0)
    }

    fn first_message(&self, ticket_id: u64) -> (String, String, Option<u64>) {
        let rows = self.query(&format!(
            "SELECT HEX(e.format), HEX(e.body), HEX(CAST(e.id AS CHAR)) FROM ost_thread th \
             JOIN ost_thread_entry e ON e.thread_id = th.id \
             WHERE th.object_type = 'T' AND th.object_id = {ticket_id} AND e.type = 'M' \
             ORDER BY e.id LIMIT 1"
        ));
        match rows.first() {
            Some(r) => (
                String::from_utf8_lossy(&r[0]).into_owned(),
                String::from_utf8_lossy(&r[1]).into_owned(),
                String::from_utf8_lossy(&r[2]).parse().ok(),
            ),
            None => (String::new(), String::new(), None),
        }
    }

    fn attachments(&self, entry_id: u64) -> Vec<(String, String, Vec<u8>)> {
        let files = self.query(&format!(
            "SELECT HEX(CAST(f.id AS CHAR)), HEX(f.name), HEX(f.type) FROM ost_attachment a \
             JOIN ost_file f ON f.id = a.file_id \
             WHERE a.type = 'H' AND a.object_id = {entry_id} ORDER BY a.id"
        ));
        files
            .into_iter()
            .map(|f| {
                let id = String::from_utf8_lossy(&f[0]).into_owned();
                let bytes: Vec<u8> = self
                    .query(&format!(
                        "SELECT HEX(filedata) FROM ost_file_chunk WHERE file_id = {id} \
                         ORDER BY chunk_id"
                    ))
                    .into_iter()
                    .flat_map(|r| r.into_iter().next().unwrap_or_default())
                    .collect();
                (
                    String::from_utf8_lossy(&f[1]).into_owned(),
                    String::from_utf8_lossy(&f[2]).into_owned(),
                    bytes,
                )
            })
            .collect()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    let t = text.trim();
    (0..t.len() / 2)
        .filter_map(|i| u8::from_str_radix(&t[2 * i..2 * i + 2], 16).ok())
        .collect()
}

/// A subject no other test run has used: tests share the live instance.
pub fn unique(label: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{label} {}-{nanos}", std::process::id())
}

/// A gateway mounting every dialect in front of the live osTicket's core API, its
/// `url` given WITH osTicket's `/api/` suffix, as osTicket's admin page shows it (the
/// client takes it back to the base). `[pipe]` acts as the demo consumer.
pub fn core_upstream_config(env: &HashMap<String, String>, extra: &str) -> String {
    let upstream = format!(
        "kind = \"osticket\"\nurl = \"{}/api/\"\napi_key = \"{}\"\nmode = \"core\"\n\
         connect_timeout_ms = 1000\nrequest_timeout_ms = 10000",
        env["OSTICKET_URL"], env["OSTICKET_API_KEY"]
    );
    super::forwarding_config(&upstream, &format!("[pipe]\nconsumer = \"demo\"\n{extra}"))
}

/// `ticketgate pipe` on `dir` (the gateway's data directory) with `message` on stdin:
/// (exit code, stdout, stderr).
pub fn pipe(dir: &std::path::Path, message: &[u8]) -> (i32, String, String) {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(super::binary())
        .arg("pipe")
        .arg("--config")
        .arg(dir.join("gateway.toml"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--consumer")
        .arg("demo")
        .env("TICKETGATE_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ticketgate pipe starts");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(message)
        .expect("the message is written");
    let out = child.wait_with_output().expect("pipe ends");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `ticketgate outbox ARGS…` on `dir`: (exit code, stdout).
pub fn outbox(dir: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(super::binary())
        .arg("outbox")
        .arg("--config")
        .arg(dir.join("gateway.toml"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(args)
        .output()
        .expect("ticketgate outbox runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// A raw RFC 5322 message with a text body and one attachment, CRLF line ends.
pub fn mail_with_attachment(
    from_name: &str,
    from: &str,
    subject: &str,
    body: &str,
    file_name: &str,
    file: &[u8],
) -> Vec<u8> {
    use base64::Engine as _;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let b64 = base64::engine::general_purpose::STANDARD.encode(file);
    format!(
        "From: {from_name} <{from}>\nTo: helpdesk@example.com\nSubject: {subject}\n\
         Message-ID: <{nanos}.{}@live.example>\nDate: Wed, 02 Dec 2026 10:00:00 +0000\n\
         MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n\
         --b1\nContent-Type: text/plain; charset=utf-8\n\n{body}\n\
         --b1\nContent-Type: application/octet-stream; name=\"{file_name}\"\n\
         Content-Disposition: attachment; filename=\"{file_name}\"\n\
         Content-Transfer-Encoding: base64\n\n{b64}\n--b1--\n",
        std::process::id()
    )
    .replace('\n', "\r\n")
    .into_bytes()
}
