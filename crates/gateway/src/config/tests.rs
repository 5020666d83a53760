use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

const MINIMAL: &str = r#"
[[consumers]]
name = "demo"
bearer_key = "demo-key"
permissions = ["create", "read"]
networks = ["127.0.0.0/8", "::1"]
"#;

#[test]
fn defaults_fill_everything_but_consumers() {
    let c = Config::parse(MINIMAL, &no_env).unwrap();
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.routing.default, "embedded");
    assert!(c.upstreams.contains_key("embedded"));
    assert_eq!(c.consumers[0].quota.create.burst, 50);
    assert!(c.warnings().is_empty(), "{:?}", c.warnings());
}

#[test]
fn errors_name_the_key_and_the_line() {
    let bad = MINIMAL.replace("\"read\"]", "\"read\", \"fly\"]");
    let e = Config::parse(&bad, &no_env).unwrap_err();
    assert!(e.contains("fly") && e.contains("line 5"), "{e}");
    let bad = MINIMAL.replace("::1", "::1/200");
    let e = Config::parse(&bad, &no_env).unwrap_err();
    assert!(e.contains("prefix length") && e.contains("line 6"), "{e}");
    let bad = format!("{MINIMAL}\n[routing]\ndefault = \"nowhere\"\n");
    let e = Config::parse(&bad, &no_env).unwrap_err();
    assert!(e.contains("nowhere") && e.contains("line 9"), "{e}");
    let bad = format!("{MINIMAL}colour = \"blue\"\n");
    let e = Config::parse(&bad, &no_env).unwrap_err();
    assert!(e.contains("colour"), "{e}");
}

#[test]
fn environment_variables_expand_and_missing_ones_are_named() {
    let text = MINIMAL.replace("demo-key", "${DEMO_KEY}");
    let e = Config::parse(&text, &no_env).unwrap_err();
    assert!(e.contains("DEMO_KEY") && e.contains("line 4"), "{e}");
    let c = Config::parse(&text, &|n| {
        (n == "DEMO_KEY").then(|| "s\"e\\cret".to_owned())
    })
    .unwrap();
    assert_eq!(c.consumers[0].bearer_key.as_deref(), Some("s\"e\\cret"));
    // A commented-out reference needs no variable.
    Config::parse(&format!("# url = \"${{UNSET}}\"\n{MINIMAL}"), &no_env).unwrap();
}

#[test]
fn demo_keys_beyond_loopback_are_warned_about() {
    let open = MINIMAL.replace(
        "networks = [\"127.0.0.0/8\", \"::1\"]",
        "networks = [\"0.0.0.0/0\"]",
    );
    let c = Config::parse(&open, &no_env).unwrap();
    assert!(c.warnings()[0].contains("demo key"), "{:?}", c.warnings());
}

#[test]
fn cidr_matching() {
    let net: Cidr = "10.0.0.0/8".parse().unwrap();
    assert!(net.contains("10.1.2.3".parse().unwrap()));
    assert!(!net.contains("11.0.0.1".parse().unwrap()));
    assert!(
        net.contains("::ffff:10.0.0.1".parse().unwrap()),
        "v4-mapped v6 peers match v4 nets"
    );
    let any: Cidr = "0.0.0.0/0".parse().unwrap();
    assert!(any.contains("192.0.2.1".parse().unwrap()));
    let host: Cidr = "::1".parse().unwrap();
    assert!(host.contains("::1".parse().unwrap()) && host.is_loopback_only());
}

#[test]
fn the_shipped_gateway_toml_is_valid() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../gateway.toml");
    let c = Config::load(&path).unwrap();
    assert!(c.warnings().is_empty(), "{:?}", c.warnings());
    assert!(
        c.mounts()
            .iter()
            .any(|(d, p)| *d == "canonical" && p == "/v1")
    );
}

#[test]
fn the_shipped_mail_consumer_has_no_http_credential() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../gateway.toml");
    let c = Config::load(&path).unwrap();
    assert_eq!(c.pipe.consumer.as_deref(), Some("mail"));
    let mail = c
        .consumers
        .iter()
        .find(|c| c.name == "mail")
        .expect("the README's recipes pipe with --consumer mail");
    assert!(mail.bearer_key.is_none() && mail.osticket_key.is_none());
    assert!(mail.itsmng_user_token.is_none() && mail.itsmng_login.is_none());
    assert!(mail.jwt_subject.is_none());
    assert!(mail.permissions.iter().any(|p| p.0 == Permission::Create));
}

#[test]
fn a_pipe_consumer_with_a_key_reachable_from_anywhere_is_warned_about() {
    let config = |networks: &str| {
        Config::parse(
            &format!(
                "[pipe]\nconsumer = \"mail\"\n[[consumers]]\nname = \"mail\"\nbearer_key = \"k-1234567890\"\npermissions = [\"create\"]\nnetworks = {networks}\n"
            ),
            &|_| None,
        )
        .unwrap()
    };
    let warnings = config("[]").warnings();
    assert!(
        warnings.iter().any(|w| w.contains("pipe.consumer")),
        "{warnings:?}"
    );
    assert!(config("[\"127.0.0.1/32\"]").warnings().is_empty());
}

#[test]
fn pipe_log_path_is_relative_to_the_data_directory() {
    let dir = std::path::Path::new("/var/lib/ticketgate");
    let mut pipe = PipeConfig::default();
    assert_eq!(pipe.log_path(dir), dir.join("pipe.log"));
    pipe.log_file = Some("logs/mail.log".into());
    assert_eq!(pipe.log_path(dir), dir.join("logs/mail.log"));
    pipe.log_file = Some("/var/log/ticketgate-pipe.log".into());
    assert_eq!(
        pipe.log_path(dir),
        std::path::Path::new("/var/log/ticketgate-pipe.log")
    );
}

#[test]
fn debug_output_never_shows_a_credential() {
    let config = Config::parse(
        "[[consumers]]\nname = \"c\"\nbearer_key = \"s3cret-bearer\"\nosticket_key = \"s3cret-ost\"\nitsmng_user_token = \"s3cret-tok\"\nitsmng_password = \"s3cret-pw\"\npermissions = [\"read\"]\n",
        &|_| None,
    )
    .unwrap();
    let shown = format!("{config:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("<redacted>"));
}

#[test]
fn a_demo_jwt_secret_reachable_from_anywhere_is_warned_about() {
    let config = Config::parse(
        "[dialects.ticketsapi]\njwt.hs256_secret = \"demo-jwt-secret\"\n\
         [[consumers]]\nname = \"c\"\njwt_subject = \"c\"\npermissions = [\"read\"]\n",
        &|_| None,
    )
    .unwrap();
    assert!(
        config.warnings().iter().any(|w| w.contains("demo key")),
        "{:?}",
        config.warnings()
    );
}

#[test]
fn max_response_bytes_is_a_key_of_every_remote_upstream() {
    for kind in [
        "kind = \"osticket\"\nurl = \"http://127.0.0.1:9\"\napi_key = \"k\"",
        "kind = \"itsmng\"\nurl = \"http://127.0.0.1:9/apirest.php\"\nuser_token = \"t\"",
        "kind = \"ticketsapi\"\nurl = \"http://127.0.0.1:9\"\ntoken = \"t\"",
        "kind = \"ticketgate\"\nurl = \"http://127.0.0.1:9/v1\"\nbearer_key = \"k\"",
    ] {
        let text = format!(
            "{MINIMAL}\n[upstreams.far]\n{kind}\nmax_response_bytes = 1234\n\n[routing]\ndefault = \"far\"\n"
        );
        let c = Config::parse(&text, &no_env).unwrap_or_else(|e| panic!("{kind}: {e}"));
        let got = match &c.upstreams["far"].kind {
            UpstreamKind::Osticket(o) => o.max_response_bytes,
            UpstreamKind::Itsmng(o) => o.max_response_bytes,
            UpstreamKind::Ticketsapi(o) => o.max_response_bytes,
            UpstreamKind::Ticketgate(o) => o.max_response_bytes,
            UpstreamKind::Embedded { .. } => 0,
        };
        assert_eq!(got, 1234, "{kind}");
        let default =
            Config::parse(&text.replace("max_response_bytes = 1234\n", ""), &no_env).unwrap();
        let got = match &default.upstreams["far"].kind {
            UpstreamKind::Osticket(o) => o.max_response_bytes,
            UpstreamKind::Itsmng(o) => o.max_response_bytes,
            UpstreamKind::Ticketsapi(o) => o.max_response_bytes,
            UpstreamKind::Ticketgate(o) => o.max_response_bytes,
            UpstreamKind::Embedded { .. } => 0,
        };
        assert_eq!(got, 16 * 1024 * 1024, "{kind}");
    }
}

#[test]
fn oversized_and_deeply_nested_configurations_are_refused() {
    let big = format!("{MINIMAL}\n# {}\n", "x".repeat(MAX_CONFIG_BYTES));
    let e = Config::parse(&big, &no_env).unwrap_err();
    assert!(e.contains("at most"), "{e}");
    // Nesting within the size bound is refused by the TOML parser, not by the stack.
    let deep = format!(
        "{MINIMAL}\nx = {}{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(Config::parse(&deep, &no_env).is_err());
    let deep = format!(
        "{MINIMAL}\nx = {}1{}\n",
        "{a = ".repeat(50_000),
        "}".repeat(50_000)
    );
    assert!(Config::parse(&deep, &no_env).is_err());
}

#[test]
fn edge_keys_parse_and_are_checked() {
    let c = Config::parse(
        r#"
[server]
admin_listen = "0.0.0.0:9091"
trusted_proxies = ["10.0.0.0/8", "0.0.0.0/0"]
[limits]
buffered_bytes = 33554432
[retention]
idempotency_hours = 0.5
"#,
        &|_| None,
    )
    .unwrap();
    assert_eq!(c.server.admin_listen.port(), 9091);
    assert_eq!(c.server.trusted_proxies.len(), 2);
    assert_eq!(c.retention.idempotency().as_secs(), 1800);
    assert_eq!(c.retention.delivered().as_secs(), 24 * 3600);
    let w = c.warnings();
    assert!(w.iter().any(|w| w.contains("admin_listen")), "{w:?}");
    assert!(
        w.iter().any(|w| w.contains("trusts every address")),
        "{w:?}"
    );

    // A budget smaller than a route's limit would refuse that route forever.
    let e = Config::parse("[limits]\nbuffered_bytes = 1024\n", &|_| None).unwrap_err();
    assert!(e.to_string().contains("limits.buffered_bytes"), "{e}");
    let e = Config::parse("[retention]\ndelivered_hours = 0\n", &|_| None).unwrap_err();
    assert!(e.to_string().contains("retention.delivered_hours"), "{e}");
}
