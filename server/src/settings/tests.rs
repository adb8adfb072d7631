//! The layering of the settings and their mapping onto the config types.

use super::*;
use std::ffi::OsStr;
use std::sync::Mutex;

/// Parsing reads the process's environment, which these tests set:
/// one test at a time.
static ENVIRONMENT: Mutex<()> = Mutex::new(());

/// The command line `args` with the variables `env`, and no other
/// `SESSIOND_*` variable.
fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<Cli, clap::Error> {
    let _one_at_a_time = ENVIRONMENT.lock().unwrap_or_else(|e| e.into_inner());
    let ambient: Vec<OsString> = std::env::vars_os()
        .map(|(name, _)| name)
        .filter(|name| name.to_string_lossy().starts_with("SESSIOND_"))
        .collect();
    // SAFETY: std's own reads of the environment are synchronised with
    // these writes; what is not, C code calling getenv, no test of this
    // binary runs.
    unsafe {
        for name in &ambient {
            std::env::remove_var(name);
        }
        for (name, value) in env {
            std::env::set_var(name, value);
        }
    }
    let args = std::iter::once("sessiond").chain(args.iter().copied());
    let cli = Cli::try_parse_with_defaults(args);
    for (name, _) in env {
        // SAFETY: as above.
        unsafe { std::env::remove_var(name) };
    }
    cli
}

fn flags(args: &[&str]) -> Settings {
    parse(args, &[]).unwrap().settings
}

fn file(text: &str) -> Settings {
    file_settings(Path::new("sessiond.toml"), text).unwrap()
}

fn configs(settings: Settings) -> Configs {
    settings.into_configs(None).unwrap()
}

#[test]
fn a_flag_beats_the_environment_which_beats_the_file_which_beats_the_default() {
    let path = std::env::temp_dir().join(format!("sessiond-layers-{}.toml", std::process::id()));
    let text = "max_frame = 3000\nidle_timeout = 30\nmax_connections = 3\n";
    std::fs::write(&path, text).unwrap();
    let cli = parse(
        &["--config", path.to_str().unwrap(), "--max-frame", "1000"],
        &[
            ("SESSIOND_MAX_FRAME", "2000"),
            ("SESSIOND_IDLE_TIMEOUT", "20"),
        ],
    )
    .unwrap();
    let server = configs(cli.layered().unwrap()).server;
    std::fs::remove_file(&path).unwrap();

    assert_eq!(server.max_frame, 1000, "the flag beats the variable");
    assert_eq!(
        server.idle_timeout,
        Duration::from_secs(20),
        "the variable beats the file"
    );
    assert_eq!(server.max_connections, 3, "the file beats the default");
    let default = ServerConfig::default().handshake_timeout;
    assert_eq!(server.handshake_timeout, default, "the default");
}

#[test]
fn a_later_layer_switches_a_boolean_off() {
    let on = "repair = true\nallow_unauthenticated_remote = true\ndata_dir = \"/d\"\n";
    let cli = parse(
        &["--repair=false"],
        &[("SESSIOND_ALLOW_UNAUTHENTICATED_REMOTE", "false")],
    )
    .unwrap();
    let off = configs(cli.settings.or(file(on)));
    assert!(!off.server.allow_unauthenticated_remote, "by the variable");
    assert!(!off.persist.unwrap().repair, "by the flag");

    let bare = configs(flags(&[
        "--repair",
        "--allow-unauthenticated-remote",
        "--data-dir=/d",
    ]));
    assert!(bare.server.allow_unauthenticated_remote && bare.persist.unwrap().repair);
    let spaced = configs(flags(&["--repair", "false", "--data-dir", "/d"]));
    assert!(
        !spaced.persist.unwrap().repair,
        "a value after a space counts too"
    );
    assert!(
        parse(&["--repair=1"], &[]).is_err(),
        "true or false, as in the file"
    );
}

#[test]
fn a_later_layer_switches_a_limit_off_with_zero() {
    let limited = file("memory_limit = 100\nmax_sessions_per_owner = 2\nsession_lifetime = 60\n");
    assert_eq!(
        configs(file("memory_limit = 100")).store.memory_limit,
        Some(100)
    );
    let off = flags(&[
        "--memory-limit=0",
        "--max-sessions-per-owner=0",
        "--session-lifetime=0",
    ]);
    let store = configs(off.or(limited)).store;
    assert_eq!(store.memory_limit, None);
    assert_eq!(store.owner_limit, None);
    assert_eq!(store.default_absolute_lifetime, None);
}

#[test]
fn the_metrics_listener_is_off_unless_a_layer_sets_it() {
    assert_eq!(configs(flags(&[])).server.metrics_listen, None);
    let addr: SocketAddr = "127.0.0.1:9187".parse().unwrap();
    let flag = configs(flags(&["--metrics-listen", "127.0.0.1:9187"]));
    assert_eq!(flag.server.metrics_listen, Some(addr));
    let env = parse(&[], &[("SESSIOND_METRICS_LISTEN", "127.0.0.1:9187")]).unwrap();
    assert_eq!(configs(env.settings).server.metrics_listen, Some(addr));
    let key = configs(file("metrics_listen = \"127.0.0.1:9187\""));
    assert_eq!(key.server.metrics_listen, Some(addr));
}

#[test]
fn zero_threads_means_one_per_core_as_in_server_config() {
    let server = configs(flags(&["--threads", "0"])).server;
    assert_eq!(
        server.threads, 0,
        "accepted, and passed on for the server to count the cores"
    );
    assert_eq!(configs(flags(&["--threads", "3"])).server.threads, 3);
}

#[test]
fn the_poll_window_is_microseconds_up_to_a_millisecond_and_zero_turns_it_off() {
    let window = |args: &[&str]| configs(flags(args)).server.poll_window;
    assert_eq!(window(&[]), Duration::ZERO, "off unless asked for");
    assert_eq!(window(&["--poll-us", "10"]), Duration::from_micros(10));
    assert_eq!(window(&["--poll-us", "0"]), Duration::ZERO);
    assert_eq!(window(&["--poll-us", "250"]), Duration::from_micros(250));
    let Err(refused) = flags(&["--poll-us", "1001"]).into_configs(None) else {
        panic!("over a millisecond is refused");
    };
    assert!(refused.to_string().contains("--poll-us"), "{refused}");
}

#[test]
fn an_unknown_key_in_the_file_is_refused_in_one_line_naming_it() {
    let text = "listen = \"127.0.0.1:1\"\nlisten_resp = \"127.0.0.1:2\"\n";
    let error = file_settings(Path::new("/etc/sessiond.toml"), text).unwrap_err();
    let error = error.to_string();
    assert!(
        error.starts_with(
            "/etc/sessiond.toml, line 2: unknown field `listen_resp`, expected one of `listen`, "
        ),
        "{error}"
    );
    assert!(!error.contains('\n'), "{error}");
    let mistyped = file_settings(Path::new("f.toml"), "threads = \"4\"").unwrap_err();
    assert!(
        mistyped
            .to_string()
            .starts_with("f.toml, line 1: invalid type"),
        "{mistyped}"
    );
}

#[test]
fn named_values_are_read_alike_from_flags_and_the_file() {
    let from_file = file(
        "fsync = \"always\"\nmemory_policy = \"evict\"\nowner_limit_policy = \"evict-oldest\"\n",
    );
    let from_flags = flags(&[
        "--fsync=always",
        "--memory-policy=evict",
        "--owner-limit-policy=evict-oldest",
    ]);
    for settings in [from_file, from_flags] {
        assert_eq!(settings.fsync, Some(FsyncSetting::Always));
        assert_eq!(settings.memory_policy, Some(MemoryPolicySetting::Evict));
        assert_eq!(
            settings.owner_limit_policy,
            Some(LimitPolicySetting::EvictOldest)
        );
    }
    let error = file_settings(Path::new("f.toml"), "fsync = \"sometimes\"").unwrap_err();
    assert_eq!(
        error.to_string(),
        "f.toml, line 1: unknown value `sometimes`, expected one of `always`, `everysec`, `no`"
    );
}

#[test]
fn the_owner_policy_applies_with_a_limit() {
    let limit = configs(flags(&[
        "--max-sessions-per-owner=2",
        "--owner-limit-policy=evict-oldest",
    ]));
    let expected = OwnerLimit {
        max_sessions: 2,
        policy: LimitPolicy::EvictOldest,
    };
    assert_eq!(limit.store.owner_limit, Some(expected));
    let default = configs(flags(&["--max-sessions-per-owner=2"]))
        .store
        .owner_limit;
    assert_eq!(default.map(|l| l.policy), Some(LimitPolicy::default()));
}

#[test]
fn the_defaults_shown_are_those_the_daemon_runs_with() {
    // What is unset keeps the config types' defaults, and what --help
    // shows as defaults maps to them too.
    for settings in [Settings::default(), Settings::defaults()] {
        let configs = configs(Settings {
            data_dir: Some("/d".into()),
            ..settings
        });
        assert_eq!(
            format!("{:?}", configs.server),
            format!("{:?}", ServerConfig::default())
        );
        assert_eq!(
            format!("{:?}", configs.store),
            format!("{:?}", StoreConfig::default())
        );
        let (persist, expected) = (configs.persist.unwrap(), PersistConfig::new("/d"));
        assert_eq!(persist.fsync, expected.fsync);
        assert_eq!(persist.repair, expected.repair);
        assert_eq!(persist.compact_ratio, expected.compact_ratio);
        assert_eq!(persist.compact_min_bytes, expected.compact_min_bytes);
        assert!(!persist.acknowledge_in_call, "the server waits per batch");
    }
    let help = Cli::command_with_defaults().render_help().to_string();
    let listen = ServerConfig::default().listen;
    assert!(
        help.contains(&format!("listener [default: {listen}]")),
        "{help}"
    );
    assert!(help.contains("[default: everysec]"), "{help}");
}

#[test]
fn each_setting_has_one_name_as_flag_variable_and_key() {
    for arg in Cli::command().get_arguments() {
        let id = arg.get_id().as_str();
        let long = id.replace('_', "-");
        assert_eq!(arg.get_long(), Some(long.as_str()));
        let env = format!("SESSIOND_{}", id.to_uppercase());
        assert_eq!(arg.get_env(), Some(OsStr::new(&env)));
        if id != "config" {
            let key = toml::from_str::<Settings>(&format!("{id} = 0")).err();
            let unknown = key.is_some_and(|e| e.message().contains("unknown field"));
            assert!(!unknown, "{id} is a key of the file");
        }
    }
}

#[test]
fn the_token_comes_from_its_file_else_the_environment() {
    let token = Settings::default()
        .into_configs(Some("from-env-padded-to-the-32-byte-minimum".into()))
        .unwrap();
    assert!(
        token
            .server
            .auth_token
            .unwrap()
            .matches(b"from-env-padded-to-the-32-byte-minimum")
    );
    assert!(configs(Settings::default()).server.auth_token.is_none());

    let missing = flags(&["--auth-token-file=/nonexistent/token"]);
    let error = missing.into_configs(Some("ignored".into())).unwrap_err();
    let error = format!("{error:#}");
    assert!(
        error.starts_with("cannot read the auth token file /nonexistent/token: "),
        "{error}"
    );
    let empty = Settings::default()
        .into_configs(Some(" \n".into()))
        .unwrap_err();
    assert_eq!(
        empty.to_string(),
        "SESSIOND_AUTH_TOKEN: the auth token is empty"
    );
}

#[test]
fn tls_needs_both_files() {
    let half = flags(&["--tls-key=key.pem"])
        .into_configs(None)
        .unwrap_err();
    assert_eq!(half.to_string(), "TLS needs both --tls-cert and --tls-key");
    let both = configs(flags(&["--tls-key=key.pem", "--tls-cert=cert.pem"]));
    let tls = both.server.tls.unwrap();
    assert_eq!((tls.cert, tls.key), ("cert.pem".into(), "key.pem".into()));
    let ca_alone = flags(&["--tls-client-ca=ca.pem"])
        .into_configs(None)
        .unwrap_err();
    assert_eq!(
        ca_alone.to_string(),
        "--tls-client-ca needs TLS: --tls-cert and --tls-key"
    );
    let with_ca = configs(flags(&[
        "--tls-key=key.pem",
        "--tls-cert=cert.pem",
        "--tls-client-ca=ca.pem",
    ]));
    assert_eq!(with_ca.server.tls_client_ca, Some("ca.pem".into()));
}

#[test]
fn connection_bounds_are_settings() {
    let set = configs(flags(&[
        "--max-input-buffer=1000",
        "--max-output-buffer=2000",
        "--write-timeout=3",
    ]));
    assert_eq!(set.server.max_input_buffer, 1000);
    assert_eq!(set.server.max_output_buffer, 2000);
    assert_eq!(set.server.write_timeout, Duration::from_secs(3));
    let file = file_settings(Path::new("f.toml"), "max_output_buffer = 5\n").unwrap();
    assert_eq!(configs(file).server.max_output_buffer, 5);
}

#[test]
fn the_log_format_is_text_unless_set_to_json_by_any_layer() {
    assert_eq!(configs(Settings::default()).log_format, LogFormat::Text);
    let from_env = parse(&[], &[("SESSIOND_LOG_FORMAT", "json")]).unwrap();
    for settings in [
        flags(&["--log-format=json"]),
        file("log_format = \"json\"\n"),
        from_env.settings,
    ] {
        assert_eq!(configs(settings).log_format, LogFormat::Json);
    }
    let error = file_settings(Path::new("f.toml"), "log_format = \"xml\"").unwrap_err();
    assert_eq!(
        error.to_string(),
        "f.toml, line 1: unknown value `xml`, expected one of `text`, `json`"
    );
}
