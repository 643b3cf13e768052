//! Acceptance-test harness: real Terraform CLI, real servers, the built provider.
//!
//! - [`tools`]: where the binaries are (`.tools/`, env overrides) and child
//!   processes that die with the test process.
//! - [`bao`]: an OpenBao dev server per test binary ([`bao::Bao::shared`]).
//! - [`terraform`]: a temp working directory driving the Terraform CLI with a
//!   `dev_overrides` CLI config for our provider.
//! - [`http_request`]: a tiny std-only HTTP/1.1 client for health checks and setup.

pub mod bao;
pub mod postgres;
pub mod sims;
pub mod terraform;
pub mod tools;

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// A plain HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub body: String,
}

impl HttpResponse {
    /// The body parsed as JSON (`Value::Null` for an empty body).
    pub fn json(&self) -> io::Result<serde_json::Value> {
        if self.body.trim().is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_str(&self.body).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("response body is not JSON ({e}): {}", self.body),
            )
        })
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// One HTTP/1.1 request over plain TCP (`Connection: close`). `base` is
/// `http://host:port` or `host:port`; https is not supported. `headers` are
/// extra `(name, value)` pairs; a body is sent as `application/json`.
pub fn http_request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
    timeout: Duration,
) -> io::Result<HttpResponse> {
    let hostport = match base.strip_prefix("http://") {
        Some(rest) => rest.trim_end_matches('/'),
        None if base.starts_with("https://") => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "http_request supports plain http only",
            ))
        }
        None => base.trim_end_matches('/'),
    };
    let addr = hostport.to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("no address for {hostport}"),
        )
    })?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;

    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n\
         Accept: application/json\r\nUser-Agent: stack-acceptance-tests\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes())?;
    stream.flush()?;

    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw)
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn parse_response(raw: &[u8]) -> io::Result<HttpResponse> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid("incomplete HTTP response (no header end)"))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut body = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| invalid(format!("bad status line: {status_line}")))?;
    let mut chunked = false;
    let mut content_length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked") {
            chunked = true;
        } else if name.eq_ignore_ascii_case("content-length") {
            content_length = value.parse::<usize>().ok();
        }
    }
    let decoded;
    if chunked {
        decoded = decode_chunked(body)?;
        body = &decoded;
    } else if let Some(len) = content_length {
        body = &body[..len.min(body.len())];
    }
    Ok(HttpResponse {
        status,
        body: String::from_utf8_lossy(body).into_owned(),
    })
}

fn decode_chunked(mut data: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| invalid("bad chunk header"))?;
        let size_str = String::from_utf8_lossy(&data[..eol]);
        let size_hex = size_str.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| invalid(format!("bad chunk size {size_hex:?}")))?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size {
            return Err(invalid("truncated chunk"));
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or_default();
    }
}

/// A random lowercase hex string of `len` characters (std-only; not crypto-grade).
pub fn random_hex(len: usize) -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut out = String::with_capacity(len + 16);
    while out.len() < len {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u32(std::process::id());
        if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            h.write_u128(d.as_nanos());
        }
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(len);
    out
}

/// A unique resource-name prefix such as `acc-3f9a1c2e` for test isolation.
pub fn random_name(prefix: &str) -> String {
    format!("{prefix}-{}", random_hex(8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_length_and_chunked() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}xx").expect("parse");
        assert_eq!((r.status, r.body.as_str()), (200, "{}"));
        let r = parse_response(
            b"HTTP/1.1 429 Too Many\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=1\r\nde\r\n0\r\n\r\n",
        )
        .expect("parse");
        assert_eq!((r.status, r.body.as_str()), (429, "abcde"));
        assert!(parse_response(b"garbage").is_err());
    }

    #[test]
    fn random_hex_is_random() {
        let (a, b) = (random_hex(20), random_hex(20));
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
    }
}
