//! Accepts request targets with raw `"`, `<`, `>` and `` ` ``, as ILMT's server does.
//!
//! ILMT clients (IBM's Go client among them) put criteria such as `[["bundle_id","<=","0"]]`
//! into the query unencoded. The `http` crate's URI parser refuses those bytes, so hyper would
//! answer 400 before any handler ran. [`EncodeTargets`] sits between the socket and hyper and
//! percent-encodes exactly those bytes inside each request line's target; the handlers decode
//! queries anyway, so they see what the client meant. Cost: one copy of the bytes read, and a
//! scan of header lines for `Content-Length` / `Transfer-Encoding` so that a body is never
//! mistaken for the next request line.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes the URI parser refuses somewhere in a target and that clients send raw.
fn refused(b: u8) -> bool {
    matches!(b, b'"' | b'<' | b'>' | b'`')
}

/// Header lines longer than this stop the rewriting for the connection (hyper refuses them).
const MAX_HEADER_LINE: usize = 16 * 1024;

/// Where the reader is in the HTTP/1 byte stream.
#[derive(Debug)]
enum Position {
    /// In a request line, after `spaces` spaces (the target is after the first).
    RequestLine { started: bool, spaces: u8 },
    /// In the header block: the current line, and what it said about the body so far.
    Headers {
        line: Vec<u8>,
        length: u64,
        chunked: bool,
    },
    /// `remaining` bytes of a body with a Content-Length.
    Body { remaining: u64 },
    /// A chunked body or something unparsable: bytes pass unchanged from here on.
    Through,
}

/// The stream hyper reads, with raw `"<>`` ` `` in request targets percent-encoded.
pub struct EncodeTargets<S> {
    inner: S,
    position: Position,
    /// Rewritten bytes not yet handed to the reader.
    pending: Vec<u8>,
    taken: usize,
}

impl<S> EncodeTargets<S> {
    /// Wraps a connection's stream, at the start of its first request.
    pub fn new(inner: S) -> EncodeTargets<S> {
        EncodeTargets {
            inner,
            position: request_line(),
            pending: Vec::new(),
            taken: 0,
        }
    }

    /// Appends `input` to `pending`, rewritten.
    fn rewrite(&mut self, input: &[u8]) {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            let mut next = None;
            match &mut self.position {
                Position::Through => {
                    self.pending.extend_from_slice(&input[i..]);
                    return;
                }
                Position::Body { remaining } => {
                    let n = (*remaining).min((input.len() - i) as u64) as usize;
                    self.pending.extend_from_slice(&input[i..i + n]);
                    *remaining -= n as u64;
                    if *remaining == 0 {
                        self.position = request_line();
                    }
                    i += n;
                    continue;
                }
                Position::RequestLine { started, spaces } => {
                    if b == b' ' {
                        *spaces += 1;
                    } else if *spaces == 1 && refused(b) {
                        self.pending
                            .extend_from_slice(format!("%{b:02X}").as_bytes());
                        i += 1;
                        continue;
                    }
                    if b == b'\n' && *started {
                        next = Some(Position::Headers {
                            line: Vec::new(),
                            length: 0,
                            chunked: false,
                        });
                    } else if !matches!(b, b'\r' | b'\n') {
                        *started = true;
                    }
                }
                Position::Headers {
                    line,
                    length,
                    chunked,
                } => {
                    if b == b'\n' {
                        let text = line.strip_suffix(b"\r").unwrap_or(line);
                        next = if text.is_empty() {
                            Some(if *chunked {
                                Position::Through
                            } else if *length > 0 {
                                Position::Body { remaining: *length }
                            } else {
                                request_line()
                            })
                        } else {
                            header(text, length, chunked)
                        };
                        line.clear();
                    } else if line.len() >= MAX_HEADER_LINE {
                        next = Some(Position::Through);
                    } else {
                        line.push(b);
                    }
                }
            }
            if let Some(position) = next {
                self.position = position;
            }
            self.pending.push(b);
            i += 1;
        }
    }
}

/// The start of a request.
fn request_line() -> Position {
    Position::RequestLine {
        started: false,
        spaces: 0,
    }
}

/// Notes what a header line says about the body; `Some(Through)` when it cannot be followed.
fn header(text: &[u8], length: &mut u64, chunked: &mut bool) -> Option<Position> {
    let text = String::from_utf8_lossy(text);
    let (name, value) = text.split_once(':')?;
    let (name, value) = (name.trim(), value.trim());
    if name.eq_ignore_ascii_case("content-length") {
        match value.parse() {
            Ok(n) => *length = n,
            Err(_) => return Some(Position::Through),
        }
    } else if name.eq_ignore_ascii_case("transfer-encoding") {
        *chunked = true;
    }
    None
}

impl<S: AsyncRead + Unpin> AsyncRead for EncodeTargets<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.taken == self.pending.len() {
            self.pending.clear();
            self.taken = 0;
            let mut scratch = [0u8; 8192];
            let mut read = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.inner).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) => {}
                other => return other,
            }
            let filled = read.filled().to_vec();
            if filled.is_empty() {
                return Poll::Ready(Ok(())); // end of stream
            }
            self.rewrite(&filled);
        }
        let this = &mut *self;
        let n = buf.remaining().min(this.pending.len() - this.taken);
        buf.put_slice(&this.pending[this.taken..this.taken + n]);
        this.taken += n;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for EncodeTargets<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(chunks: &[&[u8]]) -> String {
        let mut e = EncodeTargets::new(());
        for c in chunks {
            e.rewrite(c);
        }
        String::from_utf8(e.pending).unwrap()
    }

    #[test]
    fn only_the_targets_of_request_lines_change() {
        let body = r#"{"a":"<b>"}"#;
        let input = format!(
            "GET /x?c=[[\"id\",\"<=\",\"0\"]] HTTP/1.1\r\nHost: h\r\nX-Note: \"<>\"\r\n\r\n\
             POST /y?q=<1> HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}\
             GET /z?w=> HTTP/1.1\r\n\r\n",
            body.len()
        );
        let expected = format!(
            "GET /x?c=[[%22id%22,%22%3C=%22,%220%22]] HTTP/1.1\r\nHost: h\r\nX-Note: \"<>\"\r\n\r\n\
             POST /y?q=%3C1%3E HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}\
             GET /z?w=%3E HTTP/1.1\r\n\r\n",
            body.len()
        );
        assert_eq!(rewritten(&[input.as_bytes()]), expected);
        // The same bytes split anywhere give the same stream.
        let bytes = input.as_bytes();
        for cut in 1..bytes.len() {
            assert_eq!(
                rewritten(&[&bytes[..cut], &bytes[cut..]]),
                expected,
                "cut {cut}"
            );
        }
    }

    #[test]
    fn a_chunked_body_stops_the_rewriting() {
        let input =
            "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n<<<\r\n0\r\n\r\nGET /b?<";
        assert_eq!(rewritten(&[input.as_bytes()]), input);
    }
}
