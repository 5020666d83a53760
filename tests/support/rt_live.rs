//! What a live Request Tracker stored, read straight from its own REST 2.0 API with
//! the token `../shared/rt-live/up.sh` made: the judge of the RT client face, never
//! ticketgate's answers. Attachments are read from `GET /attachment/N`, whose
//! `Content` is base64, so files come back byte for byte.

use base64::Engine as _;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

/// One RT ticket as RT keeps it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub id: u64,
    pub subject: String,
    pub status: String,
    pub queue: String,
    pub owner: String,
    pub priority: String,
    pub requestor_email: String,
    pub requestor_name: String,
    pub cc: Vec<String>,
    /// Custom field name → values.
    pub custom_fields: HashMap<String, Vec<String>>,
    /// The first message: `(content type, text)`.
    pub body_type: String,
    pub body: String,
    /// The first message's files: `(name, media type, bytes)`.
    pub files: Vec<(String, String, Vec<u8>)>,
    /// Correspondence and comments after the first message: `(Type, Creator, text, files)`.
    pub updates: Vec<Update>,
}

#[derive(Debug, Clone)]
pub struct Update {
    pub kind: String,
    pub creator: String,
    pub text: String,
    pub files: Vec<(String, Vec<u8>)>,
}

/// RT's REST 2.0, as root's token.
pub struct Rt {
    url: String,
    token: String,
    http: reqwest::Client,
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Object(o) => o.get("id").map(text).unwrap_or_default(),
        _ => String::new(),
    }
}

impl Rt {
    pub fn new(env: &HashMap<String, String>) -> Self {
        Self {
            url: format!("{}/REST/2.0", env["RT_URL"]),
            token: env["RT_TOKEN"].clone(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("a client"),
        }
    }

    /// GET `path` (with `query`), which must answer 200 with JSON.
    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let resp = self
            .http
            .get(format!("{}{path}", self.url))
            .header("Authorization", format!("token {}", self.token))
            .query(query)
            .send()
            .await
            .expect("RT answers");
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        assert_eq!(status, 200, "RT GET {path}: {body}");
        serde_json::from_str(&body).expect("RT answers JSON")
    }

    /// The tickets `id` is a member of (RT's `MemberOf` links: its parents).
    pub async fn parents(&self, id: u64) -> Vec<u64> {
        let t = self.get(&format!("/ticket/{id}"), &[]).await;
        t["_hyperlinks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|h| h["ref"] == "parent")
            .filter_map(|h| text(&h["id"]).parse().ok())
            .collect()
    }

    /// Every ticket id with exactly this subject (deleted ones included).
    pub async fn ids_with_subject(&self, subject: &str) -> Vec<u64> {
        let quoted = subject.replace('\\', "\\\\").replace('\'', "\\'");
        let v = self
            .get(
                "/tickets",
                &[
                    ("query", &format!("Subject = '{quoted}'")),
                    ("per_page", "100"),
                ],
            )
            .await;
        v["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|i| text(&i["id"]).parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The one ticket with this subject.
    pub async fn ticket(&self, subject: &str) -> Stored {
        let ids = self.ids_with_subject(subject).await;
        assert_eq!(ids.len(), 1, "one RT ticket {subject:?}: {ids:?}");
        self.stored(ids[0]).await
    }

    async fn parts(&self, transaction: &str) -> Vec<(String, String, Vec<u8>)> {
        let v = self
            .get(
                &format!("/transaction/{transaction}/attachments"),
                &[("fields", "Filename,ContentType"), ("per_page", "100")],
            )
            .await;
        let mut out = Vec::new();
        for p in v["items"].as_array().into_iter().flatten() {
            let ct = text(&p["ContentType"]).to_ascii_lowercase();
            if ct.starts_with("multipart/") {
                continue;
            }
            let a = self
                .get(&format!("/attachment/{}", text(&p["id"])), &[])
                .await;
            let b64: String = text(&a["Content"]).split_whitespace().collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .expect("attachment content is base64");
            out.push((text(&p["Filename"]), ct, bytes));
        }
        out
    }

    pub async fn stored(&self, id: u64) -> Stored {
        let t = self.get(&format!("/ticket/{id}"), &[]).await;
        let requestor = t["Requestor"]
            .as_array()
            .and_then(|a| a.first())
            .map(text)
            .unwrap_or_default();
        let (requestor_email, requestor_name) = if requestor.is_empty() {
            (String::new(), String::new())
        } else {
            let u = self.get(&format!("/user/{requestor}"), &[]).await;
            (text(&u["EmailAddress"]), text(&u["RealName"]))
        };
        let queue = self
            .get(&format!("/queue/{}", text(&t["Queue"])), &[])
            .await;
        let history = self
            .get(
                &format!("/ticket/{id}/history"),
                &[("fields", "Type,Creator"), ("per_page", "100")],
            )
            .await;
        let mut stored = Stored {
            id,
            subject: text(&t["Subject"]),
            status: text(&t["Status"]),
            queue: text(&queue["Name"]),
            owner: text(&t["Owner"]),
            priority: text(&t["Priority"]),
            requestor_email,
            requestor_name,
            cc: t["Cc"]
                .as_array()
                .map(|a| a.iter().map(text).collect())
                .unwrap_or_default(),
            custom_fields: t["CustomFields"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|cf| {
                    (
                        text(&cf["name"]),
                        cf["values"]
                            .as_array()
                            .map(|v| v.iter().map(text).collect())
                            .unwrap_or_default(),
                    )
                })
                .collect(),
            body_type: String::new(),
            body: String::new(),
            files: Vec::new(),
            updates: Vec::new(),
        };
        for tx in history["items"].as_array().into_iter().flatten() {
            let kind = text(&tx["Type"]);
            if !matches!(kind.as_str(), "Create" | "Correspond" | "Comment") {
                continue;
            }
            let parts = self.parts(&text(&tx["id"])).await;
            let body = parts
                .iter()
                .find(|(n, ct, _)| n.is_empty() && ct == "text/plain")
                .or_else(|| {
                    parts
                        .iter()
                        .find(|(n, ct, _)| n.is_empty() && ct == "text/html")
                })
                .map(|(_, ct, b)| (ct.clone(), String::from_utf8_lossy(b).into_owned()))
                .unwrap_or_default();
            let files: Vec<(String, String, Vec<u8>)> = parts
                .into_iter()
                .filter(|(n, _, _)| !n.is_empty())
                .collect();
            if kind == "Create" {
                stored.body_type = body.0;
                stored.body = body.1;
                stored.files = files;
            } else {
                stored.updates.push(Update {
                    kind,
                    creator: text(&tx["Creator"]),
                    text: body.1,
                    files: files.into_iter().map(|(n, _, b)| (n, b)).collect(),
                });
            }
        }
        stored
    }
}

impl Stored {
    /// The bytes of the first message's file `name`.
    pub fn file(&self, name: &str) -> &[u8] {
        &self
            .files
            .iter()
            .find(|(n, _, _)| n == name)
            .unwrap_or_else(|| panic!("{name} attached in RT: {:?}", self.files))
            .2
    }
}

/// Make sure RT has a global single-value ticket custom field `name` (RT's REST 2.0
/// can create a custom field but not apply it to queues, so RT's own Perl API does it).
pub fn ensure_custom_field(name: &str) {
    const SCRIPT: &str = r#"
use strict; use warnings;
use lib '/usr/local/share/request-tracker5/lib', '/usr/share/request-tracker5/lib';
use RT; RT::LoadConfig(); RT::Init();
my $name = shift;
my $cf = RT::CustomField->new(RT->SystemUser);
$cf->LoadByName(Name => $name, LookupType => 'RT::Queue-RT::Ticket');
unless ($cf->id) {
    my ($ok, $m) = $cf->Create(Name => $name, Type => 'FreeformSingle', LookupType => 'RT::Queue-RT::Ticket');
    die "create: $m\n" unless $ok;
}
unless ($cf->IsGlobal) {
    my ($ok, $m) = $cf->AddToObject(RT::Queue->new(RT->SystemUser));
    die "apply: $m\n" unless $ok;
}
"#;
    let out = std::process::Command::new("perl")
        .arg("-e")
        .arg(SCRIPT)
        .arg(name)
        .output()
        .expect("perl runs");
    assert!(
        out.status.success(),
        "custom field {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
