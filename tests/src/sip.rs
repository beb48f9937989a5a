//! Raw SIP over a UDP socket, for what SIPp cannot send (garbage, broken requests) and for
//! exact checks (which response codes, how many retransmissions).

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// A UDP SIP peer on 127.0.0.1 talking to one server.
pub struct RawSip {
    pub socket: UdpSocket,
    pub local: SocketAddr,
    pub server: SocketAddr,
}

impl RawSip {
    pub fn new(server: SocketAddr) -> RawSip {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind raw SIP socket");
        let local = socket.local_addr().unwrap();
        RawSip {
            socket,
            local,
            server,
        }
    }

    /// Sends bytes as one datagram.
    pub fn send(&self, bytes: &[u8]) {
        self.socket
            .send_to(bytes, self.server)
            .expect("send datagram");
    }

    /// The next datagram within `timeout`, as text.
    pub fn recv(&self, timeout: Duration) -> Option<String> {
        self.socket
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .unwrap();
        let mut buf = vec![0u8; 65_536];
        let (n, _) = self.socket.recv_from(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// Every datagram received within `window`.
    pub fn recv_all(&self, window: Duration) -> Vec<String> {
        let end = Instant::now() + window;
        let mut out = Vec::new();
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            if left.is_zero() {
                break;
            }
            if let Some(m) = self.recv(left) {
                out.push(m);
            }
        }
        out
    }

    /// Waits (at most `timeout`) for a final response (>= 200) and returns it; provisional
    /// responses are skipped.
    pub fn final_response(&self, timeout: Duration) -> Option<String> {
        let end = Instant::now() + timeout;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            let msg = self.recv(left)?;
            if status(&msg).is_some_and(|c| c >= 200) {
                return Some(msg);
            }
        }
        None
    }

    /// A Via header value for this peer with `branch`.
    pub fn via(&self, branch: &str) -> String {
        format!("SIP/2.0/UDP {};branch=z9hG4bK{branch};rport", self.local)
    }

    /// An INVITE to `number` offering PCMU/PCMA/telephone-event at `rtp_port` (or the
    /// given SDP `m=` line payload types), from this peer.
    pub fn invite(
        &self,
        number: &str,
        call_id: &str,
        branch: &str,
        rtp_port: u16,
        payloads: &str,
    ) -> String {
        let sdp = sdp(rtp_port, payloads);
        format!(
            "INVITE sip:{number}@{server} SIP/2.0\r\n\
             Via: {via}\r\n\
             Max-Forwards: 70\r\n\
             From: \"13800138000\" <sip:13800138000@{local}>;tag=raw{branch}\r\n\
             To: <sip:{number}@{server}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: 1 INVITE\r\n\
             Contact: <sip:13800138000@{local}>\r\n\
             Content-Type: application/sdp\r\n\
             Content-Length: {len}\r\n\r\n{sdp}",
            server = self.server,
            local = self.local,
            via = self.via(branch),
            len = sdp.len(),
        )
    }
}

/// An SDP offer for 127.0.0.1:`port` with `payloads` such as `"0 8 101"` (rtpmap lines for
/// 0, 8, 18 and 101 are added as needed).
pub fn sdp(port: u16, payloads: &str) -> String {
    let mut s = format!(
        "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP {payloads}\r\n"
    );
    for pt in payloads.split_whitespace() {
        match pt {
            "0" => s += "a=rtpmap:0 PCMU/8000\r\n",
            "8" => s += "a=rtpmap:8 PCMA/8000\r\n",
            "18" => s += "a=rtpmap:18 G729/8000\r\n",
            "101" => s += "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n",
            _ => {}
        }
    }
    s + "a=sendrecv\r\n"
}

/// The status code of a response (None for a request).
pub fn status(msg: &str) -> Option<u16> {
    let line = msg.lines().next()?;
    let rest = line.strip_prefix("SIP/2.0 ")?;
    rest.get(..3)?.parse().ok()
}

/// The request method (None for a response).
pub fn method(msg: &str) -> Option<&str> {
    let line = msg.lines().next()?;
    if line.starts_with("SIP/2.0") {
        return None;
    }
    line.split_whitespace().next()
}

/// The first value of header `name` (case-insensitive, compact forms too).
pub fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    let compact = match name.to_ascii_lowercase().as_str() {
        "via" => "v",
        "from" => "f",
        "to" => "t",
        "call-id" => "i",
        "contact" => "m",
        "content-length" => "l",
        "content-type" => "c",
        _ => "",
    };
    let head = msg.split("\r\n\r\n").next().unwrap_or(msg);
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        let n = n.trim();
        (n.eq_ignore_ascii_case(name) || (!compact.is_empty() && n.eq_ignore_ascii_case(compact)))
            .then(|| v.trim())
    })
}

/// A 200 OK answering `request` (copying Via, From, To, Call-ID, CSeq).
pub fn ok_for(request: &str) -> String {
    let mut out = String::from("SIP/2.0 200 OK\r\n");
    let head = request.split("\r\n\r\n").next().unwrap_or(request);
    for line in head.lines().skip(1) {
        let name = line
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if ["via", "v", "from", "f", "to", "t", "call-id", "i", "cseq"].contains(&name.as_str()) {
            out += line.trim_end();
            out += "\r\n";
        }
    }
    out + "Content-Length: 0\r\n\r\n"
}
