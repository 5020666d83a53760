//! TLS end to end, with certificates made here (rcgen): HTTPS and HTTP/2 over ALPN on
//! both listeners; a certificate swapped on SIGHUP, seen by new connections while an
//! open one keeps working, and a broken new one refused with the old one kept;
//! consumers identified by a verified client certificate (and refused in their
//! dialect's words without one); and upstreams over TLS with a private CA and a client
//! certificate.

mod support;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::{Gateway, canonical_config, forwarding_config, serving_config};

struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        Self {
            issuer: CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate and its key, in PEM, and the certificate's DER.
    fn issue(&self, cn: &str, sans: &[&str], server: bool) -> (String, String, Vec<u8>) {
        let mut p =
            CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![if server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem(), cert.der().to_vec())
    }
}

/// Write `name.crt` and `name.key` under `dir`.
fn write_pair(dir: &Path, name: &str, cert: &str, key: &str) -> (PathBuf, PathBuf) {
    let (c, k) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&c, cert).unwrap();
    std::fs::write(&k, key).unwrap();
    (c, k)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A client that trusts only `ca_pem`, optionally presenting a client certificate.
fn https_client(ca_pem: &str, identity: Option<(&str, &str)>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .tls_info(true)
        .tls_certs_only(vec![
            reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap(),
        ]);
    if let Some((cert, key)) = identity {
        b = b.identity(reqwest::Identity::from_pem(format!("{cert}\n{key}").as_bytes()).unwrap());
    }
    b.build().unwrap()
}

fn peer_cert(resp: &reqwest::Response) -> Option<Vec<u8>> {
    resp.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .map(<[u8]>::to_vec)
}

fn toml_path(p: &Path) -> String {
    p.display().to_string().replace('\\', "/")
}

fn sighup(g: &Gateway) {
    let status = std::process::Command::new("kill")
        .arg("-HUP")
        .arg(g.child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn https_with_h2_alpn_and_a_certificate_swapped_on_sighup_without_dropping_connections() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = Ca::new("ticketgate test CA");
    let sans = ["localhost", "127.0.0.1"];
    let (cert1, key1, der1) = ca.issue("first", &sans, true);
    let (cert2, key2, der2) = ca.issue("second", &sans, true);
    let (cert, key) = write_pair(tmp.path(), "server", &cert1, &key1);
    let config = canonical_config(&format!(
        "[server]\ntls = {{ cert = \"{}\", key = \"{}\" }}\n",
        toml_path(&cert),
        toml_path(&key)
    ));
    let g = Gateway::start_logged(&config);
    let https = |path: &str| format!("https://{}{path}", g.addr);

    // HTTP/2 over ALPN, with the first certificate.
    let old = https_client(&ca.pem(), None);
    let resp = old
        .post(https("/v1/tickets"))
        .bearer_auth("demo-key")
        .json(
            &json!({"subject": "over TLS", "body": "b", "requester": {"email": "ann@example.com"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(
        resp.version(),
        reqwest::Version::HTTP_2,
        "h2 chosen by ALPN"
    );
    assert_eq!(peer_cert(&resp).as_deref(), Some(der1.as_slice()));
    println!("HTTPS: 201 over {:?}", resp.version());
    // HTTP/1.1 still works for a client that offers only it.
    let h1 = reqwest::Client::builder()
        .http1_only()
        .tls_certs_only(vec![
            reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap(),
        ])
        .build()
        .unwrap();
    let resp = h1.get(https("/healthz")).send().await.unwrap();
    assert_eq!(
        (resp.status().as_u16(), resp.version()),
        (200, reqwest::Version::HTTP_11)
    );
    // The admin listener is HTTPS too.
    let resp = old
        .get(format!("https://{}/metrics", g.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Plain HTTP to the TLS port gets no answer.
    assert!(
        support::client()
            .get(g.url("/healthz"))
            .timeout(Duration::from_secs(3))
            .send()
            .await
            .is_err()
    );
    // A client that does not trust the CA does not get in.
    assert!(reqwest::get(https("/healthz")).await.is_err());

    // Swap the files and SIGHUP: new connections see the second certificate.
    write_pair(tmp.path(), "server", &cert2, &key2);
    sighup(&g);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let fresh = https_client(&ca.pem(), None);
        let resp = fresh.get(https("/healthz")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        if peer_cert(&resp).as_deref() == Some(der2.as_slice()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The connection opened before the swap is still up, on the first certificate.
    let resp = old
        .get(https("/v1/tickets?limit=1"))
        .bearer_auth("demo-key")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        200,
        "the old keep-alive connection keeps working"
    );
    assert_eq!(
        peer_cert(&resp).as_deref(),
        Some(der1.as_slice()),
        "served on the connection opened before the swap"
    );
    println!("SIGHUP: new connections get the new certificate, the old connection lives on");

    // A broken new certificate: refused, logged, the running one stays.
    std::fs::write(
        &cert,
        "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    sighup(&g);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !g.log().contains("NOT reloaded") {
        assert!(
            Instant::now() < deadline,
            "no log line about the refused certificate:\n{}",
            g.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let resp = https_client(&ca.pem(), None)
        .get(https("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(peer_cert(&resp).as_deref(), Some(der2.as_slice()));
    let log = g.log();
    let line = log.lines().find(|l| l.contains("NOT reloaded")).unwrap();
    assert!(
        line.contains("server.crt"),
        "the log says which file: {line}"
    );
    assert!(!log.contains("PRIVATE KEY"), "no key material in the log");
}

#[tokio::test]
async fn a_verified_client_certificate_is_a_consumers_credential_in_its_dialect() {
    let tmp = tempfile::tempdir().unwrap();
    let server_ca = Ca::new("server CA");
    let clients_ca = Ca::new("clients CA");
    let rogue_ca = Ca::new("rogue CA");
    let (sc, sk, _) = server_ca.issue("gateway", &["127.0.0.1"], true);
    let (cert, key) = write_pair(tmp.path(), "server", &sc, &sk);
    let client_ca = write(tmp.path(), "clients.pem", &clients_ca.pem());
    let config = format!(
        r#"{}
[server]
tls = {{ cert = "{}", key = "{}", client_ca = "{}" }}

[[consumers]]
name = "machine"
tls_subject = "CN=machine-1"
permissions = ["create", "read"]

[[consumers]]
name = "bound"
bearer_key = "bound-key"
tls_subject = "DNS:bound.example"
permissions = ["create", "read"]
"#,
        serving_config(""),
        toml_path(&cert),
        toml_path(&key),
        toml_path(&client_ca)
    );
    let g = Gateway::start(&config);
    let https = |path: &str| format!("https://{}{path}", g.addr);
    let ticket = json!({"subject": "by certificate", "body": "b", "requester": {"email": "ann@example.com"}});
    let ost = json!({"name": "Ann", "email": "ann@example.com", "subject": "by certificate", "message": "b"});

    let (mc, mk, _) = clients_ca.issue("machine-1", &[], false);
    let machine = https_client(&server_ca.pem(), Some((&mc, &mk)));
    let resp = machine
        .post(https("/v1/tickets"))
        .json(&ticket)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "canonical create by certificate");
    let resp = machine
        .post(https("/api/tickets.json"))
        .json(&ost)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "osTicket create by certificate");

    // The same name from another CA, another name from the right CA, no certificate:
    // each refused as a missing credential, in the dialect's own words.
    let (rc, rk, _) = rogue_ca.issue("machine-1", &[], false);
    let (oc, ok, _) = clients_ca.issue("machine-2", &[], false);
    for (what, c) in [
        (
            "a rogue CA",
            https_client(&server_ca.pem(), Some((&rc, &rk))),
        ),
        (
            "another name",
            https_client(&server_ca.pem(), Some((&oc, &ok))),
        ),
        ("no certificate", https_client(&server_ca.pem(), None)),
    ] {
        let resp = c
            .post(https("/v1/tickets"))
            .json(&ticket)
            .send()
            .await
            .unwrap();
        let problem = support::problem(resp, 401).await;
        println!("{what}: canonical 401 {}", problem["detail"]);
        let resp = c
            .post(https("/api/tickets.json"))
            .json(&ost)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{what}: osTicket");
        assert_eq!(
            resp.text().await.unwrap(),
            "Valid API key required",
            "{what}"
        );
    }

    // A key bound to a certificate works only with it.
    let resp = https_client(&server_ca.pem(), None)
        .post(https("/v1/tickets"))
        .bearer_auth("bound-key")
        .json(&ticket)
        .send()
        .await
        .unwrap();
    let problem = support::problem(resp, 401).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("client certificate")
    );
    let (bc, bk, _) = clients_ca.issue("anything", &["bound.example"], false);
    let resp = https_client(&server_ca.pem(), Some((&bc, &bk)))
        .post(https("/v1/tickets"))
        .bearer_auth("bound-key")
        .json(&ticket)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "the bound key with its certificate");
    // Keys of consumers without a certificate work as before.
    let resp = https_client(&server_ca.pem(), None)
        .post(https("/v1/tickets"))
        .bearer_auth("demo-key")
        .json(&ticket)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
}

#[tokio::test]
async fn upstreams_over_tls_with_a_private_ca_and_a_client_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let server_ca = Ca::new("central CA");
    let clients_ca = Ca::new("edge clients CA");
    let (sc, sk, _) = server_ca.issue("central", &["127.0.0.1"], true);
    let (cert, key) = write_pair(tmp.path(), "central", &sc, &sk);
    let client_ca = write(tmp.path(), "clients.pem", &clients_ca.pem());
    let ca_file = write(tmp.path(), "central-ca.pem", &server_ca.pem());
    let (ec, ek, _) = clients_ca.issue("edge-b", &[], false);
    let (edge_cert, edge_key) = write_pair(tmp.path(), "edge", &ec, &ek);
    // Gateway A: HTTPS, and its consumer for B accepts B's key only with B's certificate.
    let a = Gateway::start(&serving_config(&format!(
        r#"
[server]
tls = {{ cert = "{}", key = "{}", client_ca = "{}" }}

[[consumers]]
name = "edge"
bearer_key = "edge-key"
osticket_key = "edge-ost-key"
tls_subject = "CN=edge-b"
permissions = ["create", "read", "update", "search", "delete", "stats", "subtickets"]
"#,
        toml_path(&cert),
        toml_path(&key),
        toml_path(&client_ca)
    )));
    let tls_full = format!(
        "tls = {{ ca = \"{}\", cert = \"{}\", key = \"{}\" }}",
        toml_path(&ca_file),
        toml_path(&edge_cert),
        toml_path(&edge_key)
    );
    // Gateway B: a chained ticketgate and an osTicket (plugin) upstream over TLS with
    // the private CA and B's certificate; the same without the CA; and with the CA
    // but without a certificate.
    let b = Gateway::start(&forwarding_config(
        &format!(
            "kind = \"ticketgate\"\nurl = \"https://{}/v1\"\nbearer_key = \"edge-key\"\n{tls_full}\n",
            a.addr
        ),
        &format!(
            r#"
[upstreams.ost]
kind = "osticket"
url = "https://{a}"
api_key = "edge-ost-key"
mode = "plugin"
{tls_full}

[upstreams.noca]
kind = "ticketgate"
url = "https://{a}/v1"
bearer_key = "edge-key"

[upstreams.nocert]
kind = "ticketgate"
url = "https://{a}/v1"
bearer_key = "edge-key"
tls = {{ ca = "{ca}" }}

[[consumers]]
name = "via-ost"
bearer_key = "via-ost"
upstream = "ost"
permissions = ["create", "read", "search"]

[[consumers]]
name = "via-noca"
bearer_key = "via-noca"
upstream = "noca"
permissions = ["create", "read", "search"]

[[consumers]]
name = "via-nocert"
bearer_key = "via-nocert"
upstream = "nocert"
permissions = ["create", "read", "search"]
"#,
            a = a.addr,
            ca = toml_path(&ca_file)
        ),
    ));
    let c = support::client();
    let ticket = json!({"subject": "edge to central over TLS", "body": "b", "requester": {"name": "Ann", "email": "ann@example.com"}});
    for key in ["demo-key", "via-ost"] {
        let resp = c
            .post(b.url("/v1/tickets"))
            .bearer_auth(key)
            .json(&ticket)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201, "create through {key}");
        let t: serde_json::Value = resp.json().await.unwrap();
        let resp = c
            .get(b.url(&format!("/v1/tickets/{}", t["id"].as_str().unwrap())))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "read back through {key}");
    }

    // Without the private CA the certificate is not trusted: the upstream is
    // unavailable (a retryable 502 for a read), and a create is queued, not lost.
    let resp = c
        .get(b.url("/v1/tickets?limit=1"))
        .bearer_auth("via-noca")
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    assert!(status == 502 || status == 503, "no CA: {status}");
    let problem = support::problem(resp, status).await;
    assert_eq!(
        problem["retryable"], true,
        "unavailable, not refused: {problem}"
    );
    assert!(
        problem["detail"].as_str().unwrap().contains("TLS"),
        "{problem}"
    );
    println!("no CA: read {status} {problem}");
    let resp = c
        .post(b.url("/v1/tickets"))
        .bearer_auth("via-noca")
        .json(&ticket)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        202,
        "queued while the upstream cannot be trusted"
    );

    // With the CA but without the client certificate, A refuses B's key: a permanent
    // refusal, never queued.
    let resp = c
        .post(b.url("/v1/tickets"))
        .bearer_auth("via-nocert")
        .json(&ticket)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let problem: serde_json::Value = resp.json().await.unwrap();
    println!("no client certificate: {status} {problem}");
    assert!(
        status == 502 || status == 401,
        "refused, not queued: {status}"
    );
    assert_eq!(problem["retryable"], false);
}

#[test]
fn check_reads_the_certificate_files_as_serve_would() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = Ca::new("check CA");
    let (c, k, _) = ca.issue("gateway", &["127.0.0.1"], true);
    let (cert, key) = write_pair(tmp.path(), "server", &c, &k);
    let config = |cert: &Path| {
        canonical_config(&format!(
            "[server]\ntls = {{ cert = \"{}\", key = \"{}\" }}\n",
            toml_path(cert),
            toml_path(&key)
        ))
    };
    let good = write(tmp.path(), "good.toml", &config(&cert));
    let (ok, out) = support::check_config(&good, &[]);
    assert!(ok, "{out}");
    let bad = write(
        tmp.path(),
        "bad.toml",
        &config(&tmp.path().join("missing.crt")),
    );
    let (ok, out) = support::check_config(&bad, &[]);
    assert!(!ok, "a missing certificate is an error");
    assert!(
        out.contains("server.tls.cert") && out.contains("missing.crt"),
        "{out}"
    );
}
