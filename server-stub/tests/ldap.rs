//! The directory first factor against a real OpenLDAP (testkit/slapd): the directory
//! password plus our TOTP code, wrong passwords counted and locking (with no bind once
//! locked), the group filter, a directory that goes down and comes back, injection in the
//! user name, the ldap → local cascade for a break-glass account, and auto-provisioning.
//! Skipped when slapd is missing, unless TWOFACTOR_REQUIRE_SLAPD=1.

mod common;

use std::path::Path;

use common::*;
use twofactor_protocol::ServerMessage;
use twofactor_server::config::FirstFactorOrder;
use twofactor_server::crypto::SecretsKey;
use twofactor_server::first_factor::Mechanism;
use twofactor_server::store::{NewEnrolLink, SqliteUserStore, TotpEnrolment, UserStore};
use twofactor_server::{Clock, Config, ManualClock, Server};
use twofactor_slapd_testkit::{person_dn, Person, Slapd, GROUP_DN, PEOPLE, SERVICE_DN};

/// alice and bob are local users too (common's fixture: local passwords `alice-pw`,
/// `bob-pw`, TOTP enrolled); dave is in the directory but not in the group; erin is in
/// the directory and the group but not a local user.
const PEOPLE_LOADED: &[Person<'static>] = &[
    Person { uid: "alice", password: "alice-dir", in_group: true },
    Person { uid: "bob", password: "bob-dir", in_group: true },
    Person { uid: "dave", password: "dave-dir", in_group: false },
    Person { uid: "erin", password: "erin-dir", in_group: true },
];

fn slapd() -> Option<Slapd> {
    Slapd::start(PEOPLE_LOADED)
}

/// How the user's entry is found.
#[derive(Clone, Copy)]
enum Find {
    Template,
    Search,
}

fn directory(c: &mut Config, d: &Slapd, find: Find) {
    c.auth.first_factor = FirstFactorOrder::One(Mechanism::Ldap);
    c.ldap.url = d.ldaps_url();
    c.ldap.ca_file = d.ca_file.clone();
    c.ldap.group_dn = GROUP_DN.into();
    c.ldap.connect_timeout_ms = 2000;
    c.ldap.operation_timeout_ms = 2000;
    match find {
        Find::Template => c.ldap.user_dn_template = format!("uid={{user}},{PEOPLE}"),
        Find::Search => {
            c.ldap.search_base = PEOPLE.into();
            c.ldap.bind_dn = SERVICE_DN.into();
            c.ldap.bind_password_file = Some(d.service_password_file());
        }
    }
    c.validate(Path::new("server.toml")).expect("a valid [ldap]");
}

fn audit_with(f: &Fixture, event: &str, outcome: &str) -> Vec<serde_json::Value> {
    audit_lines(f).into_iter().filter(|l| l["event"] == event && l["outcome"] == outcome).collect()
}

async fn first_factor_ok(f: &Fixture, user: &str, password: &str) -> Client {
    let mut c = Client::connect(f).await;
    let m = c.login(user, password).await;
    assert!(matches!(m, ServerMessage::FirstFactorOk { .. }), "{user}: {m:?}");
    c
}

async fn refused(f: &Fixture, user: &str, password: &str, state: &str, native: i32) {
    let mut c = Client::connect(f).await;
    assert_error(&c.login(user, password).await, state, native, true);
}

#[tokio::test]
async fn the_directory_password_and_a_totp_code_log_in_and_the_local_password_does_not() {
    let Some(d) = slapd() else { return };
    for find in [Find::Template, Find::Search] {
        let f = start(|c| directory(c, &d, find)).await;
        let mut c = first_factor_ok(&f, "alice", "alice-dir").await;
        assert_eq!(c.code(&code_now(&f)).await, ServerMessage::SecondFactorOk);
        // The local password is not a directory password.
        refused(&f, "alice", "alice-pw", "28000", 1001).await;
        let ok = audit_with(&f, "first_factor", "ok");
        assert_eq!(ok[0]["first_factor"], "ldap", "{ok:?}");
        let rejected = audit_with(&f, "login", "rejected");
        assert_eq!(rejected[0]["reason"], "wrong directory password");
        assert_eq!(rejected[0]["first_factor"], "ldap");
    }
}

#[tokio::test]
async fn starttls_over_ldap_works_and_a_certificate_from_another_ca_fails_closed() {
    let Some(d) = slapd() else { return };
    let f = start(|c| {
        directory(c, &d, Find::Template);
        c.ldap.url = d.ldap_url();
    })
    .await;
    first_factor_ok(&f, "alice", "alice-dir").await;
    // The server's own CA did not sign slapd's certificate.
    let f = start(|c| {
        directory(c, &d, Find::Template);
        c.ldap.ca_file = "ca.pem".into();
    })
    .await;
    refused(&f, "alice", "alice-dir", "08004", 1023).await;
}

#[tokio::test]
async fn wrong_directory_passwords_are_counted_and_a_locked_user_gets_no_bind() {
    let Some(d) = slapd() else { return };
    let f = start(|c| {
        directory(c, &d, Find::Template);
        c.auth.max_failed_passwords = 3;
        c.auth.backoff_base_ms = 0;
    })
    .await;
    for _ in 0..3 {
        refused(&f, "bob", "guess", "28000", 1001).await;
    }
    let store = SqliteUserStore::open(&f.data.join("users.db")).unwrap();
    assert!(store.user("bob").unwrap().unwrap().is_password_locked(f.clock.now()));
    let binds = d.binds_for(&person_dn("bob"));
    assert_eq!(binds, 3);
    // Locked: even the right password is refused, and the directory never hears of it.
    refused(&f, "bob", "bob-dir", "28000", 1003).await;
    assert_eq!(d.binds_for(&person_dn("bob")), binds);
    assert_eq!(audit_with(&f, "lockout", "locked").len(), 1);
}

#[tokio::test]
async fn a_user_outside_the_group_is_refused_as_a_wrong_login() {
    let Some(d) = slapd() else { return };
    for find in [Find::Template, Find::Search] {
        let f = start_with(|c| directory(c, &d, find), |data| add_user(data, "dave", "dave-pw", true)).await;
        refused(&f, "dave", "dave-dir", "28000", 1001).await;
        let rejected = audit_with(&f, "login", "rejected");
        assert_eq!(rejected[0]["reason"], "not a member of ldap.group_dn");
        let store = SqliteUserStore::open(&f.data.join("users.db")).unwrap();
        assert_eq!(store.user("dave").unwrap().unwrap().failed_first_factor, 1, "counted");
    }
}

#[tokio::test]
async fn a_directory_that_is_down_fails_closed_uncounted_and_logins_recover_when_it_returns() {
    let Some(mut d) = slapd() else { return };
    let f = start(|c| directory(c, &d, Find::Search)).await;
    let mut c = first_factor_ok(&f, "alice", "alice-dir").await;
    assert_eq!(c.code(&code_now(&f)).await, ServerMessage::SecondFactorOk);
    d.stop();
    for _ in 0..3 {
        refused(&f, "alice", "alice-dir", "08004", 1023).await;
    }
    let store = SqliteUserStore::open(&f.data.join("users.db")).unwrap();
    assert_eq!(store.user("alice").unwrap().unwrap().failed_first_factor, 0, "an outage is no guess");
    let down = audit_with(&f, "login", "unavailable");
    assert_eq!(down.len(), 3);
    assert_eq!(down[0]["first_factor"], "ldap");
    d.resume();
    f.clock.advance(30);
    let mut c = first_factor_ok(&f, "alice", "alice-dir").await;
    assert_eq!(c.code(&code_now(&f)).await, ServerMessage::SecondFactorOk);
}

#[tokio::test]
async fn injection_in_the_user_name_is_escaped_and_fails_as_a_wrong_login() {
    let Some(d) = slapd() else { return };
    let names = ["*", "al*", "alice)(uid=*", "*)(|(uid=*", "alice\0", "alice\\", "uid=alice,ou=people", " alice"];
    for find in [Find::Template, Find::Search] {
        let f = start(|c| directory(c, &d, find)).await;
        for name in names {
            refused(&f, name, "alice-dir", "28000", 1001).await;
        }
        // The directory still answers for the real name.
        first_factor_ok(&f, "alice", "alice-dir").await;
    }
}

#[tokio::test]
async fn the_cascade_falls_through_to_local_only_for_a_user_the_directory_does_not_know() {
    let Some(d) = slapd() else { return };
    let f = start_with(
        |c| {
            directory(c, &d, Find::Search);
            c.auth.first_factor = FirstFactorOrder::Cascade(vec![Mechanism::Ldap, Mechanism::Local]);
        },
        |data| add_user(data, "breakglass", "breakglass-pw", true),
    )
    .await;
    // Not in the directory: the local password decides.
    let mut c = first_factor_ok(&f, "breakglass", "breakglass-pw").await;
    assert_eq!(c.code(&code_now(&f)).await, ServerMessage::SecondFactorOk);
    let ok = audit_with(&f, "first_factor", "ok");
    assert_eq!((ok[0]["user"].as_str(), ok[0]["first_factor"].as_str()), (Some("breakglass"), Some("local")));
    refused(&f, "breakglass", "wrong", "28000", 1001).await;
    assert_eq!(audit_with(&f, "login", "rejected")[0]["first_factor"], "local");
    // In the directory: a wrong directory password does not fall through to the local one.
    refused(&f, "alice", "alice-pw", "28000", 1001).await;
    let last = audit_with(&f, "login", "rejected").pop().unwrap();
    assert_eq!((last["user"].as_str(), last["first_factor"].as_str()), (Some("alice"), Some("ldap")));
    first_factor_ok(&f, "alice", "alice-dir").await;
    // A user's own `local` setting skips the directory altogether (break-glass while it
    // is down).
    let store = SqliteUserStore::open(&f.data.join("users.db")).unwrap();
    store.set_first_factor("alice", Some(Mechanism::Local)).unwrap();
    let before = d.binds_for(&person_dn("alice"));
    first_factor_ok(&f, "alice", "alice-pw").await;
    assert_eq!(d.binds_for(&person_dn("alice")), before);
}

#[tokio::test]
async fn auto_provisioning_creates_a_directory_user_at_first_login_only_when_on() {
    let Some(d) = slapd() else { return };
    let off = start(|c| directory(c, &d, Find::Search)).await;
    refused(&off, "erin", "erin-dir", "28000", 1001).await;
    let rejected = audit_with(&off, "login", "rejected");
    assert!(rejected[0]["reason"].as_str().unwrap().contains("auto_provision is off"), "{rejected:?}");
    let store = SqliteUserStore::open(&off.data.join("users.db")).unwrap();
    assert!(store.user("erin").unwrap().is_none());

    let on = start(|c| {
        directory(c, &d, Find::Search);
        c.ldap.auto_provision = true;
    })
    .await;
    // A wrong password provisions nobody; nor does a spelling the directory only matches.
    refused(&on, "erin", "wrong", "28000", 1001).await;
    for other_spelling in ["ERIN", " erin"] {
        refused(&on, other_spelling, "erin-dir", "28000", 1001).await;
    }
    let store = SqliteUserStore::open(&on.data.join("users.db")).unwrap();
    assert_eq!(store.users().unwrap().iter().filter(|u| u.name.to_lowercase().contains("erin")).count(), 0);
    // The first directory login creates the user, who must then be enrolled.
    refused(&on, "erin", "erin-dir", "28000", 1006).await;
    assert_eq!(store.first_factor("erin").unwrap(), Some(Mechanism::Ldap));
    assert_eq!(audit_with(&on, "provision", "ok").len(), 1);
    let key = SecretsKey::load(&on.data.join("secrets.key")).unwrap();
    let sealed_secret = key.seal("erin", SECRET);
    store.set_totp("erin", &TotpEnrolment { sealed_secret, algorithm: "SHA1".into(), digits: 6 }).unwrap();
    let mut c = first_factor_ok(&on, "erin", "erin-dir").await;
    assert_eq!(c.code(&code_now(&on)).await, ServerMessage::SecondFactorOk);
    // No local password was made up for them: a local-only server does not know erin.
    assert!(twofactor_server::first_factor::is_directory_only(&store.user("erin").unwrap().unwrap().password_hash));
}

#[tokio::test]
async fn a_service_password_file_open_to_others_or_missing_stops_the_start() {
    use std::os::unix::fs::PermissionsExt;
    let Some(d) = slapd() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let opts =
        twofactor_server::init::InitOptions { listen: "127.0.0.1:0".into(), hostnames: vec!["localhost".into()] };
    twofactor_server::init::init_data_dir(&data, &opts).unwrap();
    let mut config = Config::load(&data).unwrap();
    directory(&mut config, &d, Find::Search);
    let open = dir.path().join("open.pw");
    std::fs::write(&open, "service-secret").unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    config.ldap.bind_password_file = Some(open);
    let clock = std::sync::Arc::new(ManualClock::new(T0));
    let e = Server::start(config.clone(), clock.clone()).await.err().expect("refused");
    assert!(e.to_string().contains("chmod 600") && e.to_string().contains("[ldap]"), "{e}");
    config.ldap.bind_password_file = Some(dir.path().join("missing.pw"));
    let e = Server::start(config, clock).await.err().expect("refused");
    assert!(e.to_string().contains("ldap.bind_password_file"), "{e}");
    assert!(!e.to_string().contains("service-secret"));
}

/// One HTTP/1.1 request to the enrolment page over TLS verified against the server's CA
/// (the fixture's connector); the whole response as text.
async fn web_request(f: &Fixture, request: String) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = f.server.enrol_web_addr().expect("[enrol_web] is on");
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = f.connector.connect(name, tcp).await.unwrap();
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    String::from_utf8(out).unwrap()
}

fn between<'a>(text: &'a str, before: &str, after: &str) -> &'a str {
    let start = text.find(before).unwrap_or_else(|| panic!("no {before:?} in {text}")) + before.len();
    &text[start..start + text[start..].find(after).unwrap()]
}

#[tokio::test]
async fn the_enrolment_page_takes_the_directory_password_not_a_stale_local_one() {
    let Some(d) = slapd() else { return };
    // erin is a directory user with a local password left over from before the site moved
    // to the directory: the page must ask for what a login asks for.
    let f = start_with(
        |c| {
            directory(c, &d, Find::Template);
            c.enrol_web.enabled = true;
            c.enrol_web.listen = "127.0.0.1:0".into();
        },
        |data| add_user(data, "erin", "erin-old-local", false),
    )
    .await;
    let token = "ldap-enrolment-link-token-0123456789abcdef";
    let store = SqliteUserStore::open(&f.data.join("users.db")).unwrap();
    let id_hash = twofactor_server::store::ticket_id_hash(token.as_bytes());
    let link = NewEnrolLink { id_hash: &id_hash, user: "erin", issued_at: T0, expires_at: T0 + 3600, reset: false };
    store.issue_enrol_link(&link).unwrap();

    let path = format!("/enrol/{token}");
    let page = web_request(&f, format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")).await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let cookie = between(&page, "__Host-tf-enrol=", ";").to_owned();
    let csrf = between(&page, "name=\"csrf\" value=\"", "\"").to_owned();
    let post = |password: &str| {
        let csrf: String = csrf.bytes().map(|b| format!("%{b:02X}")).collect();
        let body = format!("csrf={csrf}&step=password&password={password}");
        format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nCookie: __Host-tf-enrol={cookie}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let stale = web_request(&f, post("erin-old-local")).await;
    assert!(stale.contains("That password is not right"), "{stale}");
    let refused = audit_with(&f, "enrol_web_password", "failed");
    assert_eq!(refused.len(), 1, "the stale local password is a counted failure");
    let key_page = web_request(&f, post("erin-dir")).await;
    assert!(key_page.starts_with("HTTP/1.1 200") && key_page.contains("data:image/png"), "{key_page}");
    assert_eq!(audit_with(&f, "enrol_web_password", "ok").len(), 1);
    assert!(d.binds_for(&person_dn("erin")) >= 2, "both passwords were checked by the directory");
}
