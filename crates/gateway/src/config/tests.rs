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
    assert!(!mail.has_http_credential(), "{mail:?}");
    for key in [
        "bearer_key",
        "osticket_key",
        "itsmng_user_token",
        "itsmng_login",
        "jwt_subject",
        "rt_token",
    ] {
        assert!(mail.value(key).is_none(), "{key}");
    }
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
        "kind = \"rt\"\nurl = \"http://127.0.0.1:9\"\ntoken = \"t\"\nqueue = \"General\"",
    ] {
        let text = format!(
            "{MINIMAL}\n[upstreams.far]\n{kind}\nmax_response_bytes = 1234\n\n[routing]\ndefault = \"far\"\n"
        );
        let c = Config::parse(&text, &no_env).unwrap_or_else(|e| panic!("{kind}: {e}"));
        let got = match &c.upstreams["far"].kind {
            UpstreamKind::Ticketgate(o) => o.max_response_bytes,
            k => max_response_bytes(k),
        };
        assert_eq!(got, 1234, "{kind}");
        let default =
            Config::parse(&text.replace("max_response_bytes = 1234\n", ""), &no_env).unwrap();
        let got = match &default.upstreams["far"].kind {
            UpstreamKind::Ticketgate(o) => o.max_response_bytes,
            k => max_response_bytes(k),
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
    // Mail keys: 400 days by default, 0 keeps them, a negative number is refused.
    assert_eq!(c.retention.mail().map(|d| d.as_secs()), Some(400 * 86_400));
    let keep = Config::parse("[retention]\nmail_days = 0\n", &|_| None).unwrap();
    assert_eq!(keep.retention.mail(), None);
    let e = Config::parse("[retention]\nmail_days = -1\n", &|_| None).unwrap_err();
    assert!(e.to_string().contains("retention.mail_days"), "{e}");
}

#[test]
fn tls_settings_parse_and_a_certificate_subject_needs_a_client_ca() {
    let with_tls = format!(
        "[server]\ntls = {{ cert = \"/etc/tg/cert.pem\", key = \"/etc/tg/key.pem\", client_ca = \"/etc/tg/clients.pem\" }}\n{MINIMAL}tls_subject = \"CN=machine-1\"\n\
         [upstreams.central]\nkind = \"ticketgate\"\nurl = \"https://central/v1\"\nbearer_key = \"k\"\n\
         tls = {{ ca = \"/etc/tg/central-ca.pem\", cert = \"/etc/tg/edge.pem\", key = \"/etc/tg/edge.key\" }}\n\
         [upstreams.embedded]\nkind = \"embedded\"\n"
    );
    let c = Config::parse(&with_tls, &no_env).unwrap();
    let tls = c.server.tls.as_ref().unwrap();
    assert_eq!(
        tls.client_ca.as_deref(),
        Some(Path::new("/etc/tg/clients.pem"))
    );
    assert_eq!(c.consumers[0].tls_subject.as_deref(), Some("CN=machine-1"));
    match &c.upstreams["central"].kind {
        UpstreamKind::Ticketgate(r) => {
            assert_eq!(
                r.tls.as_ref().and_then(|t| t.ca.as_deref()),
                Some(Path::new("/etc/tg/central-ca.pem"))
            )
        }
        _ => panic!("a ticketgate upstream"),
    }
    let e = Config::parse(
        &format!("{MINIMAL}tls_subject = \"CN=machine-1\"\n"),
        &no_env,
    )
    .unwrap_err();
    assert!(e.contains("server.tls.client_ca"), "{e}");
    let e = Config::parse(
        &format!("[server]\ntls = {{ cert = \"c\", key = \"k\", colour = \"x\" }}\n{MINIMAL}"),
        &no_env,
    )
    .unwrap_err();
    assert!(e.contains("colour"), "{e}");
}

#[test]
fn the_state_backend_is_sqlite_unless_postgres_is_chosen_with_a_url() {
    let c = Config::parse(MINIMAL, &no_env).unwrap();
    assert_eq!(c.state.backend, StateBackend::Sqlite);
    assert!(c.state.postgres().is_none());

    let env = |name: &str| {
        (name == "TICKETGATE_POSTGRES_URL").then(|| "postgres://tg:s3cret@db:5432/tg".to_owned())
    };
    let pg = format!(
        "{MINIMAL}\n[state]\nbackend = \"postgres\"\nurl = \"${{TICKETGATE_POSTGRES_URL}}\"\npool_size = 8\nlease_secs = 30\n"
    );
    let c = Config::parse(&pg, &env).unwrap();
    let options = c.state.postgres().expect("postgres options");
    assert_eq!(options.pool_size, 8);
    assert_eq!(options.lease, std::time::Duration::from_secs(30));
    let shown = format!("{:?} {:?}", c.state, options);
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(c.warnings().is_empty(), "{:?}", c.warnings());

    // A missing variable is named; a missing URL, a bad one, a URL without the backend
    // and a zero pool are refused with the key.
    let e = Config::parse(&pg, &no_env).unwrap_err();
    assert!(e.contains("TICKETGATE_POSTGRES_URL"), "{e}");
    let e = Config::parse(
        &format!("{MINIMAL}\n[state]\nbackend = \"postgres\"\n"),
        &no_env,
    )
    .unwrap_err();
    assert!(e.contains("state.url") && e.contains("line 9"), "{e}");
    let e = Config::parse(
        &format!(
            "{MINIMAL}\n[state]\nbackend = \"postgres\"\nurl = \"postgres://u:s3cret@h:port/d\"\n"
        ),
        &no_env,
    )
    .unwrap_err();
    assert!(e.contains("state.url") && !e.contains("s3cret"), "{e}");
    let e = Config::parse(
        &format!("{MINIMAL}\n[state]\nurl = \"postgres://h/d\"\n"),
        &no_env,
    )
    .unwrap_err();
    assert!(e.contains("only used with"), "{e}");
    let e = Config::parse(
        &format!("{pg}pool_size = 0\n").replace("pool_size = 8\n", ""),
        &env,
    )
    .unwrap_err();
    assert!(e.contains("state.pool_size"), "{e}");
    let e = Config::parse(
        &format!("{MINIMAL}\n[state]\nbackend = \"mysql\"\n"),
        &no_env,
    )
    .unwrap_err();
    assert!(e.contains("mysql"), "{e}");
    // A lease shorter than an upstream call is warned about.
    let short = pg.replace("lease_secs = 30", "lease_secs = 5");
    let c = Config::parse(&short, &env).unwrap();
    assert!(
        c.warnings().iter().any(|w| w.contains("state.lease_secs")),
        "{:?}",
        c.warnings()
    );
}

/// A vendor upstream's `max_response_bytes`, whichever vendor it is.
fn max_response_bytes(kind: &UpstreamKind) -> usize {
    use crate::dialects::*;
    kind.vendor_config::<osticket::ClientConfig>()
        .map(|o| o.max_response_bytes)
        .or_else(|| {
            kind.vendor_config::<itsmng::ClientConfig>()
                .map(|o| o.max_response_bytes)
        })
        .or_else(|| {
            kind.vendor_config::<ticketsapi::ClientConfig>()
                .map(|o| o.max_response_bytes)
        })
        .or_else(|| {
            kind.vendor_config::<ticketgate_rt::ClientConfig>()
                .map(|o| o.max_response_bytes)
        })
        .unwrap_or_else(|| panic!("a vendor upstream: {kind:?}"))
}

#[test]
fn the_registry_names_every_dialect_and_upstream_kind_in_its_errors() {
    let e = Config::parse("[dialects.foo]\nprefix = \"/x\"\n", &no_env).unwrap_err();
    assert!(e.contains("line 1, column 11"), "{e}");
    assert!(
        e.contains("unknown field `foo`, expected one of `canonical`, `osticket`, `itsmng`, `ticketsapi`, `rt`"),
        "{e}"
    );
    let e = Config::parse("[upstreams.embedded]\nkind = \"foo\"\n", &no_env).unwrap_err();
    assert!(
        e.contains("unknown variant `foo`, expected one of `embedded`, `ticketgate`, `osticket`, `itsmng`, `ticketsapi`, `rt`"),
        "{e}"
    );
}

#[test]
fn a_vendor_table_reports_the_line_and_key_of_a_mistake() {
    let e = Config::parse("[dialects.rt]\nprefix = \"/REST\"\nbogus = 1\n", &no_env).unwrap_err();
    assert!(e.contains("line 3, column 1"), "{e}");
    assert!(e.contains("unknown field `bogus`"), "{e}");
    let e = Config::parse("[dialects.rt]\ndefault_queue = \" \"\n", &no_env).unwrap_err();
    assert!(
        e.starts_with("dialects.rt.default_queue must not be empty"),
        "{e}"
    );
    let e = Config::parse("[dialects.rt]\nmail_consumer = \"nobody\"\n", &no_env).unwrap_err();
    assert_eq!(
        e,
        "dialects.rt.mail_consumer names consumer \"nobody\", which is not defined (line 2)"
    );
    let e = Config::parse(
        "[upstreams.embedded]\nkind = \"rt\"\nurl = \"http://x\"\ntoken = \"t\"\nbogus = 2\n",
        &no_env,
    )
    .unwrap_err();
    assert!(
        e.contains("unknown field `bogus`, expected one of `url`"),
        "{e}"
    );
}

/// Every key name the configuration has always had: the contract of `gateway.toml`.
const EVERY_KEY: &str = r#"
[[consumers]]
name = "all"
bearer_key = "k-bearer"
osticket_key = "k-osticket"
itsmng_user_token = "k-user-token"
itsmng_app_token = "k-app-token"
itsmng_login = "login"
itsmng_password = "k-password"
jwt_subject = "subject"
rt_token = "k-rt"
permissions = ["read"]
"#;

#[test]
fn every_consumer_key_of_the_vendors_is_read_and_kept_by_kind() {
    let c = Config::parse(EVERY_KEY, &no_env).unwrap();
    let all = &c.consumers[0];
    let mut tokens: Vec<_> = all.tokens().collect();
    tokens.sort();
    assert_eq!(
        tokens,
        [
            ("bearer_key", "k-bearer"),
            ("itsmng_user_token", "k-user-token"),
            ("osticket_key", "k-osticket"),
            ("rt_token", "k-rt"),
        ]
    );
    assert_eq!(all.value("itsmng_app_token"), Some("k-app-token"));
    assert_eq!(all.value("jwt_subject"), Some("subject"));
    assert_eq!(all.value("nonsense"), None);
    let shown = format!("{all:?}");
    assert!(!shown.contains("k-"), "{shown}");
    assert!(
        shown.contains("login") && shown.contains("subject"),
        "{shown}"
    );
}

#[test]
fn a_consumer_key_no_vendor_declares_is_refused_with_its_name_and_line() {
    let bad = EVERY_KEY.replace("rt_token", "rt_tokn");
    let e = Config::parse(&bad, &no_env).unwrap_err();
    assert!(
        e.contains("unknown field `rt_tokn`, expected one of `name`, "),
        "{e}"
    );
    assert!(e.contains("`rt_token`"), "{e}");
    assert!(e.contains("line 11"), "{e}");
}

#[test]
fn a_vendor_key_of_the_wrong_type_names_its_line() {
    let bad = EVERY_KEY.replace("\"k-rt\"", "3");
    let e = Config::parse(&bad, &no_env).unwrap_err();
    assert!(
        e.contains("line 11") && e.contains("expected a string"),
        "{e}"
    );
}

#[test]
fn every_field_of_a_consumer_is_read() {
    let text = "[[consumers]]\nname = \"c\"\nbearer_key = \"k\"\ntls_subject = \"CN=c\"\npermissions = [\"read\"]\nnetworks = [\"10.0.0.0/8\"]\nquota = { read = { per_second = 1.0, burst = 1 } }\nupstream = \"embedded\"\n";
    // tls_subject needs a client CA; everything before that check has been read.
    let e = Config::parse(text, &no_env).unwrap_err();
    assert!(e.contains("needs server.tls.client_ca"), "{e}");
    let c = Config::parse(&text.replace("tls_subject = \"CN=c\"\n", ""), &no_env).unwrap();
    let c = &c.consumers[0];
    assert_eq!(c.bearer_key.as_deref(), Some("k"));
    assert_eq!(c.networks.len(), 1);
    assert_eq!(c.quota.read.burst, 1);
    assert_eq!(c.upstream.as_deref(), Some("embedded"));
    assert!(super::CONSUMER_FIELDS.len() == 7);
}

#[test]
fn a_consumer_needs_a_name_and_permissions() {
    let e = Config::parse("[[consumers]]\nname = \"c\"\n", &no_env).unwrap_err();
    assert!(e.contains("missing field `permissions`"), "{e}");
    let e = Config::parse("[[consumers]]\npermissions = []\n", &no_env).unwrap_err();
    assert!(e.contains("missing field `name`"), "{e}");
}

#[test]
fn a_token_or_login_shared_by_two_consumers_is_refused() {
    for (key, value) in [
        ("bearer_key", "\"k\""),
        ("osticket_key", "\"k\""),
        ("itsmng_user_token", "\"k\""),
        ("rt_token", "\"k\""),
        ("jwt_subject", "\"s\""),
        ("itsmng_login", "\"l\""),
    ] {
        let text = format!(
            "[[consumers]]\nname = \"a\"\n{key} = {value}\npermissions = [\"read\"]\n\
             [[consumers]]\nname = \"b\"\n{key} = {value}\npermissions = [\"read\"]\n"
        );
        let e = Config::parse(&text, &no_env).unwrap_err();
        assert!(
            e.contains(&format!(
                "consumers.{key}: two consumers share the same value"
            )),
            "{key}: {e}"
        );
        assert!(!e.contains("\"k\""), "{e}");
    }
    // The same value under two keys, or a secret shared by two consumers, is fine.
    Config::parse(
        "[[consumers]]\nname = \"a\"\nrt_token = \"k\"\nitsmng_app_token = \"app\"\npermissions = [\"read\"]\n\
         [[consumers]]\nname = \"b\"\nosticket_key = \"k\"\nitsmng_app_token = \"app\"\npermissions = [\"read\"]\n",
        &no_env,
    )
    .unwrap();
}
