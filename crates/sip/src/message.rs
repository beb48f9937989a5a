//! Parsing, the few header facts every layer needs, and building responses.
//!
//! rsip keeps most headers as untyped strings; the transaction and dialog layers need only
//! a handful of facts (top Via, Call-ID, CSeq, tags). [`Info`] extracts them once per
//! message with plain string work, so the hot path never runs rsip's typed parsers.

use crate::normalize::{self, NormalizeError};
use rsip::headers::untyped::UntypedHeader;
use rsip::message::HasHeaders;
use rsip::{Header, Headers, Method, Request, Response, SipMessage, StatusCode};
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// RFC 3261 magic cookie that marks a compliant branch.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// Why a datagram or stream chunk is not a usable SIP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Framing-level problem (size, truncation, no header end).
    Normalize(NormalizeError),
    /// rsip refused the syntax.
    Syntax(String),
    /// A header every request/response must carry is missing or unreadable.
    MissingHeader(&'static str),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Normalize(e) => write!(f, "{e}"),
            Self::Syntax(e) => write!(f, "syntax: {e}"),
            Self::MissingHeader(h) => write!(f, "missing or bad {h} header"),
        }
    }
}

impl std::error::Error for ParseError {}

/// The transport a message came over or goes out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    /// Reliable transports need no retransmissions and zero wait timers (RFC 3261 §17).
    pub fn is_reliable(self) -> bool {
        matches!(self, Transport::Tcp)
    }
    /// The token used in Via headers.
    pub fn as_via(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
}

/// The top Via, read as the transaction layer needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopVia {
    pub transport: String,
    pub host: String,
    pub port: Option<u16>,
    pub branch: Option<String>,
    /// `rport` present (with or without a value), RFC 3581.
    pub rport: bool,
    pub received: Option<String>,
}

impl TopVia {
    /// Parses `SIP/2.0/UDP host:port;branch=..;rport`.
    pub fn parse(value: &str) -> Option<TopVia> {
        let mut parts = value.split(';');
        let sent = parts.next()?.trim();
        let (proto, by) = sent.split_once(char::is_whitespace)?;
        let transport = proto.rsplit('/').next()?.trim().to_ascii_uppercase();
        let by = by.trim();
        let (host, port) = split_host_port(by)?;
        let mut via = TopVia {
            transport,
            host,
            port,
            branch: None,
            rport: false,
            received: None,
        };
        for p in parts {
            let (k, v) = match p.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (p.trim(), None),
            };
            if k.eq_ignore_ascii_case("branch") {
                via.branch = v.map(str::to_string);
            } else if k.eq_ignore_ascii_case("rport") {
                via.rport = true;
            } else if k.eq_ignore_ascii_case("received") {
                via.received = v.map(str::to_string);
            }
        }
        Some(via)
    }

    /// "host:port" as it appears in the Via, used in server transaction keys.
    pub fn sent_by(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{}", self.host, p),
            None => self.host.clone(),
        }
    }
}

fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (h, tail) = rest.split_once(']')?;
        let port = match tail.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None => None,
        };
        return Some((h.to_string(), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), Some(p.parse().ok()?))),
        None => Some((s.to_string(), None)),
    }
}

/// The facts about a message that transactions and dialogs are keyed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    pub call_id: String,
    pub cseq: u32,
    pub cseq_method: Method,
    pub from_tag: Option<String>,
    pub to_tag: Option<String>,
    pub via: TopVia,
}

/// A parsed message with its [`Info`].
#[derive(Debug, Clone)]
pub struct Parsed {
    pub msg: SipMessage,
    pub info: Info,
}

/// Normalizes then parses one message; checks the mandatory headers.
pub fn parse(buf: &[u8], max: usize) -> Result<Parsed, ParseError> {
    let clean = normalize::normalize(buf, max).map_err(ParseError::Normalize)?;
    let msg =
        SipMessage::try_from(clean.as_slice()).map_err(|e| ParseError::Syntax(e.to_string()))?;
    let info = Info::extract(msg.headers())?;
    if let SipMessage::Request(r) = &msg {
        if r.method != info.cseq_method
            && !(r.method == Method::Ack && info.cseq_method == Method::Invite)
        {
            return Err(ParseError::MissingHeader(
                "CSeq (method differs from request line)",
            ));
        }
    }
    Ok(Parsed { msg, info })
}

impl Info {
    /// Reads the mandatory headers.
    pub fn extract(headers: &Headers) -> Result<Info, ParseError> {
        let via = first(headers, "Via")
            .and_then(TopVia::parse)
            .ok_or(ParseError::MissingHeader("Via"))?;
        let call_id = first(headers, "Call-ID")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or(ParseError::MissingHeader("Call-ID"))?
            .to_string();
        let (num, method) = first(headers, "CSeq")
            .and_then(|v| v.trim().split_once(char::is_whitespace))
            .ok_or(ParseError::MissingHeader("CSeq"))?;
        let cseq = num
            .trim()
            .parse::<u32>()
            .map_err(|_| ParseError::MissingHeader("CSeq"))?;
        let cseq_method = method
            .trim()
            .parse::<Method>()
            .map_err(|_| ParseError::MissingHeader("CSeq"))?;
        let from = first(headers, "From").ok_or(ParseError::MissingHeader("From"))?;
        let to = first(headers, "To").ok_or(ParseError::MissingHeader("To"))?;
        Ok(Info {
            call_id,
            cseq,
            cseq_method,
            from_tag: tag_param(from),
            to_tag: tag_param(to),
            via,
        })
    }
}

/// The name and value of any header, whatever rsip variant holds it.
pub fn name_value(h: &Header) -> (&str, &str) {
    macro_rules! nv {
        ($($v:ident => $n:expr),* $(,)?) => {
            match h {
                $(Header::$v(x) => ($n, x.value()),)*
                Header::Other(n, v) => (n.as_str(), v.as_str()),
            }
        };
    }
    nv!(
        Accept => "Accept", AcceptEncoding => "Accept-Encoding", AcceptLanguage => "Accept-Language",
        AlertInfo => "Alert-Info", Allow => "Allow", AuthenticationInfo => "Authentication-Info",
        Authorization => "Authorization", CSeq => "CSeq", CallId => "Call-ID", CallInfo => "Call-Info",
        Contact => "Contact", ContentDisposition => "Content-Disposition",
        ContentEncoding => "Content-Encoding", ContentLanguage => "Content-Language",
        ContentLength => "Content-Length", ContentType => "Content-Type", Date => "Date",
        ErrorInfo => "Error-Info", Event => "Event", Expires => "Expires", From => "From",
        InReplyTo => "In-Reply-To", MaxForwards => "Max-Forwards", MimeVersion => "MIME-Version",
        MinExpires => "Min-Expires", Organization => "Organization", Priority => "Priority",
        ProxyAuthenticate => "Proxy-Authenticate", ProxyAuthorization => "Proxy-Authorization",
        ProxyRequire => "Proxy-Require", RecordRoute => "Record-Route", ReplyTo => "Reply-To",
        Require => "Require", RetryAfter => "Retry-After", Route => "Route", Server => "Server",
        Subject => "Subject", SubscriptionState => "Subscription-State", Supported => "Supported",
        Timestamp => "Timestamp", To => "To", Unsupported => "Unsupported",
        UserAgent => "User-Agent", Via => "Via", Warning => "Warning",
        WwwAuthenticate => "WWW-Authenticate",
    )
}

/// The first value of a header by (case-insensitive) name.
pub fn first<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers.iter().find_map(|h| {
        let (n, v) = name_value(h);
        n.eq_ignore_ascii_case(name).then_some(v)
    })
}

/// Every value of a header by name, in message order.
pub fn all<'a>(headers: &'a Headers, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    headers.iter().filter_map(move |h| {
        let (n, v) = name_value(h);
        n.eq_ignore_ascii_case(name).then_some(v)
    })
}

/// The `tag` parameter of a From/To value (outside the angle brackets).
pub fn tag_param(value: &str) -> Option<String> {
    header_param(value, "tag")
}

/// A header parameter (after the URI's closing `>` when there is one).
pub fn header_param(value: &str, key: &str) -> Option<String> {
    let params = match value.rfind('>') {
        Some(i) => &value[i + 1..],
        None => value.split_once(';').map(|(_, p)| p).unwrap_or(""),
    };
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(key)
            .then(|| v.trim().to_string())
    })
}

/// The URI inside a name-addr (`"Name" <sip:x@y>;tag=1` → `sip:x@y`) or an addr-spec.
pub fn addr_uri(value: &str) -> &str {
    match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value.split(';').next().unwrap_or(value).trim(),
    }
}

/// The user part of a SIP URI (`sip:13800138000@host` → `13800138000`).
pub fn uri_user(uri: &str) -> Option<&str> {
    let rest = uri.split_once(':')?.1;
    let (user, _) = rest.split_once('@')?;
    Some(user.split(';').next().unwrap_or(user))
}

/// Where a response to a request goes over UDP: RFC 3261 §18.2.2 with RFC 3581 rport.
pub fn response_destination(via: &TopVia, source: SocketAddr) -> SocketAddr {
    if via.rport {
        return source;
    }
    let ip = via
        .received
        .as_deref()
        .and_then(|r| r.parse::<IpAddr>().ok())
        .or_else(|| via.host.parse::<IpAddr>().ok())
        .unwrap_or(source.ip());
    SocketAddr::new(ip, via.port.unwrap_or(5060))
}

/// Adds `received` and fills `rport` on the top Via of an incoming request (§18.2.1, RFC 3581).
pub fn stamp_top_via(req: &mut Request, source: SocketAddr) {
    for h in req.headers.iter_mut() {
        if let Header::Via(v) = h {
            let Some(top) = TopVia::parse(v.value()) else {
                return;
            };
            let value = stamped_via(v.value(), &top, source);
            v.replace(value);
            return;
        }
    }
}

/// A top Via value (`top` is it parsed) with `received` added and `rport` filled for a
/// request from `source` (§18.2.1, RFC 3581): what a response carries back.
pub fn stamped_via(value: &str, top: &TopVia, source: SocketAddr) -> String {
    let mut out = String::with_capacity(value.len() + 32);
    for (i, part) in value.split(';').enumerate() {
        let key = part.split('=').next().unwrap_or("").trim();
        if i > 0 && (key.eq_ignore_ascii_case("rport") || key.eq_ignore_ascii_case("received")) {
            continue;
        }
        if i > 0 {
            out.push(';');
        }
        out.push_str(part.trim());
    }
    if top.host != source.ip().to_string() || top.rport {
        out.push_str(&format!(";received={}", source.ip()));
    }
    if top.rport {
        out.push_str(&format!(";rport={}", source.port()));
    }
    out
}

/// `503 Service Unavailable` to `req` (with a fresh To-tag) saying when to try again: the
/// answer to a request refused for now, not for good.
pub fn unavailable(req: &Request, retry_after_secs: u32) -> Response {
    let mut r = response(req, 503, Some(&random_token(8)));
    r.headers
        .push(Header::RetryAfter(rsip::headers::RetryAfter::new(
            retry_after_secs.to_string(),
        )));
    r
}

/// Builds a response to `req`: copies Via, From, To, Call-ID, CSeq (§8.2.6.2) and adds a
/// To tag when given and the To has none.
pub fn response(req: &Request, code: u16, to_tag: Option<&str>) -> Response {
    let mut headers = Headers::default();
    for h in req.headers.iter() {
        match h {
            Header::Via(_) | Header::From(_) | Header::CallId(_) | Header::CSeq(_) => {
                headers.push(h.clone())
            }
            Header::To(to) => {
                let v = to.value();
                match (to_tag, tag_param(v)) {
                    (Some(t), None) if code > 100 => {
                        headers.push(Header::To(rsip::headers::To::new(format!("{v};tag={t}"))))
                    }
                    _ => headers.push(h.clone()),
                }
            }
            Header::Timestamp(_) if code == 100 => headers.push(h.clone()),
            // §12.1.1: a response that may make a dialog carries the proxies' Record-Route,
            // so the caller's ACK and BYE come back through them (Kamailio in front).
            Header::RecordRoute(_) if (101..300).contains(&code) => headers.push(h.clone()),
            _ => {}
        }
    }
    Response {
        status_code: status(code),
        version: rsip::Version::V2,
        headers,
        body: vec![],
    }
}

/// A status with its RFC 3261 §21 reason phrase (rsip would print its variant name,
/// e.g. `IntervalTooBrief`).
pub fn status(code: u16) -> StatusCode {
    StatusCode::Other(code, reason_phrase(code).to_string())
}

/// The standard reason phrase of a status code.
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        420 => "Bad Extension",
        422 => "Session Interval Too Small",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        489 => "Bad Event",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        513 => "Message Too Large",
        603 => "Decline",
        _ => "Unknown",
    }
}

/// Sets the body and its Content-Type/Content-Length on a message's headers.
pub fn set_body(headers: &mut Headers, body: &mut Vec<u8>, content_type: &str, data: Vec<u8>) {
    headers.retain(|h| !matches!(h, Header::ContentType(_) | Header::ContentLength(_)));
    headers.push(Header::ContentType(rsip::headers::ContentType::new(
        content_type,
    )));
    headers.push(Header::ContentLength(rsip::headers::ContentLength::new(
        data.len().to_string(),
    )));
    *body = data;
}

/// Ensures a message carries a correct Content-Length (rsip does not add one).
pub fn fix_content_length(headers: &mut Headers, body_len: usize) {
    headers.retain(|h| !matches!(h, Header::ContentLength(_)));
    headers.push(Header::ContentLength(rsip::headers::ContentLength::new(
        body_len.to_string(),
    )));
}

/// A new random token for tags and branches.
pub fn random_token(len: usize) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}

/// A new RFC 3261 branch.
pub fn new_branch() -> String {
    format!("{MAGIC_COOKIE}{}", random_token(16))
}

/// For a request rsip could not parse, builds a minimal 400/501 from its raw headers so the
/// sender learns why (§8.2, §21.4.2); None when even that is impossible (then drop and log).
pub fn raw_error_response(buf: &[u8], max: usize) -> Option<(u16, Vec<u8>, TopVia)> {
    if buf.len() > max * 4 {
        return None;
    }
    let (_, head_end) = normalize::find_header_end(buf).unwrap_or((buf.len(), buf.len()));
    let head = std::str::from_utf8(&buf[..head_end]).ok()?;
    let mut lines = head.lines();
    let start = lines.next()?.trim();
    let mut words = start.split(' ');
    let method = words.next()?;
    let _uri = words.next()?;
    if words.next()? != "SIP/2.0"
        || !method.bytes().all(|b| b.is_ascii_alphabetic())
        || method.is_empty()
    {
        return None;
    }
    if method.eq_ignore_ascii_case("ACK") {
        return None; // never answer an ACK
    }
    let code = if method.parse::<Method>().is_err() {
        501
    } else {
        400
    };
    let mut out = format!(
        "SIP/2.0 {code} {}\r\n",
        if code == 501 {
            "Not Implemented"
        } else {
            "Bad Request"
        }
    );
    let mut via = None;
    let mut seen = 0;
    for line in lines {
        let Some((n, v)) = line.split_once(':') else {
            continue;
        };
        let n = normalize::expand_compact(n.trim());
        let v = v.trim();
        for want in ["Via", "From", "To", "Call-ID", "CSeq"] {
            if n.eq_ignore_ascii_case(want) {
                if want == "Via" && via.is_none() {
                    via = TopVia::parse(v);
                }
                seen |= 1
                    << ["Via", "From", "To", "Call-ID", "CSeq"]
                        .iter()
                        .position(|w| *w == want)
                        .unwrap_or(0);
                out.push_str(&format!("{want}: {v}\r\n"));
            }
        }
    }
    if seen != 0b11111 {
        return None;
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    Some((code, out.into_bytes(), via?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:12345@127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKabc;rport\r\n\
From: \"Zhang San\" <sip:13800138000@10.0.0.1>;tag=f1\r\n\
To: <sip:12345@127.0.0.1>\r\n\
Call-ID: call-1@10.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Max-Forwards: 70\r\n\
Content-Length: 0\r\n\r\n";

    #[test]
    fn extracts_info() {
        let p = parse(INVITE.as_bytes(), 9999).unwrap();
        assert_eq!(p.info.call_id, "call-1@10.0.0.1");
        assert_eq!(p.info.cseq, 1);
        assert_eq!(p.info.cseq_method, Method::Invite);
        assert_eq!(p.info.from_tag.as_deref(), Some("f1"));
        assert_eq!(p.info.to_tag, None);
        assert_eq!(p.info.via.branch.as_deref(), Some("z9hG4bKabc"));
        assert!(p.info.via.rport);
        assert_eq!(p.info.via.sent_by(), "10.0.0.1:5070");
    }

    #[test]
    fn rport_routes_to_source() {
        let p = parse(INVITE.as_bytes(), 9999).unwrap();
        let src: SocketAddr = "192.0.2.9:40000".parse().unwrap();
        assert_eq!(response_destination(&p.info.via, src), src);
        let mut via = p.info.via.clone();
        via.rport = false;
        assert_eq!(
            response_destination(&via, src),
            "10.0.0.1:5070".parse().unwrap()
        );
        via.received = Some("192.0.2.9".into());
        assert_eq!(
            response_destination(&via, src),
            "192.0.2.9:5070".parse().unwrap()
        );
    }

    #[test]
    fn stamps_received_and_rport() {
        let SipMessage::Request(mut r) = parse(INVITE.as_bytes(), 9999).unwrap().msg else {
            panic!()
        };
        stamp_top_via(&mut r, "192.0.2.9:40000".parse().unwrap());
        let via = first(&r.headers, "Via").unwrap();
        assert_eq!(
            via,
            "SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKabc;received=192.0.2.9;rport=40000"
        );
    }

    #[test]
    fn builds_response_with_to_tag() {
        let SipMessage::Request(r) = parse(INVITE.as_bytes(), 9999).unwrap().msg else {
            panic!()
        };
        let mut resp = response(&r, 200, Some("srv1"));
        fix_content_length(&mut resp.headers, 0);
        let text = resp.to_string();
        assert!(text.starts_with("SIP/2.0 200 OK\r\n"), "{text}");
        assert!(text.contains("To: <sip:12345@127.0.0.1>;tag=srv1\r\n"));
        assert!(text.contains("Call-ID: call-1@10.0.0.1\r\n"));
        let back = parse(text.as_bytes(), 9999).unwrap();
        assert_eq!(back.info.to_tag.as_deref(), Some("srv1"));
        assert!(response(&r, 423, None)
            .to_string()
            .starts_with("SIP/2.0 423 Interval Too Brief\r\n"));
        let trying = response(&r, 100, Some("srv1")).to_string();
        assert!(trying.contains("To: <sip:12345@127.0.0.1>\r\n"));
    }

    #[test]
    fn dialog_responses_copy_record_route() {
        let rr = INVITE.replace(
            "Max-Forwards",
            "Record-Route: <sip:10.0.0.10;lr>\r\nRecord-Route: <sip:10.0.0.9;lr>\r\nMax-Forwards",
        );
        let SipMessage::Request(r) = parse(rr.as_bytes(), 9999).unwrap().msg else {
            panic!()
        };
        let ok = response(&r, 200, Some("srv1")).to_string();
        assert!(
            ok.contains("Record-Route: <sip:10.0.0.10;lr>\r\nRecord-Route: <sip:10.0.0.9;lr>\r\n"),
            "{ok}"
        );
        assert!(response(&r, 180, Some("srv1"))
            .to_string()
            .contains("Record-Route"));
        assert!(!response(&r, 100, None).to_string().contains("Record-Route"));
        assert!(!response(&r, 486, Some("srv1"))
            .to_string()
            .contains("Record-Route"));
    }

    #[test]
    fn missing_headers_are_errors() {
        let no_callid = INVITE.replace("Call-ID: call-1@10.0.0.1\r\n", "");
        assert_eq!(
            parse(no_callid.as_bytes(), 9999).unwrap_err(),
            ParseError::MissingHeader("Call-ID")
        );
        let bad_cseq = INVITE.replace("CSeq: 1 INVITE", "CSeq: x INVITE");
        assert_eq!(
            parse(bad_cseq.as_bytes(), 9999).unwrap_err(),
            ParseError::MissingHeader("CSeq")
        );
    }

    #[test]
    fn raw_errors_for_unknown_methods_and_garbage() {
        let unknown = INVITE
            .replace("INVITE sip", "FOO sip")
            .replace("1 INVITE", "1 FOO");
        let (code, text, _) = raw_error_response(unknown.as_bytes(), 9999).unwrap();
        assert_eq!(code, 501);
        assert!(String::from_utf8(text)
            .unwrap()
            .contains("Call-ID: call-1@10.0.0.1"));
        assert!(raw_error_response(b"\x00\x01garbage", 9999).is_none());
        assert!(raw_error_response(b"ACK sip:x SIP/2.0\r\n\r\n", 9999).is_none());
    }

    #[test]
    fn uri_helpers() {
        assert_eq!(
            addr_uri("\"A\" <sip:138@h;user=phone>;tag=1"),
            "sip:138@h;user=phone"
        );
        assert_eq!(uri_user("sip:138@h;user=phone"), Some("138"));
        assert_eq!(uri_user("tel:138"), None);
        assert_eq!(
            header_param("<sip:a@b;tag=no>;tag=yes", "tag").as_deref(),
            Some("yes")
        );
    }
}
