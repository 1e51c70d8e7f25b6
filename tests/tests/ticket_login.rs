//! The driver's two-factor tickets and single-flight through unixODBC (docs/pooling.md,
//! docs/dsn-keys.md): what a ticket login reports (attribute 1002, the 01000 record),
//! a refused ticket, a server without tickets, and a follower's login timeout. The
//! pyodbc side (10 threads, a second process, the keyring and file stores) is
//! tests/python/test_sitting.py.

use std::time::{Duration, Instant};

use twofactor_e2e::raw::{Charset, Diag, Env};
use twofactor_e2e::{ServerOptions, TestServer};

fn with_tickets() -> TestServer {
    TestServer::start_with(ServerOptions {
        config: vec![("tickets".into(), "enabled".into(), "true".into())],
        ..ServerOptions::default()
    })
}

/// Polls until `path` exists (a helper's marker), at most 30 s.
fn wait_for(path: &std::path::Path) {
    let until = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(Instant::now() < until, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn info<'a>(warnings: &'a [Diag], text: &str) -> Option<&'a Diag> {
    warnings.iter().find(|d| d.state == "01000" && d.message.contains(text))
}

#[test]
fn a_ticket_login_reads_1002_as_zero_and_says_so_in_a_01000_record_through_both_entry_points() {
    let server = with_tickets();
    let user = server.user("ticket_info");
    let env = Env::new();
    let mut first = env.dbc(Charset::Narrow);
    let with_code =
        server.connection_string(&user, &format!("TwoFactorTicket=Memory;TwoFactorCode={}", user.fresh_code()));
    let warnings = first.driver_connect(&with_code).unwrap();
    assert!(info(&warnings, "ticket").is_none(), "a code login: {warnings:?}");
    first.disconnect().unwrap();
    for cs in [Charset::Narrow, Charset::Wide] {
        let mut dbc = env.dbc(cs);
        let warnings = dbc.driver_connect(&server.connection_string(&user, "TwoFactorTicket=Memory")).unwrap();
        let record = info(&warnings, "second factor verified by a two-factor ticket (expires ")
            .unwrap_or_else(|| panic!("{cs:?}: no 01000 ticket record in {warnings:?}"));
        assert!(record.message.contains("GMT)"), "{}", record.message);
        assert_eq!(dbc.two_factor_pending().unwrap(), 0, "{cs:?}");
        assert_eq!(dbc.query_i64("SELECT 7 * 6").unwrap(), Some(42), "{cs:?}");
        dbc.disconnect().unwrap();
    }
    let log = std::fs::read_to_string(server.data_dir().join("audit.log")).unwrap();
    // Issued once, used twice: the audit has every one.
    assert!(log.matches("\"event\":\"ticket\"").count() >= 3, "{log}");
}

#[test]
fn a_revoked_ticket_is_evicted_and_the_code_path_runs_on_the_same_connect() {
    let server = with_tickets();
    let user = server.user("ticket_revoked");
    let env = Env::new();
    let mut dbc = env.dbc(Charset::Narrow);
    let code = user.fresh_code();
    dbc.driver_connect(&server.connection_string(&user, &format!("TwoFactorTicket=Memory;TwoFactorCode={code}")))
        .unwrap();
    dbc.disconnect().unwrap();
    server.admin(&["user", "tickets", &user.name, "revoke", "--all"]);

    // Without a code the refused ticket leaves the factor pending: the connect succeeds
    // (attribute 1002 = 1) and says the ticket was refused.
    let mut dbc = env.dbc(Charset::Narrow);
    let warnings = dbc.driver_connect(&server.connection_string(&user, "TwoFactorTicket=Memory")).unwrap();
    assert!(info(&warnings, "was refused by the server").is_some(), "{warnings:?}");
    assert_eq!(dbc.two_factor_pending().unwrap(), 1, "the normal path: the code is still owed");
    dbc.disconnect().unwrap();

    // The stale ticket is gone: this connect offers none, logs in with a code and gets a
    // new ticket, which the next connect uses.
    let mut dbc = env.dbc(Charset::Narrow);
    let cs = server.connection_string(&user, &format!("TwoFactorTicket=Memory;TwoFactorCode={}", user.fresh_code()));
    let warnings = dbc.driver_connect(&cs).unwrap();
    assert!(info(&warnings, "refused").is_none(), "no ticket was offered: {warnings:?}");
    dbc.disconnect().unwrap();
    let mut dbc = env.dbc(Charset::Wide);
    let warnings = dbc.driver_connect(&server.connection_string(&user, "TwoFactorTicket=Memory")).unwrap();
    assert!(info(&warnings, "verified by a two-factor ticket").is_some(), "{warnings:?}");
    assert_eq!(dbc.query_i64("SELECT 1").unwrap(), Some(1));
}

#[test]
fn a_server_without_tickets_gives_a_warning_and_a_working_connection() {
    let server = TestServer::start();
    let user = server.user("no_tickets_here");
    let env = Env::new();
    let mut dbc = env.dbc(Charset::Narrow);
    let cs = server.connection_string(&user, &format!("TwoFactorTicket=Memory;TwoFactorCode={}", user.fresh_code()));
    let warnings = dbc.driver_connect(&cs).unwrap();
    assert!(info(&warnings, "no two-factor ticket").is_some(), "{warnings:?}");
    assert_eq!(dbc.two_factor_pending().unwrap(), 0);
    assert_eq!(dbc.query_i64("SELECT 2").unwrap(), Some(2));
}

#[test]
fn a_follower_waits_for_the_leader_no_longer_than_its_own_login_timeout() {
    let server = TestServer::start();
    let user = server.user("slow_leader");
    // The code reaches the server after the helper's 4 s and the login's own time.
    let code = user.fresh_code_lasting(Duration::from_secs(10));
    let started = server.scratch().join("leader-helper-started");
    // The leader's helper takes 4 s; the follower allows itself 1 s.
    let helper = format!("sh -c 'touch {}; sleep 4; echo {code}'", started.display());
    let leader_cs = server.connection_string(&user, &format!("TwoFactorCodeCommand={{{helper}}}"));
    let follower_cs = server.connection_string(&user, "LoginTimeout=1");
    std::thread::scope(|scope| {
        let leader = scope.spawn(|| {
            let env = Env::new();
            let mut dbc = env.dbc(Charset::Narrow);
            dbc.driver_connect(&leader_cs).map(|_| ())
        });
        // The follower starts once the leader is inside its flight (its helper runs).
        wait_for(&started);
        let env = Env::new();
        let mut dbc = env.dbc(Charset::Narrow);
        let start = Instant::now();
        let e = dbc.driver_connect(&follower_cs).unwrap_err();
        let waited = start.elapsed();
        assert_eq!(e.state(), "HYT00", "{e:?}");
        assert!(e.message().contains("parallel connection"), "{}", e.message());
        assert!(waited < Duration::from_millis(2500), "waited {waited:?}");
        leader.join().unwrap().expect("the leader logs in with its code");
    });
}

#[test]
fn a_code_set_with_attribute_1002_after_connecting_earns_a_ticket_too() {
    let server = with_tickets();
    let user = server.user("late_code_ticket");
    let env = Env::new();
    let mut dbc = env.dbc(Charset::Wide);
    dbc.driver_connect(&server.connection_string(&user, "TwoFactorTicket=Memory")).unwrap();
    assert_eq!(dbc.two_factor_pending().unwrap(), 1);
    dbc.submit_code(&user.fresh_code()).unwrap();
    assert_eq!(dbc.query_i64("SELECT 3").unwrap(), Some(3));
    dbc.disconnect().unwrap();
    let mut dbc = env.dbc(Charset::Narrow);
    let warnings = dbc.driver_connect(&server.connection_string(&user, "TwoFactorTicket=Memory")).unwrap();
    assert!(info(&warnings, "verified by a two-factor ticket").is_some(), "{warnings:?}");
    assert_eq!(dbc.two_factor_pending().unwrap(), 0);
}

#[test]
fn a_leader_whose_connection_dies_wakes_its_followers_with_its_error_and_no_second_helper_run() {
    // The server gives up on the second factor after 1 s; the leader's helper takes 3 s.
    let server = TestServer::start_with(ServerOptions { two_factor_timeout_secs: 1, ..ServerOptions::default() });
    let user = server.user("dying_leader");
    let runs = server.scratch().join("helper-runs");
    let code = user.fresh_code();
    let helper = format!("sh -c 'echo run >> {}; sleep 3; echo {code}'", runs.display());
    let cs = server.connection_string(&user, &format!("TwoFactorCodeCommand={{{helper}}}"));
    let start = Instant::now();
    let errors: Vec<_> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let (cs, runs) = (&cs, &runs);
                scope.spawn(move || {
                    // The first thread leads; the others join its flight once its helper runs.
                    if i > 0 {
                        wait_for(runs);
                    }
                    let env = Env::new();
                    let mut dbc = env.dbc(Charset::Narrow);
                    dbc.driver_connect(cs).map(|_| ()).unwrap_err()
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert!(start.elapsed() < Duration::from_secs(15), "followers failed fast: {:?}", start.elapsed());
    assert_eq!(std::fs::read_to_string(&runs).unwrap().lines().count(), 1, "one helper run, no prompt storm");
    let leader = &errors[0];
    assert!(!leader.message().contains("parallel connection"), "{leader:?}");
    for follower in &errors[1..] {
        assert_eq!(follower.state(), leader.state(), "{follower:?}");
        assert!(follower.message().contains("a parallel connection of this process for the same user failed"));
    }
}
