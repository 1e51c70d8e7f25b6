//! Two `twofactor-server` processes on one PostgreSQL user store, each with its own data
//! directory holding copies of one `server.toml`, one `secrets.key` and one certificate,
//! as two machines of a deployment would: what one instance decides, the other knows.
//! Users are managed with the admin commands against the store; time is the real clock.
//!
//! PostgreSQL comes from twofactor-pg-testkit (the cluster `scripts/pg-cluster.sh` starts;
//! `PgServer::private()` for the test that stops it). Each test makes its PostgreSQL
//! resources outside any runtime (the blocking client must not run on tokio's workers)
//! and drives the instances from a runtime of its own.

mod common;
mod fleet;

use std::time::Duration;

use common::assert_error;
use fleet::{code_now, login, set, Instance, Layout};
use twofactor_pg_testkit::PgServer;
use twofactor_protocol::{ClientMessage, SecondFactor, ServerMessage};
use twofactor_smtp_testkit::SmtpSink;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// Limits that leave the races to the store: no backoff, and failure budgets wider than
/// the attempts a test makes at once (the budgets in flight are tested in pg_store.rs).
fn wide_limits(t: &mut toml::Table) {
    set(t, "auth", "backoff_base_ms", 0);
    set(t, "auth", "max_failed_attempts", 60);
    set(t, "auth", "max_failed_passwords", 60);
    set(t, "auth", "address_max_failures", 1000);
    set(t, "auth", "address_max_pending_logins", 64);
}

/// Waits out the rest of the TOTP step if it is about to end, so a code computed now is
/// still the current one when the servers check it (they accept one step either side,
/// but a test that needs "the same code" must not straddle two).
async fn fresh_step() {
    if fleet::step_left() < 5 {
        tokio::time::sleep(Duration::from_secs(fleet::step_left() + 1)).await;
    }
}

async fn second_factor_answer(i: &Instance, user: &str, password: &str, code: &str) -> ServerMessage {
    let mut c = i.connect().await;
    login(&mut c, user, password, Some(code)).await
}

#[test]
fn a_totp_code_accepted_on_one_instance_is_refused_on_the_other() {
    let Some(pg) = PgServer::shared() else { return };
    let db = pg.create_database();
    let root = tempfile::tempdir().unwrap();
    let layout = Layout::on_postgres(root.path(), &db, wide_limits);
    layout.add_totp_user("dave", "dave-pw");
    let (a, b) = (layout.start("a"), layout.start("b"));
    runtime().block_on(async {
        fresh_step().await;
        let code = code_now();
        assert_eq!(second_factor_answer(&a, "dave", "dave-pw", &code).await, ServerMessage::SecondFactorOk);
        let on_b = second_factor_answer(&b, "dave", "dave-pw", &code).await;
        assert_error(&on_b, "28000", 1002, true);
        // And the other way round: B's refusal did not spend anything A relies on.
        let again_on_a = second_factor_answer(&a, "dave", "dave-pw", &code).await;
        assert_error(&again_on_a, "28000", 1002, true);
    });
    assert!(b.log_text().contains("the code accepted last was sent again"), "{}", b.log_text());
}

#[test]
fn fifty_concurrent_logins_with_one_code_over_two_instances_let_exactly_one_in_five_times_over() {
    let Some(pg) = PgServer::shared() else { return };
    let db = pg.create_database();
    let root = tempfile::tempdir().unwrap();
    let layout = Layout::on_postgres(root.path(), &db, wide_limits);
    let users: Vec<String> = (1..=5).map(|n| format!("racer{n}")).collect();
    for u in &users {
        layout.add_totp_user(u, "racer-pw");
    }
    let instances = std::sync::Arc::new([layout.start("a"), layout.start("b")]);
    runtime().block_on(async {
        for user in &users {
            fresh_step().await;
            let code = code_now();
            // Every client has passed the first factor before any sends the code, so the
            // 50 codes arrive together, half on each instance.
            let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(50));
            let clients: Vec<_> = (0..50)
                .map(|n| {
                    let (instances, barrier, user, code) =
                        (instances.clone(), barrier.clone(), user.clone(), code.clone());
                    tokio::spawn(async move {
                        let mut c = instances[n % 2].connect().await;
                        c.send(ClientMessage::Login { user, password: "racer-pw".into() }).await;
                        let first = c.recv().await;
                        assert!(matches!(first, Some(ServerMessage::FirstFactorOk { .. })), "{first:?}");
                        barrier.wait().await;
                        c.send(ClientMessage::SecondFactor { code: code.into() }).await;
                        c.recv().await
                    })
                })
                .collect();
            let mut accepted = 0;
            for client in clients {
                match client.await.unwrap() {
                    Some(ServerMessage::SecondFactorOk) => accepted += 1,
                    Some(ServerMessage::Error(e)) => assert_eq!(e.sqlstate_str(), "28000", "{}", e.message),
                    other => panic!("{other:?}"),
                }
            }
            assert_eq!(accepted, 1, "{user}: one of 50 concurrent logins with one code gets in");
        }
    });
}

#[test]
fn a_lockout_reached_through_one_instance_holds_on_the_other_and_user_unlock_frees_both() {
    let Some(pg) = PgServer::shared() else { return };
    let db = pg.create_database();
    let root = tempfile::tempdir().unwrap();
    let layout = Layout::on_postgres(root.path(), &db, |t| {
        wide_limits(t);
        set(t, "auth", "max_failed_attempts", 3);
    });
    layout.add_totp_user("lou", "lou-pw");
    let (a, b) = (layout.start("a"), layout.start("b"));
    runtime().block_on(async {
        fresh_step().await;
        let wrong = format!("{:06}", (code_now().parse::<u32>().unwrap() + 1) % 1_000_000);
        for n in 1..=3 {
            let answer = second_factor_answer(&a, "lou", "lou-pw", &wrong).await;
            let native = if n < 3 { 1002 } else { 1003 };
            assert_error(&answer, "28000", native, true);
        }
        // Locked on B with the right code (at the password already: the lock is known).
        let on_b = second_factor_answer(&b, "lou", "lou-pw", &code_now()).await;
        assert_error(&on_b, "28000", 1003, true);

        layout.admin(&["user", "unlock", "lou"], None);
        fresh_step().await;
        assert_eq!(second_factor_answer(&b, "lou", "lou-pw", &code_now()).await, ServerMessage::SecondFactorOk);
        // A knows of the unlock too: a wrong code there is merely wrong, not "locked".
        let on_a = second_factor_answer(&a, "lou", "lou-pw", &wrong).await;
        assert_error(&on_a, "28000", 1002, true);
    });
}

#[test]
fn an_email_code_issued_by_one_instance_is_completed_on_the_other() {
    let Some(smtp) = SmtpSink::start() else { return };
    let Some(pg) = PgServer::shared() else { return };
    let db = pg.create_database();
    let root = tempfile::tempdir().unwrap();
    let layout = Layout::on_postgres(root.path(), &db, |t| {
        wide_limits(t);
        set(t, "smtp", "host", "127.0.0.1");
        set(t, "smtp", "port", i64::from(smtp.port));
        set(t, "smtp", "security", "none");
    });
    layout.admin(&["user", "add", "erin", "--password-stdin"], Some("erin-pw\n"));
    layout.admin(&["user", "email", "erin", "erin@example.com"], None);
    layout.admin(&["user", "method", "erin", "email"], None);
    let (a, b) = (layout.start("a"), layout.start("b"));
    runtime().block_on(async {
        let mut on_a = a.connect().await;
        let first = login(&mut on_a, "erin", "erin-pw", None).await;
        assert!(matches!(first, ServerMessage::FirstFactorOk { second_factor: SecondFactor::Required { .. }, .. }));
        let code = smtp.wait_for(1).code(6).expect("a 6-digit code in the message");
        // The client goes away (a dropped link, a balancer's other choice) and comes back
        // through B, which finds the code A issued still pending and sends none.
        drop(on_a);
        let mut on_b = b.connect().await;
        assert_eq!(login(&mut on_b, "erin", "erin-pw", Some(&code)).await, ServerMessage::SecondFactorOk);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(smtp.messages().len(), 1, "B sent no code of its own");
    });
}

#[test]
fn the_address_throttle_counts_failures_on_both_instances_together() {
    let Some(pg) = PgServer::shared() else { return };
    let db = pg.create_database();
    let root = tempfile::tempdir().unwrap();
    let layout = Layout::on_postgres(root.path(), &db, |t| {
        wide_limits(t);
        set(t, "auth", "address_max_failures", 4);
    });
    layout.add_password_user("pat", "pat-pw");
    let (a, b) = (layout.start("a"), layout.start("b"));
    runtime().block_on(async {
        // Two wrong passwords on each instance: four from 127.0.0.1 in all.
        for i in [&a, &b, &a, &b] {
            let mut c = i.connect().await;
            assert_error(&login(&mut c, "pat", "wrong", None).await, "28000", 1001, true);
        }
        // Each instance alone saw two, under the limit; together they reached it.
        for i in [&a, &b] {
            let mut c = i.connect().await;
            assert_error(&login(&mut c, "pat", "pat-pw", None).await, "28000", 1009, true);
        }
    });
}

#[test]
fn an_instance_with_another_secrets_key_refuses_to_start_and_says_why() {
    let Some(pg) = PgServer::shared() else { return };
    let db = pg.create_database();
    let root = tempfile::tempdir().unwrap();
    let layout = Layout::on_postgres(root.path(), &db, wide_limits);
    layout.add_totp_user("dave", "dave-pw");
    // B's key is not the one the secrets were sealed with (a copy step forgotten). Were
    // it to serve, it would refuse every TOTP code and count each as a failure.
    let b_dir = layout.instance_dir("b");
    std::fs::write(b_dir.join("secrets.key"), [7u8; 32]).unwrap();
    let a = layout.start("a");
    let (ok, out, err) = fleet::admin_in(&b_dir, &["serve", "--listen", "127.0.0.1:0"], None);
    assert!(!ok, "B must not serve:\n{out}{err}");
    assert!(err.contains("opens none of the 1 TOTP secrets"), "{err}");
    assert!(!out.contains("listening on"), "{out}");
    runtime().block_on(async {
        fresh_step().await;
        assert_eq!(second_factor_answer(&a, "dave", "dave-pw", &code_now()).await, ServerMessage::SecondFactorOk);
    });
}
