//! Clients too slow to keep a connection: a request body must arrive at a minimum rate, and
//! a response the client stops reading ends the connection after a while. Without these, a
//! few hundred connections that trickle a body (or never read their answer) hold every
//! connection slot, and the server answers no one else (hyper bounds only the headers).
//!
//! The body rule is a token bucket: a body starts with `grace` of time; every `min_rate`
//! bytes received add one second, but no more than `grace` can be banked ahead. So a body must
//! keep up `min_rate` over any stretch longer than `grace`: neither a byte now and then, nor
//! a burst followed by silence (Apache's `mod_reqtimeout` rule, where credit has no ceiling,
//! lets a 4 MiB burst hold a connection for hours). A body that falls behind ends with an
//! `io::Error` of kind `TimedOut` carrying [`TooSlow`] (the handlers answer 408,
//! [`ApiError::body`](crate::qiniu::ApiError::body)) and the connection closes. Time the
//! handler spends away from the body (writing what it read) is not held against the client.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// How slow a client may be.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// Time a request body starts with, and the most it may bank ahead.
    pub grace: Duration,
    /// Each `min_rate` bytes received allow one more second (at least 1).
    pub min_rate: u64,
    /// A response the client has not taken any of for this long ends the connection.
    pub write_stall: Duration,
}

/// A request body that fell behind its [`Pace`].
#[derive(Debug)]
pub struct TooSlow {
    pub min_rate: u64,
}

impl std::fmt::Display for TooSlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the request body came too slowly (under {} bytes/s)", self.min_rate)
    }
}

impl std::error::Error for TooSlow {}

/// The request body every handler reads: hyper's, held to a [`Pace`].
pub struct Paced<B = Incoming> {
    inner: B,
    /// When the body falls behind, unless more comes.
    due: Instant,
    pace: Pace,
    deadline: Pin<Box<Sleep>>,
    failed: bool,
}

impl<B> Paced<B> {
    pub fn new(inner: B, pace: Pace) -> Paced<B> {
        let due = Instant::now() + pace.grace;
        Paced { inner, due, pace, deadline: Box::pin(tokio::time::sleep_until(due)), failed: false }
    }

    /// `bytes` more received now: their credit, counted from now if the handler let the
    /// deadline pass without asking, and never more than `grace` ahead.
    fn earned(&mut self, bytes: usize) {
        let now = Instant::now();
        let credit = Duration::from_secs_f64(bytes as f64 / self.pace.min_rate.max(1) as f64);
        self.due = (self.due.max(now) + credit).min(now + self.pace.grace);
        let due = self.due;
        self.deadline.as_mut().reset(due);
    }
}

impl<B> Body for Paced<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.failed {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let bytes = data.len();
                    self.earned(bytes);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                ready!(self.deadline.as_mut().poll(cx));
                self.failed = true;
                let slow = TooSlow { min_rate: self.pace.min_rate };
                Poll::Ready(Some(Err(Box::new(io::Error::new(io::ErrorKind::TimedOut, slow)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A connection whose writes may stall (the client's window shut) for `limit` at most: past
/// that, unless the client took `min_rate` bytes a second (or all that was queued) of what
/// was already sent meanwhile, the write fails with `TimedOut` and hyper drops the connection. (A socket becomes writable again only once a
/// good part of its send buffer, up to 4 MiB, has drained: judging by writes alone would cut
/// a client reading steadily at under 1/30 of that per second.)
pub struct WriteStall<S> {
    inner: S,
    limit: Duration,
    /// Bytes the client must take per `limit` to count as reading.
    least: u64,
    /// Since when writes wait, and what the socket still held then.
    stalled: Option<(Pin<Box<Sleep>>, Option<u64>)>,
}

/// Bytes a connection has sent that its peer has not yet acknowledged (`None`: unknown).
pub trait Unsent {
    fn unsent(&self) -> Option<u64>;
}

impl Unsent for tokio::net::TcpStream {
    fn unsent(&self) -> Option<u64> {
        use std::os::fd::AsRawFd;
        let mut queued: libc::c_int = 0;
        // SAFETY: TIOCOUTQ (SIOCOUTQ) writes one int, the bytes in the socket's send queue not
        // yet acknowledged, through the pointer, which points at a live c_int; the descriptor
        // is this stream's own, open for as long as `self`.
        let done = unsafe { libc::ioctl(self.as_raw_fd(), libc::TIOCOUTQ, &mut queued as *mut libc::c_int) };
        (done == 0).then_some(queued.max(0) as u64)
    }
}

impl<S: Unsent> WriteStall<S> {
    pub fn new(inner: S, pace: Pace) -> WriteStall<S> {
        let limit = pace.write_stall;
        let least = (pace.min_rate as f64 * limit.as_secs_f64()).ceil() as u64;
        WriteStall { inner, limit, least: least.max(1), stalled: None }
    }

    /// Progress clears the stall; a first `Pending` starts its clock; at the limit, a
    /// client that took enough meanwhile gets another `limit`, any other is cut.
    fn watch<T>(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match polled {
            Poll::Ready(result) => {
                self.stalled = None;
                Poll::Ready(result)
            }
            Poll::Pending => {
                let (limit, least) = (self.limit, self.least);
                let unsent = self.inner.unsent();
                let (clock, then) = self.stalled.get_or_insert_with(|| (Box::pin(tokio::time::sleep(limit)), unsent));
                loop {
                    ready!(clock.as_mut().poll(cx));
                    match (*then, unsent) {
                        (Some(before), Some(now)) if now < before && before - now >= least.min(before) => {
                            *then = Some(now);
                            clock.as_mut().reset(Instant::now() + limit);
                        }
                        _ => {
                            let cut =
                                io::Error::new(io::ErrorKind::TimedOut, "the client stopped reading the response");
                            return Poll::Ready(Err(cut));
                        }
                    }
                }
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteStall<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unsent + Unpin> AsyncWrite for WriteStall<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.watch(cx, polled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// A body fed by `sends`: (wait before, bytes), then the end.
    fn fed(sends: Vec<(u64, usize)>) -> impl Body<Data = Bytes, Error = std::convert::Infallible> + Unpin {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::convert::Infallible>>(1);
        tokio::spawn(async move {
            for (wait, n) in sends {
                tokio::time::sleep(Duration::from_secs(wait)).await;
                let _ = tx.send(Ok(Frame::data(Bytes::from(vec![1u8; n])))).await;
            }
        });
        http_body_util::StreamBody::new(tokio_stream_from(rx))
    }

    fn tokio_stream_from<T>(mut rx: tokio::sync::mpsc::Receiver<T>) -> impl futures_util::Stream<Item = T> + Unpin {
        Box::pin(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
    }

    async fn read(
        body: impl Body<Data = Bytes, Error = Box<dyn std::error::Error + Send + Sync>> + Unpin,
    ) -> Result<usize, String> {
        use http_body_util::BodyExt;
        body.collect().await.map(|c| c.to_bytes().len()).map_err(|e| e.to_string())
    }

    impl Unsent for tokio::io::DuplexStream {
        fn unsent(&self) -> Option<u64> {
            None
        }
    }

    const PACE: Pace = Pace { grace: Duration::from_secs(20), min_rate: 500, write_stall: Duration::from_secs(60) };

    #[tokio::test(start_paused = true)]
    async fn a_body_that_keeps_the_rate_is_read_whole() {
        // 19 s of nothing, then 500 bytes a second for a minute: always inside its time.
        let sends = std::iter::once((19, 1)).chain(std::iter::repeat_n((1, 500), 60)).collect();
        assert_eq!(read(Paced::new(fed(sends), PACE)).await, Ok(1 + 500 * 60));
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickled_body_fails_once_behind() {
        // One byte every 10 s earns 2 ms each: behind the 20 s grace at the third wait.
        let started = Instant::now();
        let sends = std::iter::repeat_n((10, 1), 100).collect();
        let got = read(Paced::new(fed(sends), PACE)).await;
        assert_eq!(got, Err("the request body came too slowly (under 500 bytes/s)".to_owned()));
        let took = started.elapsed();
        assert!(took >= Duration::from_secs(20) && took < Duration::from_secs(21), "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_banks_no_more_than_the_grace() {
        // 4 MiB at once would earn 8388 s; then a byte every 15 s (each inside the grace).
        let started = Instant::now();
        let sends = std::iter::once((0, 4 << 20)).chain(std::iter::repeat_n((15, 1), 1000)).collect();
        let got = read(Paced::new(fed(sends), PACE)).await;
        assert!(got.is_err(), "{got:?}");
        let took = started.elapsed();
        assert!(took >= Duration::from_secs(20) && took < Duration::from_secs(21), "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_steady_body_may_pause_within_the_grace() {
        // 10 kB/s for 100 s, a 19 s pause, 10 kB/s again: read whole.
        let sends = std::iter::repeat_n((1, 10_000), 100)
            .chain(std::iter::once((19, 10_000)))
            .chain(std::iter::repeat_n((1, 10_000), 100))
            .collect();
        assert_eq!(read(Paced::new(fed(sends), PACE)).await, Ok(201 * 10_000));
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_never_comes_fails_after_the_grace() {
        let started = Instant::now();
        let got = read(Paced::new(fed(vec![(3600, 1)]), PACE)).await;
        assert!(got.is_err());
        assert!(started.elapsed() < Duration::from_secs(21));
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_the_peer_never_takes_fails_after_the_limit() {
        let (ours, _theirs) = tokio::io::duplex(16);
        let mut conn = WriteStall::new(ours, Pace { write_stall: Duration::from_secs(5), ..PACE });
        let started = Instant::now();
        let written = conn.write_all(&[0u8; 64]).await;
        assert_eq!(written.unwrap_err().kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_secs(5) && started.elapsed() < Duration::from_secs(6));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_reader_that_keeps_reading_is_not_cut() {
        use tokio::io::AsyncReadExt;
        let (ours, mut theirs) = tokio::io::duplex(16);
        let mut conn = WriteStall::new(ours, Pace { write_stall: Duration::from_secs(5), ..PACE });
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut buf = [0u8; 8];
            loop {
                tokio::time::sleep(Duration::from_secs(3)).await;
                match theirs.read(&mut buf).await {
                    Ok(0) | Err(_) => break got,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
        });
        // 64 bytes taken 8 at a time every 3 s: 24 s in all, never 5 s without progress.
        conn.write_all(&[7u8; 64]).await.expect("progress every 3 s is not a stall");
        conn.shutdown().await.unwrap();
        drop(conn);
        assert_eq!(reader.await.unwrap(), vec![7u8; 64]);
    }
}
