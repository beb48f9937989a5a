//! DTMF as it reaches us: RFC 4733 telephone-events in RTP, and SIP INFO bodies.

/// One RFC 4733 telephone-event payload (the first 4 bytes of the RTP payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code: 0–9, 10 `*`, 11 `#`, 12–15 A–D, others (flash, tones) are not digits.
    pub event: u8,
    /// End bit: set on the (usually three) final packets of the event.
    pub end: bool,
    /// Power level in −dBm0 (0–63).
    pub volume: u8,
    /// Duration so far in timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parses the payload; `None` if it is shorter than 4 bytes.
    pub fn parse(payload: &[u8]) -> Option<TelephoneEvent> {
        let b: &[u8; 4] = payload.get(..4)?.try_into().ok()?;
        Some(TelephoneEvent {
            event: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3F,
            duration: u16::from_be_bytes([b[2], b[3]]),
        })
    }

    /// Encodes the event as a 4-byte payload (tests and outgoing DTMF).
    pub fn to_bytes(self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3F),
            d[0],
            d[1],
        ]
    }

    /// The digit this event stands for, if it is one of the 16 DTMF keys.
    pub fn digit(self) -> Option<char> {
        event_to_digit(self.event)
    }
}

/// Maps an RFC 4733 event code to its key: 0–9, `*`, `#`, A–D.
pub fn event_to_digit(event: u8) -> Option<char> {
    match event {
        0..=9 => Some(char::from(b'0' + event)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + event - 12)),
        _ => None,
    }
}

/// Maps a key (`0`–`9`, `*`, `#`, `A`–`D`, any case) to its RFC 4733 event code.
pub fn digit_to_event(key: char) -> Option<u8> {
    match key.to_ascii_uppercase() {
        c @ '0'..='9' => Some(c as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        c @ 'A'..='D' => Some(c as u8 - b'A' + 12),
        _ => None,
    }
}

/// How many recent events a receiver remembers; enough to absorb reordered
/// retransmissions of the previous event's end packets.
const REMEMBERED: usize = 8;

/// Turns a stream of telephone-event packets into digits, each reported once.
///
/// A sender repeats the start of an event, sends updates while the key is held and sends
/// the end packet three times; all carry the same RTP timestamp (the event's start), so the
/// timestamp identifies the key press. The digit is reported on the first packet seen of a
/// press, which also covers a lost start (the first packet seen is then an update or an end).
#[derive(Debug, Clone, Default)]
pub struct DtmfReceiver {
    recent: [Option<(u32, u8)>; REMEMBERED],
    next: usize,
}

impl DtmfReceiver {
    /// A receiver that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one telephone-event packet (its RTP timestamp and payload); returns the digit
    /// if this packet begins a key press not seen before.
    pub fn on_packet(&mut self, timestamp: u32, payload: &[u8]) -> Option<char> {
        let ev = TelephoneEvent::parse(payload)?;
        let digit = ev.digit()?;
        let key = (timestamp, ev.event);
        if self.recent.contains(&Some(key)) {
            return None;
        }
        self.recent[self.next] = Some(key);
        self.next = (self.next + 1) % REMEMBERED;
        Some(digit)
    }
}

/// Extracts the digit from a SIP INFO body.
///
/// Accepts `application/dtmf-relay` (`Signal=5\r\nDuration=160\r\n`, with any spacing,
/// case and line ending) and `application/dtmf` (the body is the key, or its event code
/// such as `11` for `#`).
pub fn parse_dtmf_relay(body: &str) -> Option<char> {
    if body.contains('=') {
        body.lines()
            .filter_map(|line| line.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("signal"))
            .and_then(|(_, v)| key_token(v.trim()))
    } else {
        key_token(body.trim())
    }
}

/// A key written as itself (`5`, `*`, `#`, `a`) or as an event code (`10`–`15`).
fn key_token(token: &str) -> Option<char> {
    let mut chars = token.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => match c.to_ascii_uppercase() {
            c @ ('0'..='9' | '*' | '#' | 'A'..='D') => Some(c),
            _ => None,
        },
        _ => token.parse::<u8>().ok().and_then(event_to_digit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(event: u8, end: bool, duration: u16) -> [u8; 4] {
        TelephoneEvent {
            event,
            end,
            volume: 10,
            duration,
        }
        .to_bytes()
    }

    #[test]
    fn payload_round_trip() {
        let p = [11, 0x8A, 0x03, 0x20];
        let ev = TelephoneEvent::parse(&p).unwrap();
        assert_eq!(
            ev,
            TelephoneEvent {
                event: 11,
                end: true,
                volume: 10,
                duration: 800
            }
        );
        assert_eq!(ev.to_bytes(), p);
        assert_eq!(ev.digit(), Some('#'));
        assert_eq!(TelephoneEvent::parse(&[1, 2, 3]), None);
    }

    #[test]
    fn all_sixteen_keys() {
        let keys: String = (0..16).filter_map(event_to_digit).collect();
        assert_eq!(keys, "0123456789*#ABCD");
        assert_eq!(event_to_digit(16), None);
        for (code, key) in keys.chars().enumerate() {
            assert_eq!(digit_to_event(key), Some(code as u8));
        }
        assert_eq!(digit_to_event('a'), Some(12));
        assert_eq!(digit_to_event('x'), None);
    }

    #[test]
    fn one_digit_per_press_despite_repeats() {
        let mut r = DtmfReceiver::new();
        let ts = 48_000;
        assert_eq!(r.on_packet(ts, &pkt(5, false, 0)), Some('5'));
        assert_eq!(r.on_packet(ts, &pkt(5, false, 0)), None);
        assert_eq!(r.on_packet(ts, &pkt(5, false, 160)), None);
        assert_eq!(r.on_packet(ts, &pkt(5, false, 320)), None);
        for _ in 0..3 {
            assert_eq!(r.on_packet(ts, &pkt(5, true, 800)), None);
        }
    }

    #[test]
    fn lost_start_still_reports() {
        let mut r = DtmfReceiver::new();
        assert_eq!(r.on_packet(1000, &pkt(11, true, 800)), Some('#'));
        assert_eq!(r.on_packet(1000, &pkt(11, true, 800)), None);
        assert_eq!(r.on_packet(1000, &pkt(11, true, 800)), None);
    }

    #[test]
    fn two_presses_of_the_same_key() {
        let mut r = DtmfReceiver::new();
        let mut got = String::new();
        for ts in [8000u32, 9600] {
            for p in [pkt(1, false, 0), pkt(1, false, 160)] {
                got.extend(r.on_packet(ts, &p));
            }
            for _ in 0..3 {
                got.extend(r.on_packet(ts, &pkt(1, true, 640)));
            }
        }
        assert_eq!(got, "11");
        // A late retransmitted end of the first press is not a third press.
        assert_eq!(r.on_packet(8000, &pkt(1, true, 640)), None);
    }

    #[test]
    fn non_digit_events_and_short_payloads_ignored() {
        let mut r = DtmfReceiver::new();
        assert_eq!(r.on_packet(1, &pkt(16, false, 0)), None);
        assert_eq!(r.on_packet(2, &[1]), None);
    }

    #[test]
    fn sip_info_bodies() {
        assert_eq!(parse_dtmf_relay("Signal=5\r\nDuration=160\r\n"), Some('5'));
        assert_eq!(
            parse_dtmf_relay("Signal= #\r\nDuration= 160\r\n"),
            Some('#')
        );
        assert_eq!(parse_dtmf_relay("signal=*\nduration=100\n"), Some('*'));
        assert_eq!(parse_dtmf_relay("Duration=160\nSIGNAL = a\n"), Some('A'));
        assert_eq!(parse_dtmf_relay("Signal=11\r\n"), Some('#'));
        assert_eq!(parse_dtmf_relay("7"), Some('7'));
        assert_eq!(parse_dtmf_relay(" 10\r\n"), Some('*'));
        assert_eq!(parse_dtmf_relay("#"), Some('#'));
        assert_eq!(parse_dtmf_relay("Duration=160\r\n"), None);
        assert_eq!(parse_dtmf_relay("Signal=\r\n"), None);
        assert_eq!(parse_dtmf_relay("Signal=X"), None);
        assert_eq!(parse_dtmf_relay(""), None);
        assert_eq!(parse_dtmf_relay("16"), None);
    }
}
