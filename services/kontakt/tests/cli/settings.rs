//! The binary's settings as an operator meets them: `--help`, `kontakt token`, and `serve`
//! refusing to start without what it needs.

use super::*;

#[test]
fn help_lists_every_setting_with_its_environment_variable() {
    let output = std::process::Command::new(KONTAKT)
        .args(["serve", "--help"])
        .output()
        .expect("run kontakt");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for variable in [
        "DATABASE_URL",
        "KONTAKT_LISTEN",
        "KONTAKT_DB_MAX_CONNECTIONS",
        "KONTAKT_DB_ACQUIRE_TIMEOUT",
        "KONTAKT_MIGRATE_ON_START",
        "KONTAKT_SHUTDOWN_GRACE",
        "KONTAKT_MAX_MESSAGE_BYTES",
        "KONTAKT_REQUEST_TIMEOUT",
        "KONTAKT_CONCURRENCY_LIMIT",
        "KONTAKT_HEALTH_INTERVAL",
        "KONTAKT_SCHEDULER_INTERVAL",
        "KONTAKT_OUTBOX_RETENTION",
        "KONTAKT_ACCESS_LOG_RETENTION",
        "KONTAKT_LOG_FORMAT",
        "KONTAKT_TRACE_FILTER",
        "RUST_LOG",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "KONTAKT_REFERRAL_URL",
        "KONTAKT_FOLLOWUP_URL",
        "KONTAKT_JWKS_FILE",
        "KONTAKT_JWKS_URL",
        "KONTAKT_JWT_ISSUER",
        "KONTAKT_JWT_AUDIENCE",
        "KONTAKT_JWT_LEEWAY",
        "KONTAKT_TLS_CERT",
        "KONTAKT_TLS_KEY",
        "KONTAKT_TLS_CA",
        "KONTAKT_TLS_CLIENT_CA",
        "KONTAKT_TLS_RELOAD_INTERVAL",
        "KONTAKT_HEALTH_LISTEN",
        "KONTAKT_CORS_ALLOW_ORIGINS",
    ] {
        assert!(
            help.contains(variable),
            "`kontakt serve --help` does not mention {variable}"
        );
    }
}

#[test]
fn token_refuses_an_unknown_role_and_lists_the_known_ones() {
    let dir = tempfile::tempdir().expect("dir");
    let output = std::process::Command::new(KONTAKT)
        .arg("token")
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--role", "superuser"])
        .output()
        .expect("run kontakt token");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unknown role `superuser`") && stderr.contains("contact_person"),
        "{stderr}"
    );
}

#[test]
fn serve_without_authentication_settings_refuses_to_start() {
    let output = std::process::Command::new(KONTAKT)
        .args(["serve", "referral", "--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")
        .env_remove("KONTAKT_JWKS_FILE")
        .env_remove("KONTAKT_JWT_ISSUER")
        .output()
        .expect("run kontakt");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("KONTAKT_JWKS_FILE"), "{stderr}");
}

#[test]
fn serve_without_a_database_says_what_is_missing() {
    let output = std::process::Command::new(KONTAKT)
        .args(["serve", "referral", "--listen", "127.0.0.1:0"])
        .env_remove("DATABASE_URL")
        .output()
        .expect("run kontakt");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
}

#[test]
fn serve_with_a_tls_file_it_cannot_read_says_which_and_does_not_start() {
    let output = std::process::Command::new(KONTAKT)
        .args(["serve", "referral", "--listen", "127.0.0.1:0"])
        .args(["--tls-cert", "/nonexistent/referral.crt"])
        .args(["--tls-key", "/nonexistent/referral.key"])
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")
        .envs(kontakt_harness::auth_env())
        .envs(kontakt_harness::cpr_env())
        .output()
        .expect("run kontakt");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("setting up TLS") && stderr.contains("/nonexistent/referral.crt"),
        "{stderr}"
    );
    // A key without its certificate is refused before anything is read.
    let half = std::process::Command::new(KONTAKT)
        .args(["serve", "referral", "--tls-key", "referral.key"])
        .output()
        .expect("run kontakt");
    assert!(!half.status.success());
    assert!(
        String::from_utf8_lossy(&half.stderr).contains("--tls-cert"),
        "{}",
        String::from_utf8_lossy(&half.stderr)
    );
}
