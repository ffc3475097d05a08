//! Faults injected under load, with the promise checked afterwards in the database: every
//! acknowledged write is there once, no retry made a second one, and a call during the fault
//! got a retryable status, never INTERNAL. Each test prints
//! `faults=N acknowledged=N lost=N duplicated=N`. (A service killed with SIGKILL is in
//! `services/kontakt/tests/cli.rs`, where the `kontakt` binary is at hand.)

use std::sync::Arc;
use std::time::Duration;

use kontakt_harness::faults::{
    Tally, assert_nothing_lost, referral_on_own_postgres, under_referral_load,
    world_readable_tempdir,
};
use kontakt_harness::token;
use kontakt_platform::auth::Role;
use sqlx::Connection as _;

/// Writers keep creating cases and referrals (each a retried, idempotent call) while
/// PostgreSQL is stopped for two seconds and started again; the service is never restarted.
#[tokio::test]
async fn postgres_restarted_during_writes_loses_and_duplicates_nothing() {
    let dir = world_readable_tempdir();
    let (pg, running) = referral_on_own_postgres(dir.path()).await;
    let channel = running.with_token(&token(&[Role::Counsellor], &["183"]));

    let tally = Arc::new(Tally::default());
    let acknowledged = under_referral_load(channel, &tally, || async {
        let stopper = pg.clone();
        tokio::task::spawn_blocking(move || stopper.stop())
            .await
            .expect("join")
            .expect("stop postgres");
        tokio::time::sleep(Duration::from_secs(2)).await;
        let starter = pg.clone();
        tokio::task::spawn_blocking(move || starter.restart())
            .await
            .expect("join")
            .expect("restart postgres");
    })
    .await;
    running.stop().await.expect("clean stop");

    let mut db = sqlx::PgConnection::connect_with(&pg.connect_options("postgres"))
        .await
        .expect("connect");
    assert_nothing_lost("postgres restart", &mut db, &acknowledged, &tally).await;
}
