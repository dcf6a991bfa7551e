//! UDP audio input (GQRX / SDR++ "UDP audio": raw PCM datagrams, s16le mono 48 kHz by default)
//! as a stream [`Source`].
//!
//! A read waits at most 10 ms for a datagram; with none it returns a `WouldBlock` error rather
//! than the end of the stream: gaps (squelch closed, lost packets) are silence, not the end. The
//! live session fills them (see [`crate::live::session`]) so the output keeps playing at the
//! fixed latency and picks the signal up again when packets return.

use crate::stream::{Result, Source, StreamError, StreamInfo};
use std::net::UdpSocket;
use std::time::Duration;

/// How long one read waits for a datagram.
pub const RECV_TIMEOUT: Duration = Duration::from_millis(10);

/// Datagrams decoded in `info.encoding`; a partial sample at a datagram's end is dropped.
pub struct UdpSource {
    sock: UdpSocket,
    info: StreamInfo,
    bytes: Vec<u8>,
    /// Decoded values of the last datagram not handed out yet, and how many were.
    pending: Vec<f32>,
    pos: usize,
}

impl UdpSource {
    pub fn new(sock: UdpSocket, info: StreamInfo) -> Result<UdpSource> {
        if info.channels == 0 || info.encoding.bytes() == 0 {
            return Err(StreamError::Usage("a UDP source needs channels".into()));
        }
        sock.set_read_timeout(Some(RECV_TIMEOUT))?;
        Ok(UdpSource {
            sock,
            info,
            bytes: vec![0u8; 65536],
            pending: Vec::new(),
            pos: 0,
        })
    }
}

impl Source for UdpSource {
    fn info(&self) -> &StreamInfo {
        &self.info
    }
    fn read(&mut self, buf: &mut [f32]) -> Result<usize> {
        let ch = self.info.channels;
        if self.pos >= self.pending.len() {
            let n = self.sock.recv(&mut self.bytes)?;
            let fb = self.info.encoding.bytes() * ch;
            let whole = n / fb * fb;
            self.pending.resize(whole / self.info.encoding.bytes(), 0.0);
            self.info
                .encoding
                .decode(&self.bytes[..whole], &mut self.pending);
            self.pos = 0;
            if whole == 0 {
                // An empty (or sub-frame) datagram is no data, not the end.
                return Err(StreamError::Io(std::io::ErrorKind::WouldBlock.into()));
            }
        }
        let n = (self.pending.len() - self.pos).min(buf.len() / ch * ch);
        buf[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
    fn is_live(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::SignalKind;
    use crate::io::RawFormat;
    use crate::stream::Encoding;

    #[test]
    fn datagrams_decode_to_samples_and_silence_is_would_block_not_the_end() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = rx.local_addr().unwrap();
        let info = StreamInfo::new(
            48_000,
            1,
            SignalKind::Real,
            Encoding::Audio(RawFormat::S16Le),
        );
        let mut src = UdpSource::new(rx, info).unwrap();
        let mut buf = [0.0f32; 2];
        // Nothing sent yet: a timeout, which is not the end of the stream.
        match src.read(&mut buf) {
            Err(StreamError::Io(e)) => assert!(
                matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "{e}"
            ),
            other => panic!("expected a timeout, got {other:?}"),
        }
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        // Three s16le samples and a stray byte: 16384, −32768, 1.
        tx.send_to(&[0x00, 0x40, 0x00, 0x80, 0x01, 0x00, 0x7f], addr)
            .unwrap();
        // Handed out in pieces that fit the buffer.
        assert_eq!(src.read(&mut buf).unwrap(), 2);
        assert_eq!(buf, [0.5, -1.0]);
        assert_eq!(src.read(&mut buf).unwrap(), 1);
        assert_eq!(buf[0], 1.0 / 32768.0);
    }
}
