//! Two `twofactor-server` processes on one PostgreSQL user store, and PostgreSQL stopped
//! under them: logins fail closed with a clear error, readiness fails, a session already
//! logged in goes on, and both recover by themselves when PostgreSQL is back.
//!
//! Its own test binary because it starts a private cluster (`PgServer::private()`), which
//! must happen before anything in the process sets the umask to 077 (the server's
//! `init` does, for its files): the cluster's directories must stay readable to the
//! `postgres` user that initdb runs as.

mod common;
mod fleet;

use std::time::{Duration, Instant};

use common::no_params;
use fleet::{code_now, logged_in, login, set, Instance, Layout};
use twofactor_pg_testkit::PgServer;
use twofactor_protocol::ServerMessage;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

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
fn with_postgresql_stopped_logins_fail_closed_readiness_fails_and_both_recover_by_themselves() {
    let Some(pg) = PgServer::private() else { return };
    let db = pg.create_database();
    let root = tempfile::tempdir().unwrap();
    let layout = Layout::on_postgres(root.path(), &db, |t| {
        set(t, "auth", "backoff_base_ms", 0);
        set(t, "store", "connect_timeout_secs", 2);
    });
    layout.add_totp_user("dave", "dave-pw");
    layout.add_password_user("pat", "pat-pw");
    let (a, b) = (layout.start("a"), layout.start("b"));
    runtime().block_on(async {
        for i in [&a, &b] {
            assert_eq!(i.probe("/ready").await, (200, "ready".into()));
        }
        // A session logged in before the outage; its SQL is on SQLite and goes on.
        let mut session = a.connect().await;
        assert!(logged_in(&login(&mut session, "pat", "pat-pw", None).await));

        tokio::task::block_in_place(|| pg.stop());
        let stopped = Instant::now();
        for i in [&a, &b] {
            let reason = not_ready_within(i, Duration::from_secs(10)).await;
            assert!(reason.contains("user store"), "{reason}");
        }
        eprintln!("readiness failed {:?} after PostgreSQL stopped", stopped.elapsed());
        fresh_step().await;
        let code = code_now();
        for i in [&a, &b] {
            let answer = second_factor_answer(i, "dave", "dave-pw", &code).await;
            match &answer {
                ServerMessage::Error(e) => {
                    assert!(["HY000", "08001"].contains(&e.sqlstate_str()), "{answer:?}");
                    assert!(e.message.contains("store"), "a clear message: {}", e.message);
                    eprintln!("instance {}: login without PostgreSQL: {} {}", i.name, e.sqlstate_str(), e.message);
                }
                other => panic!("a login without the store must fail closed: {other:?}"),
            }
        }
        match session.exec("SELECT 1", no_params()).await {
            ServerMessage::ResultSet { .. } => {}
            other => panic!("the session's SQL does not need the user store: {other:?}"),
        }

        tokio::task::block_in_place(|| pg.start_again());
        let restarted = Instant::now();
        for i in [&a, &b] {
            ready_within(i, Duration::from_secs(15)).await;
        }
        eprintln!("readiness back {:?} after PostgreSQL started again", restarted.elapsed());
        // Nothing was spent during the outage: the same code logs in once, on one instance.
        fresh_step().await;
        let code = code_now();
        assert_eq!(second_factor_answer(&a, "dave", "dave-pw", &code).await, ServerMessage::SecondFactorOk);
        common::assert_error(&second_factor_answer(&b, "dave", "dave-pw", &code).await, "28000", 1002, true);
    });
}

async fn not_ready_within(i: &Instance, within: Duration) -> String {
    let until = Instant::now() + within;
    loop {
        let (status, reason) = i.probe("/ready").await;
        if status == 503 {
            return reason;
        }
        assert!(Instant::now() < until, "instance {}: still {status} {reason}", i.name);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn ready_within(i: &Instance, within: Duration) {
    let until = Instant::now() + within;
    loop {
        let (status, reason) = i.probe("/ready").await;
        if status == 200 {
            return;
        }
        assert!(Instant::now() < until, "instance {}: still {status} {reason}\n{}", i.name, i.log_text());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
