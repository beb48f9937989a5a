//! A tiny HTTP/1.0 client over a std `TcpStream` (enough for `/healthz` and `/api/...`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// GETs `path` from `addr`; returns the status code and body, or an error string.
pub fn get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    request(
        addr,
        &format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
}

/// GETs `path` with `Authorization: Bearer <token>` (the work-order API needs a session).
pub fn get_authorized(addr: SocketAddr, path: &str, token: &str) -> Result<(u16, String), String> {
    request(
        addr,
        &format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"),
    )
}

/// POSTs the JSON `body` to `path`; returns the status code and body, or an error string.
pub fn post_json(addr: SocketAddr, path: &str, body: &str) -> Result<(u16, String), String> {
    request(
        addr,
        &format!(
            "POST {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
}

/// POSTs the JSON `body` to `path` with `Authorization: Bearer <token>`.
pub fn post_json_authorized(
    addr: SocketAddr,
    path: &str,
    body: &str,
    token: &str,
) -> Result<(u16, String), String> {
    request(
        addr,
        &format!(
            "POST {path} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn request(addr: SocketAddr, req: &str) -> Result<(u16, String), String> {
    let timeout = Duration::from_secs(5);
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no end of headers")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    Ok((status, body.to_string()))
}
