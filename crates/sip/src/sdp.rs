//! SDP offer/answer (RFC 3264) for one audio stream, on the `sdp` crate.
//!
//! We answer an offer with the first codec of the offer that we support (the offerer's
//! preference order, §6.1), keep `telephone-event/8000` when offered, mirror the direction
//! (their `sendonly` is our `recvonly`, which is how a softphone puts us on hold), and say
//! why when we cannot (488 Not Acceptable Here).

use std::io::Cursor;
use std::net::{IpAddr, SocketAddr};

/// A codec we can speak: static payload type and encoding name (8 kHz).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodecSpec {
    pub pt: u8,
    pub name: &'static str,
}

/// G.711 µ-law then A-law: what the hotline speaks.
pub const G711: [CodecSpec; 2] = [
    CodecSpec {
        pt: 0,
        name: "PCMU",
    },
    CodecSpec {
        pt: 8,
        name: "PCMA",
    },
];

/// Media direction attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn attr(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }
    /// What we answer to a direction offered.
    pub fn reverse(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }
}

/// The result of negotiating an offer: everything the media layer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Where to send RTP; None when the offer holds (c=0.0.0.0) — learn it from RTP then.
    pub remote: Option<SocketAddr>,
    /// The chosen audio codec (payload type as offered, and encoding name).
    pub codec: CodecSpec,
    /// Payload type of telephone-event/8000, if offered.
    pub dtmf_pt: Option<u8>,
    /// The offer's direction (our answer reverses it).
    pub offered_direction: Direction,
}

/// Why an offer cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// Not parseable SDP.
    #[error("malformed SDP: {0}")]
    Malformed(String),
    /// No `m=audio` line with a non-zero port.
    #[error("no audio stream offered")]
    NoAudio,
    /// None of PCMU/PCMA offered.
    #[error("no common codec (we speak PCMU, PCMA)")]
    NoCommonCodec,
}

impl SdpError {
    /// The SIP status to answer the INVITE with.
    pub fn status(&self) -> u16 {
        match self {
            SdpError::Malformed(_) => 400,
            _ => 488,
        }
    }
}

/// Negotiates an offer against the codecs we support.
pub fn negotiate(offer: &[u8], supported: &[CodecSpec]) -> Result<Negotiated, SdpError> {
    let text = String::from_utf8_lossy(offer)
        .replace("\r\n", "\n")
        .replace('\n', "\r\n");
    let sd = sdp::SessionDescription::unmarshal(&mut Cursor::new(text.as_bytes()))
        .map_err(|e| SdpError::Malformed(e.to_string()))?;
    let md = sd
        .media_descriptions
        .iter()
        .find(|m| m.media_name.media == "audio" && m.media_name.port.value > 0)
        .ok_or(SdpError::NoAudio)?;
    let rtpmap = |pt: u8| -> Option<(String, u32)> {
        md.attributes
            .iter()
            .filter(|a| a.key == "rtpmap")
            .find_map(|a| {
                let v = a.value.as_deref()?;
                let (p, enc) = v.split_once(' ')?;
                if p.trim().parse::<u8>().ok()? != pt {
                    return None;
                }
                let mut it = enc.trim().split('/');
                Some((it.next()?.to_ascii_uppercase(), it.next()?.parse().ok()?))
            })
    };
    let pts: Vec<u8> = md
        .media_name
        .formats
        .iter()
        .filter_map(|f| f.parse().ok())
        .collect();
    let codec = pts
        .iter()
        .find_map(|&pt| {
            let (name, rate) = rtpmap(pt).unwrap_or_else(|| match pt {
                0 => ("PCMU".into(), 8000),
                8 => ("PCMA".into(), 8000),
                _ => (String::new(), 0),
            });
            supported
                .iter()
                .find(|c| c.name == name && rate == 8000)
                .map(|c| CodecSpec { pt, name: c.name })
        })
        .ok_or(SdpError::NoCommonCodec)?;
    let dtmf_pt = pts
        .iter()
        .copied()
        .find(|&pt| rtpmap(pt).is_some_and(|(n, r)| n == "TELEPHONE-EVENT" && r == 8000));
    let conn = md
        .connection_information
        .as_ref()
        .or(sd.connection_information.as_ref());
    let ip: Option<IpAddr> = conn
        .and_then(|c| c.address.as_ref())
        .and_then(|a| a.address.parse().ok());
    let port = u16::try_from(md.media_name.port.value)
        .map_err(|_| SdpError::Malformed("port out of range".into()))?;
    let remote = ip
        .filter(|ip| !ip.is_unspecified())
        .map(|ip| SocketAddr::new(ip, port));
    let has = |k: &str| md.attribute(k).is_some() || sd.attribute(k).is_some();
    let offered_direction = if has("inactive") {
        Direction::Inactive
    } else if has("sendonly") {
        Direction::SendOnly
    } else if has("recvonly") {
        Direction::RecvOnly
    } else {
        Direction::SendRecv
    };
    // RFC 3264 §8.4 old-style hold: c=0.0.0.0 means "do not send to me".
    let offered_direction = if remote.is_none() && offered_direction == Direction::SendRecv {
        Direction::SendOnly
    } else {
        offered_direction
    };
    Ok(Negotiated {
        remote,
        codec,
        dtmf_pt,
        offered_direction,
    })
}

/// Our SDP body: one audio stream at `local` with `codec` (+ telephone-event) and `direction`.
/// `version` must grow each time the session changes (o= line, RFC 4566 §5.2).
pub fn describe(
    local: SocketAddr,
    codec: CodecSpec,
    dtmf_pt: Option<u8>,
    direction: Direction,
    session_id: u64,
    version: u64,
) -> String {
    let ipv = if local.is_ipv4() { "IP4" } else { "IP6" };
    let ip = local.ip();
    let mut s = format!(
        "v=0\r\no=hotline {session_id} {version} IN {ipv} {ip}\r\ns=12345\r\nc=IN {ipv} {ip}\r\nt=0 0\r\nm=audio {} RTP/AVP {}",
        local.port(),
        codec.pt
    );
    if let Some(te) = dtmf_pt {
        s.push_str(&format!(" {te}"));
    }
    s.push_str(&format!(
        "\r\na=rtpmap:{} {}/8000\r\n",
        codec.pt, codec.name
    ));
    if let Some(te) = dtmf_pt {
        s.push_str(&format!(
            "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-16\r\n"
        ));
    }
    s.push_str(&format!("a=ptime:20\r\na={}\r\n", direction.attr()));
    s
}

/// Our offer (RFC 3264 §5): every codec we speak, in our order of preference, and
/// telephone-event; used for the agent leg, where we are the caller.
pub fn offer(
    local: SocketAddr,
    codecs: &[CodecSpec],
    dtmf_pt: u8,
    session_id: u64,
    version: u64,
) -> String {
    let ipv = if local.is_ipv4() { "IP4" } else { "IP6" };
    let ip = local.ip();
    let pts: Vec<String> = codecs
        .iter()
        .map(|c| c.pt.to_string())
        .chain(std::iter::once(dtmf_pt.to_string()))
        .collect();
    let mut s = format!(
        "v=0\r\no=hotline {session_id} {version} IN {ipv} {ip}\r\ns=12345\r\nc=IN {ipv} {ip}\r\nt=0 0\r\nm=audio {} RTP/AVP {}\r\n",
        local.port(),
        pts.join(" ")
    );
    for c in codecs {
        s.push_str(&format!("a=rtpmap:{} {}/8000\r\n", c.pt, c.name));
    }
    s.push_str(&format!("a=rtpmap:{dtmf_pt} telephone-event/8000\r\na=fmtp:{dtmf_pt} 0-16\r\na=ptime:20\r\na=sendrecv\r\n"));
    s
}

/// The answer to a negotiated offer.
pub fn answer(n: &Negotiated, local: SocketAddr, session_id: u64, version: u64) -> String {
    describe(
        local,
        n.codec,
        n.dtmf_pt,
        n.offered_direction.reverse(),
        session_id,
        version,
    )
}

/// The direction an SDP offer asks for on its first audio stream, read leniently without
/// negotiating codecs (a media-level attribute wins over a session-level one; `c=0.0.0.0`
/// is the old way to say `sendonly`, RFC 3264 §8.4). None when there is no audio stream.
pub fn offered_direction(body: &[u8]) -> Option<Direction> {
    let text = std::str::from_utf8(body).ok()?;
    let mut session: Option<Direction> = None;
    let mut media: Option<Direction> = None;
    let (mut in_audio, mut seen_audio, mut zero_conn) = (false, false, false);
    for line in text.lines().map(str::trim) {
        if let Some(m) = line.strip_prefix("m=") {
            if seen_audio {
                break;
            }
            in_audio = m.starts_with("audio ");
            seen_audio |= in_audio;
            continue;
        }
        if seen_audio && !in_audio {
            continue;
        }
        let dir = match line {
            "a=sendrecv" => Some(Direction::SendRecv),
            "a=sendonly" => Some(Direction::SendOnly),
            "a=recvonly" => Some(Direction::RecvOnly),
            "a=inactive" => Some(Direction::Inactive),
            _ => None,
        };
        if let Some(c) = line.strip_prefix("c=") {
            if c.split_whitespace().nth(2) == Some("0.0.0.0") {
                zero_conn = true;
            } else if in_audio {
                zero_conn = false;
            }
        }
        match (dir, in_audio) {
            (Some(d), true) => media = Some(d),
            (Some(d), false) => session = Some(d),
            _ => {}
        }
    }
    if !seen_audio {
        return None;
    }
    let d = media.or(session).unwrap_or(Direction::SendRecv);
    Some(if zero_conn && d == Direction::SendRecv {
        Direction::SendOnly
    } else {
        d
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=audio 40000 RTP/AVP 18 8 0 101\r\na=rtpmap:18 G729/8000\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n";

    #[test]
    fn picks_offerers_first_supported_codec_and_dtmf() {
        let n = negotiate(OFFER.as_bytes(), &G711).unwrap();
        assert_eq!(
            n.codec,
            CodecSpec {
                pt: 8,
                name: "PCMA"
            }
        );
        assert_eq!(n.dtmf_pt, Some(101));
        assert_eq!(n.remote, Some("10.0.0.1:40000".parse().unwrap()));
        let a = answer(&n, "127.0.0.1:20000".parse().unwrap(), 7, 1);
        assert!(a.contains("m=audio 20000 RTP/AVP 8 101\r\n"), "{a}");
        assert!(a.contains("a=rtpmap:101 telephone-event/8000"));
        assert!(a.contains("a=sendrecv"));
        // Our answer must itself parse as SDP.
        assert!(negotiate(a.as_bytes(), &G711).is_ok());
    }

    #[test]
    fn static_payload_without_rtpmap_and_lf_only() {
        let o =
            "v=0\no=- 1 1 IN IP4 10.0.0.2\ns=-\nc=IN IP4 10.0.0.2\nt=0 0\nm=audio 5004 RTP/AVP 0\n";
        let n = negotiate(o.as_bytes(), &G711).unwrap();
        assert_eq!(n.codec.name, "PCMU");
        assert_eq!(n.dtmf_pt, None);
    }

    #[test]
    fn no_common_codec_is_488() {
        let o = OFFER.replace("18 8 0 101", "18 101");
        let e = negotiate(o.as_bytes(), &G711).unwrap_err();
        assert_eq!(e, SdpError::NoCommonCodec);
        assert_eq!(e.status(), 488);
        let video_only =
            "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\n";
        assert_eq!(
            negotiate(video_only.as_bytes(), &G711).unwrap_err(),
            SdpError::NoAudio
        );
        assert_eq!(negotiate(b"garbage", &G711).unwrap_err().status(), 400);
    }

    #[test]
    fn our_offer_lists_both_laws_and_dtmf_and_negotiates() {
        let o = offer("127.0.0.1:20002".parse().unwrap(), &G711, 101, 9, 1);
        assert!(o.contains("m=audio 20002 RTP/AVP 0 8 101\r\n"), "{o}");
        let n = negotiate(o.as_bytes(), &G711).unwrap();
        assert_eq!(n.codec.name, "PCMU");
        assert_eq!(n.dtmf_pt, Some(101));
    }

    #[test]
    fn hold_offers_are_mirrored() {
        let n = negotiate(OFFER.replace("a=sendrecv", "a=sendonly").as_bytes(), &G711).unwrap();
        assert!(answer(&n, "127.0.0.1:2".parse().unwrap(), 1, 2).contains("a=recvonly"));
        let old = negotiate(
            OFFER
                .replace("c=IN IP4 10.0.0.1", "c=IN IP4 0.0.0.0")
                .as_bytes(),
            &G711,
        )
        .unwrap();
        assert_eq!(old.remote, None);
        assert_eq!(old.offered_direction, Direction::SendOnly);
    }

    #[test]
    fn reads_offered_direction_without_negotiating() {
        assert_eq!(
            offered_direction(OFFER.as_bytes()),
            Some(Direction::SendRecv)
        );
        let g729_only = OFFER
            .replace("18 8 0 101", "18")
            .replace("a=sendrecv", "a=sendonly");
        assert_eq!(
            offered_direction(g729_only.as_bytes()),
            Some(Direction::SendOnly)
        );
        let session_level = OFFER
            .replace("t=0 0\r\n", "t=0 0\r\na=inactive\r\n")
            .replace("a=sendrecv\r\n", "");
        assert_eq!(
            offered_direction(session_level.as_bytes()),
            Some(Direction::Inactive)
        );
        let zero = OFFER.replace("c=IN IP4 10.0.0.1", "c=IN IP4 0.0.0.0");
        assert_eq!(
            offered_direction(zero.as_bytes()),
            Some(Direction::SendOnly)
        );
        assert_eq!(offered_direction(b"v=0\r\nm=video 1 RTP/AVP 96\r\n"), None);
        assert_eq!(offered_direction(b"\xff\xfe"), None);
    }
}
