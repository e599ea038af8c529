//! Logs that can never stop the service: every line goes through a bounded queue to one
//! thread that writes it to stderr. A full queue (stderr blocks: a reader that stopped
//! reading) or a failed write (a closed pipe, a full disk) drops the line and counts it
//! (`vframe_log_lines_dropped_total`); nothing that logs ever waits on stderr or fails
//! because of it. tracing-subscriber's own report of a failed write (an `eprintln!`, which
//! panics when stderr is unwritable) is turned off.

use std::io::{self, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::LazyLock;

use prometheus_client::metrics::counter::Counter;
use tracing_subscriber::fmt::MakeWriter;

/// Lines that may wait for the writer thread.
const QUEUE_LINES: usize = 1024;

static DROPPED: LazyLock<Counter> = LazyLock::new(Counter::default);

/// Log lines dropped because stderr could not take them (registered in the metrics).
pub fn dropped() -> &'static Counter {
    &DROPPED
}

/// Makes the writers of [`init`]'s subscriber: each event is one buffered line, queued on drop.
#[derive(Clone)]
pub struct Sink {
    queue: SyncSender<Vec<u8>>,
}

impl Sink {
    /// A sink whose writer thread writes to `out` (stderr in the server).
    pub fn start(out: impl Write + Send + 'static) -> Sink {
        let (queue, lines) = sync_channel(QUEUE_LINES);
        let spawned = std::thread::Builder::new().name("vframe-log".into()).spawn(move || write_lines(lines, out));
        if spawned.is_err() {
            // No writer: every line is dropped (counted), the service goes on.
            DROPPED.inc();
        }
        Sink { queue }
    }
}

fn write_lines(lines: Receiver<Vec<u8>>, mut out: impl Write) {
    for line in lines {
        if out.write_all(&line).and_then(|()| out.flush()).is_err() {
            DROPPED.inc();
        }
    }
}

/// One event's bytes, queued when dropped (the fmt layer writes an event in one go).
pub struct Line {
    buffer: Vec<u8>,
    queue: SyncSender<Vec<u8>>,
}

impl Write for Line {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        match self.queue.try_send(std::mem::take(&mut self.buffer)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                DROPPED.inc();
            }
        }
    }
}

impl<'a> MakeWriter<'a> for Sink {
    type Writer = Line;
    fn make_writer(&'a self) -> Line {
        Line { buffer: Vec::new(), queue: self.queue.clone() }
    }
}

/// Installs the global subscriber: `VFRAME_LOG` (default `info`), text or JSON lines, to
/// stderr through a [`Sink`].
pub fn init(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VFRAME_LOG").unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Sink::start(io::stderr()))
        .log_internal_errors(false);
    if json {
        logs.json().init();
    } else {
        logs.init();
    }
}

/// A message for stderr outside the log (start and exit errors): never panics.
pub fn print_error(message: &str) {
    let _ = writeln!(io::stderr(), "vframe-server: {message}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    /// Fails every write, or blocks until released.
    struct Stuck {
        fail: bool,
        gate: Arc<Mutex<()>>,
    }

    impl Write for Stuck {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            let _held = self.gate.lock().unwrap();
            if self.fail {
                Err(io::Error::from(io::ErrorKind::BrokenPipe))
            } else {
                Err(io::Error::from(io::ErrorKind::StorageFull))
            }
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_blocked_or_failing_stderr_drops_lines_and_never_waits() {
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().unwrap();
        let sink = Sink::start(Stuck { fail: false, gate: gate.clone() });
        let before = dropped().get();
        let started = Instant::now();
        for _ in 0..QUEUE_LINES + 100 {
            writeln!(sink.make_writer(), "a line").unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(2), "a blocked stderr makes nobody wait");
        assert!(dropped().get() >= before + 99, "the lines past the queue are dropped");
        drop(held);
        let failing = Sink::start(Stuck { fail: true, gate });
        let before = dropped().get();
        writeln!(failing.make_writer(), "lost").unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while dropped().get() == before && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(dropped().get() > before, "a failed write is counted");
    }
}
