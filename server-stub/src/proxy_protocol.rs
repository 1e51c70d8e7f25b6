//! The PROXY protocol, version 2 (HAProxy's `send-proxy-v2`): behind a TCP balancer the
//! connection comes from the balancer, and the client's own address, which the
//! per-address throttle, the pending-login cap and the audit log need, arrives in a
//! binary header before TLS. It is read only from the addresses listed in
//! `server.proxy_protocol_from` (anyone else could claim any address), and from them it
//! is required. The header is parsed by the `ppp` crate; this module only bounds how
//! much is read, so nothing past the header (the TLS ClientHello) is consumed.

use std::net::SocketAddr;

use ppp::v2::{Addresses, Command, Header};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Signature (12 bytes), version and command, family and protocol, length (2 bytes).
const FIXED_LEN: usize = 16;
/// Longest address-and-TLV part accepted: addresses take at most 216 bytes (two Unix
/// paths), and HAProxy's TLVs (ALPN, authority, unique id) fit easily.
const MAX_VARIABLE_LEN: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ProxyHeaderError {
    #[error("connection closed before the PROXY header was complete")]
    Read(#[from] std::io::Error),
    #[error("not a PROXY protocol v2 header: {0}")]
    Invalid(String),
    #[error("a PROXY header of {0} bytes (at most {MAX_VARIABLE_LEN} after the fixed part)")]
    TooLong(usize),
    #[error("the PROXY header names no IP address (family {0})")]
    NotIp(&'static str),
}

/// Reads the header from a trusted balancer and returns the client's address it names,
/// or `peer` itself for a LOCAL header (a connection the balancer makes on its own).
pub(crate) async fn read_client_addr<S: AsyncRead + Unpin>(
    stream: &mut S,
    peer: SocketAddr,
) -> Result<SocketAddr, ProxyHeaderError> {
    let mut buf = vec![0u8; FIXED_LEN];
    stream.read_exact(&mut buf).await?;
    // Refused before the length is trusted: a TLS client that came straight from a
    // trusted address is told so, not waited for.
    if !buf.starts_with(ppp::v2::PROTOCOL_PREFIX) {
        return Err(ProxyHeaderError::Invalid("no PROXY v2 signature (a direct TLS client?)".into()));
    }
    let variable = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if variable > MAX_VARIABLE_LEN {
        return Err(ProxyHeaderError::TooLong(variable));
    }
    buf.resize(FIXED_LEN + variable, 0);
    stream.read_exact(&mut buf[FIXED_LEN..]).await?;
    let header = Header::try_from(buf.as_slice()).map_err(|e| ProxyHeaderError::Invalid(e.to_string()))?;
    match (header.command, header.addresses) {
        (Command::Local, _) => Ok(peer),
        (Command::Proxy, Addresses::IPv4(a)) => Ok(SocketAddr::from((a.source_address, a.source_port))),
        (Command::Proxy, Addresses::IPv6(a)) => Ok(SocketAddr::from((a.source_address, a.source_port))),
        (Command::Proxy, Addresses::Unix(_)) => Err(ProxyHeaderError::NotIp("unix")),
        (Command::Proxy, Addresses::Unspecified) => Err(ProxyHeaderError::NotIp("unspecified")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ppp::v2::{Builder, Protocol, Version};

    fn header(command: Command, from: &str, to: &str) -> Vec<u8> {
        let addresses = (from.parse::<SocketAddr>().unwrap(), to.parse::<SocketAddr>().unwrap());
        Builder::with_addresses(Version::Two | command, Protocol::Stream, addresses).build().unwrap()
    }

    #[tokio::test]
    async fn the_client_address_is_read_and_nothing_after_the_header() {
        let peer: SocketAddr = "10.0.0.2:40000".parse().unwrap();
        for (client, balancer) in [("203.0.113.7:4242", "10.0.0.1:7443"), ("[2001:db8::7]:4242", "[2001:db8::1]:7443")]
        {
            let mut bytes = header(Command::Proxy, client, balancer);
            bytes.extend_from_slice(b"\x16\x03\x01 the TLS ClientHello");
            let mut input = bytes.as_slice();
            assert_eq!(read_client_addr(&mut input, peer).await.unwrap(), client.parse::<SocketAddr>().unwrap());
            assert_eq!(input, b"\x16\x03\x01 the TLS ClientHello", "the TLS bytes are left for TLS");
        }
        let local = header(Command::Local, "203.0.113.7:4242", "10.0.0.1:7443");
        assert_eq!(read_client_addr(&mut local.as_slice(), peer).await.unwrap(), peer, "LOCAL: the balancer itself");
    }

    #[tokio::test]
    async fn a_direct_tls_client_a_short_header_and_a_huge_length_are_refused() {
        let peer: SocketAddr = "10.0.0.2:40000".parse().unwrap();
        let tls = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 and the rest of a ClientHello";
        let e = read_client_addr(&mut tls.as_slice(), peer).await.unwrap_err();
        assert!(matches!(e, ProxyHeaderError::Invalid(_)), "{e}");
        let full = header(Command::Proxy, "203.0.113.7:4242", "10.0.0.1:7443");
        let e = read_client_addr(&mut &full[..full.len() - 1], peer).await.unwrap_err();
        assert!(matches!(e, ProxyHeaderError::Read(_)), "{e}");
        let mut huge = full[..FIXED_LEN].to_vec();
        huge[14..16].copy_from_slice(&60000u16.to_be_bytes());
        let e = read_client_addr(&mut huge.as_slice(), peer).await.unwrap_err();
        assert!(matches!(e, ProxyHeaderError::TooLong(60000)), "{e}");
    }
}
