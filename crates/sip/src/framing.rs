//! Splitting a TCP byte stream into SIP messages by Content-Length (RFC 3261 §18.3).
//!
//! Sans-IO: push bytes as they arrive, pull whole messages out. CRLF keep-alives between
//! messages (RFC 5626 §3.5.1) are skipped and each double-CRLF "ping" is counted, so the
//! transport can answer it with a CRLF "pong" and count it as life on the connection. A
//! message without Content-Length on a stream is an error (the stream cannot be
//! resynchronised), as is one larger than the limit. Whether part of a message is waiting
//! is visible, so the transport can time out one that trickles in (slowloris).

use crate::normalize::{expand_compact, find_header_end};
use bytes::{Buf, Bytes, BytesMut};

/// Why the stream must be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Headers or whole message over the limit.
    #[error("message larger than {0} bytes")]
    TooLarge(usize),
    /// Stream messages must carry Content-Length.
    #[error("message on a stream without a valid Content-Length")]
    NoContentLength,
}

/// Accumulates stream bytes and yields complete messages.
#[derive(Debug)]
pub struct StreamFramer {
    buf: BytesMut,
    max: usize,
    /// How much of "\r\n\r\n" the keep-alive bytes skipped last have matched.
    ping_match: usize,
    /// Complete double-CRLF pings seen and not yet taken.
    pings: usize,
}

/// A keep-alive ping on a stream (RFC 5626 §3.5.1); the answer is a single CRLF.
const PING: &[u8] = b"\r\n\r\n";

impl StreamFramer {
    /// A framer refusing messages over `max` bytes.
    pub fn new(max: usize) -> Self {
        StreamFramer {
            // Empty until bytes come: thousands of idle connections cost no buffers.
            buf: BytesMut::new(),
            max,
            ping_match: 0,
            pings: 0,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Whether part of a message has arrived (after [`Self::next_message`] returned
    /// `Ok(None)`): keep-alive bytes between messages do not count.
    pub fn has_partial(&self) -> bool {
        self.buf.iter().any(|b| *b != b'\r' && *b != b'\n')
    }

    /// The double-CRLF keep-alive pings skipped since the last call.
    pub fn take_pings(&mut self) -> usize {
        std::mem::take(&mut self.pings)
    }

    /// The next complete message, if one has fully arrived.
    pub fn next_message(&mut self) -> Result<Option<Bytes>, FrameError> {
        let skip = self
            .buf
            .iter()
            .take_while(|b| **b == b'\r' || **b == b'\n')
            .count();
        for &b in &self.buf[..skip] {
            self.ping_match = if b == PING[self.ping_match] {
                self.ping_match + 1
            } else if b == b'\r' {
                1
            } else {
                0
            };
            if self.ping_match == PING.len() {
                self.pings += 1;
                self.ping_match = 0;
            }
        }
        self.buf.advance(skip);
        if !self.buf.is_empty() {
            // A message starts: a ping is only CRLFs between messages.
            self.ping_match = 0;
        }
        let Some((body_start, head_end)) = find_header_end(&self.buf) else {
            return if self.buf.len() > self.max {
                Err(FrameError::TooLarge(self.max))
            } else {
                Ok(None)
            };
        };
        let head =
            std::str::from_utf8(&self.buf[..head_end]).map_err(|_| FrameError::NoContentLength)?;
        let len = head
            .lines()
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                expand_compact(n.trim())
                    .eq_ignore_ascii_case("Content-Length")
                    .then(|| v.trim().parse::<usize>().ok())?
            })
            .ok_or(FrameError::NoContentLength)?;
        let total = body_start + len;
        if total > self.max {
            return Err(FrameError::TooLarge(self.max));
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        Ok(Some(self.buf.split_to(total).freeze()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &str = "OPTIONS sip:a@b SIP/2.0\r\nl: 5\r\n\r\nhello";

    #[test]
    fn frames_across_arbitrary_splits() {
        let stream = format!("\r\n\r\n{MSG}{MSG}");
        for cut in 0..stream.len() {
            let mut f = StreamFramer::new(4096);
            f.push(&stream.as_bytes()[..cut]);
            let mut got = Vec::new();
            while let Some(m) = f.next_message().unwrap() {
                got.push(m);
            }
            f.push(&stream.as_bytes()[cut..]);
            while let Some(m) = f.next_message().unwrap() {
                got.push(m);
            }
            assert_eq!(got.len(), 2, "cut at {cut}");
            assert!(got.iter().all(|m| m.as_ref() == MSG.as_bytes()));
        }
    }

    #[test]
    fn counts_pings_across_splits_and_sees_partial_messages() {
        let stream = format!("\r\n\r\n\r\n\r\n{MSG}\r\n\r\n");
        for cut in 0..stream.len() {
            let mut f = StreamFramer::new(4096);
            let (a, b) = stream.as_bytes().split_at(cut);
            let mut got = 0;
            for part in [a, b] {
                f.push(part);
                while f.next_message().unwrap().is_some() {
                    got += 1;
                }
            }
            assert_eq!(got, 1, "cut at {cut}");
            assert_eq!(f.take_pings(), 3, "cut at {cut}");
            assert_eq!(f.take_pings(), 0);
            assert!(!f.has_partial(), "cut at {cut}");
        }
        let mut f = StreamFramer::new(4096);
        f.push(b"\r\nOPT");
        assert_eq!(f.next_message(), Ok(None));
        assert!(f.has_partial());
        assert_eq!(f.take_pings(), 0, "a lone CRLF is no ping");
    }

    #[test]
    fn refuses_missing_length_and_oversize() {
        let mut f = StreamFramer::new(4096);
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n");
        assert_eq!(f.next_message(), Err(FrameError::NoContentLength));
        let mut f = StreamFramer::new(64);
        f.push(MSG.replace("l: 5", "Content-Length: 500").as_bytes());
        assert_eq!(f.next_message(), Err(FrameError::TooLarge(64)));
        let mut f = StreamFramer::new(16);
        f.push(&[b'a'; 40]);
        assert_eq!(f.next_message(), Err(FrameError::TooLarge(16)));
    }
}
