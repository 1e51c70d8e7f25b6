//! Behind a TCP balancer that sends the PROXY protocol (v2), the server sees each client's
//! own address: the per-address throttle blocks the guessing client and not everyone
//! behind the balancer, and the log names the client. Headers are honoured only from
//! `server.proxy_protocol_from`, and required from there.

mod common;
mod fleet;

use std::net::SocketAddr;

use common::assert_error;
use fleet::{connect_after, connect_via, logged_in, login, set, Layout};
use ppp::v2::{Builder, Command, Protocol, Version};

fn proxy_header(client: &str, server: SocketAddr) -> Vec<u8> {
    let addresses = (client.parse::<SocketAddr>().unwrap(), server);
    Builder::with_addresses(Version::Two | Command::Proxy, Protocol::Stream, addresses).build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_address_a_trusted_balancer_names_is_the_one_throttled_and_logged() {
    let root = tempfile::tempdir().unwrap();
    let layout = Layout::new(root.path(), |t| {
        set(t, "server", "proxy_protocol_from", toml::Value::Array(vec!["127.0.0.1".into()]));
        set(t, "auth", "address_max_failures", 3);
        set(t, "auth", "backoff_base_ms", 0);
    });
    layout.add_password_user("alice", "alice-pw");
    let server = layout.start("a");
    let guesser = "203.0.113.7:4242";
    for _ in 0..3 {
        let mut c = connect_after(server.addr, &server.connector, &proxy_header(guesser, server.addr)).await.unwrap();
        assert_error(&login(&mut c, "alice", "wrong", None).await, "28000", 1001, true);
    }
    let mut c = connect_after(server.addr, &server.connector, &proxy_header(guesser, server.addr)).await.unwrap();
    assert_error(&login(&mut c, "alice", "alice-pw", None).await, "28000", 1009, true);
    // Another client through the same balancer is not blocked by the guesser's failures.
    let other = "198.51.100.9:5151";
    let mut c = connect_after(server.addr, &server.connector, &proxy_header(other, server.addr)).await.unwrap();
    assert!(logged_in(&login(&mut c, "alice", "alice-pw", None).await));
    // The server logs the login just after its answer.
    let wanted = [format!("{other}: user `alice` logged in"), format!("{guesser}: address blocked")];
    let logged = fleet::eventually(std::time::Duration::from_secs(5), || {
        let log = server.log_text();
        wanted.iter().all(|w| log.contains(w.as_str()))
    });
    assert!(logged.await, "{wanted:?} in:\n{}", server.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_address_must_send_the_header_and_others_cannot() {
    let root = tempfile::tempdir().unwrap();
    let trusting = Layout::new(&root.path().join("t"), |t| {
        set(t, "server", "proxy_protocol_from", toml::Value::Array(vec!["127.0.0.1".into()]));
    });
    trusting.add_password_user("alice", "alice-pw");
    let plain = Layout::new(&root.path().join("p"), |_| {});
    plain.add_password_user("alice", "alice-pw");
    let (t, p) = (trusting.start("t"), plain.start("p"));
    // From a listed address without a header (a client that bypassed the balancer).
    assert!(connect_via(t.addr, &t.connector).await.is_err(), "dropped");
    assert!(
        fleet::eventually(std::time::Duration::from_secs(5), || t.log_text().contains("no PROXY v2 signature")).await,
        "{}",
        t.log_text()
    );
    // A server that lists no balancer does not read headers: a client claiming another
    // address with one gets no TLS session at all.
    let forged = proxy_header("192.0.2.1:1", p.addr);
    assert!(connect_after(p.addr, &p.connector, &forged).await.is_err(), "a forged header is not honoured");
    let mut c = connect_via(p.addr, &p.connector).await.unwrap();
    assert!(logged_in(&login(&mut c, "alice", "alice-pw", None).await), "direct clients are served as before");
}
