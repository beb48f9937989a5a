//! A lenient front door for rsip.
//!
//! rsip 0.4 parses strictly and silently misreads some things real peers send. Before a
//! datagram (or a framed TCP message) reaches rsip it is rewritten into the one canonical
//! shape rsip understands:
//!
//! - LF-only line ends become CRLF (RFC 3261 §7.5 asks receivers to be tolerant);
//! - folded header lines (a line starting with SP/HTAB continues the previous one, §7.3.1)
//!   are joined;
//! - compact header names (`v f t i m l c k s e o r u`, §7.3.3 and extensions) are expanded;
//! - a Via header carrying several values separated by commas is split into one header
//!   per value, so "the top Via" means the same thing to every layer;
//! - the body is cut to Content-Length; a body shorter than Content-Length is an error
//!   (a truncated datagram), as is a message larger than the configured limit.
//!
//! Hand-written on purpose: no maintained crate does this for rsip, and it is small.

use std::fmt;

/// Largest message we accept; larger ones are refused before parsing (RFC 3261 §18.1.1
/// suggests 1300 bytes for UDP paths; real INVITEs with big SDP stay well under this).
pub const DEFAULT_MAX_MESSAGE: usize = 16 * 1024;

/// Why a message could not be normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NormalizeError {
    /// No blank line separating the headers from the body.
    NoHeaderEnd,
    /// The header section is not UTF-8.
    NotUtf8,
    /// The message is larger than the limit.
    TooLarge { len: usize, max: usize },
    /// Content-Length says more bytes than arrived.
    Truncated { declared: usize, got: usize },
    /// Content-Length is not a number.
    BadContentLength,
    /// The start line is missing or empty.
    NoStartLine,
}

impl fmt::Display for NormalizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoHeaderEnd => write!(f, "no blank line after the headers"),
            Self::NotUtf8 => write!(f, "headers are not UTF-8"),
            Self::TooLarge { len, max } => write!(f, "message of {len} bytes exceeds {max}"),
            Self::Truncated { declared, got } => {
                write!(f, "Content-Length {declared} but only {got} body bytes")
            }
            Self::BadContentLength => write!(f, "Content-Length is not a number"),
            Self::NoStartLine => write!(f, "no start line"),
        }
    }
}

impl std::error::Error for NormalizeError {}

/// Expands a compact header name (RFC 3261 §7.3.3, RFC 3265, RFC 3515, RFC 3891…).
pub fn expand_compact(name: &str) -> &str {
    if name.len() != 1 {
        return name;
    }
    match name.as_bytes()[0].to_ascii_lowercase() {
        b'v' => "Via",
        b'f' => "From",
        b't' => "To",
        b'i' => "Call-ID",
        b'm' => "Contact",
        b'l' => "Content-Length",
        b'c' => "Content-Type",
        b'k' => "Supported",
        b's' => "Subject",
        b'e' => "Content-Encoding",
        b'o' => "Event",
        b'r' => "Refer-To",
        b'u' => "Allow-Events",
        b'b' => "Referred-By",
        b'x' => "Session-Expires",
        _ => name,
    }
}

/// Finds the end of the header section: returns (index of first body byte, header text end).
pub fn find_header_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i < buf.len() {
        if buf[i] == b'\n' {
            // "\n\n" or "\n\r\n"
            if buf.get(i + 1) == Some(&b'\n') {
                return Some((i + 2, i));
            }
            if buf.get(i + 1) == Some(&b'\r') && buf.get(i + 2) == Some(&b'\n') {
                return Some((i + 3, i));
            }
        }
        i += 1;
    }
    None
}

/// Splits a header value on commas that are not inside quotes or angle brackets.
fn split_top_level_commas(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut angle, mut start) = (false, false, 0);
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b'<' if !quoted => angle = true,
            b'>' if !quoted => angle = false,
            b',' if !quoted && !angle => {
                out.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(value[start..].trim());
    out.retain(|s| !s.is_empty());
    out
}

/// One header line after unfolding: name and value, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawHeader<'a> {
    pub name: &'a str,
    pub value: String,
}

/// Rewrites `buf` into canonical CRLF form with expanded names, split Vias and the body cut
/// to Content-Length. The output is what rsip gets to parse.
pub fn normalize(buf: &[u8], max: usize) -> Result<Vec<u8>, NormalizeError> {
    if buf.len() > max {
        return Err(NormalizeError::TooLarge {
            len: buf.len(),
            max,
        });
    }
    // Leading CRLFs are keep-alives or stray line ends (RFC 3261 §7.5): skip them.
    let start = buf
        .iter()
        .position(|b| *b != b'\r' && *b != b'\n')
        .unwrap_or(buf.len());
    let buf = &buf[start..];
    let (body_start, head_end) = find_header_end(buf).ok_or(NormalizeError::NoHeaderEnd)?;
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| NormalizeError::NotUtf8)?;
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let start_line = lines
        .next()
        .filter(|l| !l.trim().is_empty())
        .ok_or(NormalizeError::NoStartLine)?;

    // Unfold continuation lines into logical header lines.
    let mut logical: Vec<String> = Vec::with_capacity(16);
    for line in lines {
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some(last) = logical.last_mut() {
                last.push(' ');
                last.push_str(line.trim());
                continue;
            }
        }
        if !line.is_empty() {
            logical.push(line.to_string());
        }
    }

    let mut out = Vec::with_capacity(buf.len() + 64);
    out.extend_from_slice(start_line.trim_end().as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut content_length: Option<usize> = None;
    for line in &logical {
        let Some((name, value)) = line.split_once(':') else {
            // A header line without a colon: drop it rather than fail the whole message.
            continue;
        };
        let name = expand_compact(name.trim());
        let value = value.trim();
        if name.eq_ignore_ascii_case("Content-Length") {
            let n = value
                .parse::<usize>()
                .map_err(|_| NormalizeError::BadContentLength)?;
            content_length = Some(n);
            continue; // re-emitted below with the real length
        }
        if name.eq_ignore_ascii_case("Via") {
            for v in split_top_level_commas(value) {
                push_header(&mut out, "Via", v);
            }
            continue;
        }
        push_header(&mut out, name, value);
    }
    let available = buf.len() - body_start;
    let body_len = match content_length {
        Some(n) if n > available => {
            return Err(NormalizeError::Truncated {
                declared: n,
                got: available,
            })
        }
        Some(n) => n,
        // Over UDP a missing Content-Length means "the rest of the datagram" (§18.3).
        None => available,
    };
    push_header(&mut out, "Content-Length", &body_len.to_string());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&buf[body_start..body_start + body_len]);
    Ok(out)
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        String::from_utf8(normalize(s.as_bytes(), DEFAULT_MAX_MESSAGE).unwrap()).unwrap()
    }

    #[test]
    fn expands_compact_names_and_lf_only() {
        let s = norm("OPTIONS sip:a@b SIP/2.0\nv: SIP/2.0/UDP h;branch=z9hG4bK1\nf: <sip:x@y>;tag=1\nt: <sip:a@b>\ni: abc\nCSeq: 1 OPTIONS\nl: 0\n\n");
        assert!(s.contains("\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"));
        assert!(s.contains("\r\nFrom: <sip:x@y>;tag=1\r\n"));
        assert!(s.contains("\r\nCall-ID: abc\r\n"));
        assert!(s.ends_with("Content-Length: 0\r\n\r\n"));
    }

    #[test]
    fn unfolds_continuation_lines() {
        let s = norm("OPTIONS sip:a@b SIP/2.0\r\nSubject: I know you're there,\r\n   pick up the phone\r\n\r\n");
        assert!(s.contains("Subject: I know you're there, pick up the phone\r\n"));
    }

    #[test]
    fn splits_comma_joined_vias_but_not_quoted_commas() {
        let s = norm("OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b:5070;branch=z9hG4bK2\r\nFrom: \"Doe, John\" <sip:j@d>;tag=9\r\n\r\n");
        assert!(s.contains(
            "Via: SIP/2.0/UDP a;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP b:5070;branch=z9hG4bK2\r\n"
        ));
        assert!(s.contains("From: \"Doe, John\" <sip:j@d>;tag=9\r\n"));
    }

    #[test]
    fn cuts_body_to_content_length_and_detects_truncation() {
        let s = norm("MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 3\r\n\r\nabcdef");
        assert!(s.ends_with("\r\n\r\nabc"));
        let e = normalize(
            b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 30\r\n\r\nabc",
            9999,
        );
        assert_eq!(
            e,
            Err(NormalizeError::Truncated {
                declared: 30,
                got: 3
            })
        );
    }

    #[test]
    fn refuses_oversize_garbage_and_headerless() {
        assert!(matches!(
            normalize(&[b'x'; 100], 50),
            Err(NormalizeError::TooLarge { .. })
        ));
        assert_eq!(normalize(b"hello", 50), Err(NormalizeError::NoHeaderEnd));
        assert_eq!(normalize(b"\r\n\r\n", 50), Err(NormalizeError::NoHeaderEnd));
        assert_eq!(
            normalize(&[0xff, 0xfe, b'\n', b'\n'], 50),
            Err(NormalizeError::NotUtf8)
        );
        assert_eq!(
            normalize(b"A sip:x SIP/2.0\r\nContent-Length: x\r\n\r\n", 99),
            Err(NormalizeError::BadContentLength)
        );
    }
}
