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
    /// A stalled response's time unit: a connection may hold [`STALL_CREDIT`] of them (see
    /// [`WriteStall`]).
    pub write_stall: Duration,
}

/// The time `bytes` earn at `min_rate` bytes a second.
fn time_at(bytes: u64, min_rate: u64) -> Duration {
    Duration::from_secs_f64(bytes as f64 / min_rate.max(1) as f64)
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
    pace: Pace,
    /// When the body falls behind, unless more comes.
    deadline: Pin<Box<Sleep>>,
    failed: bool,
}

impl<B> Paced<B> {
    pub fn new(inner: B, pace: Pace) -> Paced<B> {
        Paced { inner, pace, deadline: Box::pin(tokio::time::sleep(pace.grace)), failed: false }
    }

    /// `bytes` more received now: their credit, counted from now if the handler let the
    /// deadline pass without asking, and never more than `grace` ahead.
    fn earned(&mut self, bytes: usize) {
        let now = Instant::now();
        let due =
            (self.deadline.deadline().max(now) + time_at(bytes as u64, self.pace.min_rate)).min(now + self.pace.grace);
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

/// A connection whose writes may stall (the client's window shut), held to the reading rate
/// `min_rate` by a running balance, as request bodies are: a connection starts with
/// [`STALL_CREDIT`] times `limit` of stall time; time spent stalled is charged to it; every
/// byte the socket sees acknowledged after the first stall began adds `1 / min_rate` seconds,
/// up to that same ceiling. A stall that outlasts the balance fails with `TimedOut`, and hyper
/// drops the connection. A client reopens its window in steps (a large part of its receive
/// buffer), so a steady reader shows progress only now and then; the ceiling lets a step come
/// up to `STALL_CREDIT * limit` after the last. Acknowledged is not read: bytes a client's
/// kernel takes into its buffer without the client reading them count too, so a client that
/// grows its receive buffer can hold on for at most that buffer's size at `min_rate`.
pub struct WriteStall<S> {
    /// Released when the connection's socket closes, just before it (the address's share of
    /// connections: freed before a client that sees the close can come back).
    _held: Box<dyn Send + Sync>,
    inner: S,
    min_rate: u64,
    /// The ceiling of the balance.
    most: Duration,
    /// Stall time left.
    balance: Duration,
    /// Bytes the socket took from us.
    written: u64,
    /// Bytes acknowledged when last looked at, from the first stall on.
    acked: Option<u64>,
    /// While writes wait: since when the balance was last charged, and when it runs out.
    stalled: Option<(Instant, Pin<Box<Sleep>>)>,
}

/// The most stall time a connection may hold, in `limit`s (`write_stall`).
pub const STALL_CREDIT: u32 = 4;

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
    pub fn new(inner: S, pace: Pace, held: impl Send + Sync + 'static) -> WriteStall<S> {
        let most = pace.write_stall * STALL_CREDIT;
        WriteStall {
            _held: Box::new(held),
            inner,
            min_rate: pace.min_rate,
            most,
            balance: most,
            written: 0,
            acked: None,
            stalled: None,
        }
    }

    /// Charges the stall time since last charged, then credits what was read since last looked
    /// at (the first look only sets the count read from).
    fn settle(&mut self) {
        let now = Instant::now();
        if let Some((since, _)) = &mut self.stalled {
            self.balance = self.balance.saturating_sub(now - *since);
            *since = now;
        }
        let Some(acked) = self.inner.unsent().and_then(|unsent| self.written.checked_sub(unsent)) else { return };
        if let Some(before) = self.acked.replace(acked) {
            let read = acked.saturating_sub(before);
            self.balance = (self.balance + time_at(read, self.min_rate)).min(self.most);
        }
    }

    /// Progress ends a stall (its time charged); a stall runs on the balance, topped up by
    /// what is read meanwhile, and ends the connection when the balance is spent.
    fn watch<T>(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match polled {
            Poll::Ready(result) => {
                if self.stalled.is_some() {
                    self.settle();
                    self.stalled = None;
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                if self.stalled.is_none() {
                    self.settle();
                    let now = Instant::now();
                    self.stalled = Some((now, Box::pin(tokio::time::sleep_until(now + self.balance))));
                }
                loop {
                    ready!(self.clock().poll(cx));
                    self.settle();
                    if self.balance.is_zero() {
                        let cut = io::Error::new(io::ErrorKind::TimedOut, "the client stopped reading the response");
                        return Poll::Ready(Err(cut));
                    }
                    let due = Instant::now() + self.balance;
                    self.clock().reset(due);
                }
            }
        }
    }

    fn clock(&mut self) -> Pin<&mut Sleep> {
        self.stalled.as_mut().expect("only while stalled").1.as_mut()
    }

    fn wrote(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        if let Poll::Ready(Ok(n)) = polled {
            self.written += n as u64;
        }
        self.watch(cx, polled)
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
        self.wrote(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.wrote(cx, polled)
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
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
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

    /// A socket whose peer takes `step` bytes every `every`: its window reopens only then.
    #[derive(Clone, Default)]
    struct Window {
        unsent: Arc<AtomicU64>,
        room: Arc<AtomicU64>,
        waiting: Arc<std::sync::Mutex<Option<std::task::Waker>>>,
    }

    impl Window {
        fn read_on(&self, step: u64, every: Duration) {
            let window = self.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let taken = step.min(window.unsent.load(Ordering::SeqCst));
                    window.unsent.fetch_sub(taken, Ordering::SeqCst);
                    window.room.fetch_add(taken, Ordering::SeqCst);
                    if let Some(waker) = window.waiting.lock().unwrap().take() {
                        waker.wake();
                    }
                }
            });
        }
    }

    impl Unsent for Window {
        fn unsent(&self) -> Option<u64> {
            Some(self.unsent.load(Ordering::SeqCst))
        }
    }

    impl AsyncRead for Window {
        fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, _: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
            Poll::Pending
        }
    }

    impl AsyncWrite for Window {
        fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            let room = self.room.load(Ordering::SeqCst);
            if room == 0 {
                *self.waiting.lock().unwrap() = Some(cx.waker().clone());
                return Poll::Pending;
            }
            let n = room.min(buf.len() as u64);
            self.room.fetch_sub(n, Ordering::SeqCst);
            self.unsent.fetch_add(n, Ordering::SeqCst);
            Poll::Ready(Ok(n as usize))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    const STALL: Pace = Pace { write_stall: Duration::from_secs(5), ..PACE };

    /// 1 MiB written to a reader whose kernel takes `first` bytes, then `step` every `every`:
    /// how the write ended, and when.
    async fn write_to_reader(first: u64, step: u64, every: Duration) -> (io::Result<()>, Duration) {
        let window = Window::default();
        window.room.store(first, Ordering::SeqCst);
        window.read_on(step, every);
        let mut conn = WriteStall::new(window, STALL, ());
        let started = Instant::now();
        let written = conn.write_all(&vec![0u8; 1 << 20]).await;
        (written, started.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_whose_window_opens_in_steps_far_apart_is_not_cut() {
        // 64 kB every 12 s (5 kB/s, 10 times the rate), longer apart than the stall time: each
        // step tops the balance up to its most, 20 s.
        let (written, _) = write_to_reader(256 * 1024, 64 * 1024, Duration::from_secs(12)).await;
        written.expect("a steady reader is not cut");
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_taking_little_and_often_is_held_to_the_rate() {
        // 300 bytes every 1.9 s (158 B/s, under the 500 B/s rate), each step well inside the
        // stall time: the balance (20 s) drains by 1.3 s a step, and runs out.
        let (written, took) = write_to_reader(4096, 300, Duration::from_millis(1900)).await;
        assert_eq!(written.unwrap_err().kind(), io::ErrorKind::TimedOut);
        assert!(took < Duration::from_secs(60), "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_slower_than_the_rate_is_cut() {
        // 64 kB every 200 s (330 B/s, under the 500 B/s rate): the first step comes after the
        // balance, 20 s, ran out.
        let (written, took) = write_to_reader(256 * 1024, 64 * 1024, Duration::from_secs(200)).await;
        assert_eq!(written.unwrap_err().kind(), io::ErrorKind::TimedOut);
        assert!(took < Duration::from_secs(21), "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_the_peer_never_takes_fails_after_the_limit() {
        let (ours, _theirs) = tokio::io::duplex(16);
        let mut conn = WriteStall::new(ours, Pace { write_stall: Duration::from_secs(5), ..PACE }, ());
        let started = Instant::now();
        let written = conn.write_all(&[0u8; 64]).await;
        assert_eq!(written.unwrap_err().kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_secs(20) && started.elapsed() < Duration::from_secs(21));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_reader_that_keeps_reading_is_not_cut() {
        use tokio::io::AsyncReadExt;
        let (ours, mut theirs) = tokio::io::duplex(16);
        let mut conn = WriteStall::new(ours, Pace { write_stall: Duration::from_secs(5), ..PACE }, ());
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
