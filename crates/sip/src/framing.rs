//! Splitting a TCP byte stream into SIP messages by Content-Length (RFC 3261 §18.3).
//!
//! Sans-IO: push bytes as they arrive, pull whole messages out. CRLF keep-alives between
//! messages (RFC 5626 §3.5.1) are skipped. A message without Content-Length on a stream is
//! an error (the stream cannot be resynchronised), as is one larger than the limit.

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
}

impl StreamFramer {
    /// A framer refusing messages over `max` bytes.
    pub fn new(max: usize) -> Self {
        StreamFramer {
            buf: BytesMut::with_capacity(4096),
            max,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete message, if one has fully arrived.
    pub fn next_message(&mut self) -> Result<Option<Bytes>, FrameError> {
        let skip = self
            .buf
            .iter()
            .take_while(|b| **b == b'\r' || **b == b'\n')
            .count();
        self.buf.advance(skip);
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
