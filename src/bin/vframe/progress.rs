//! What the user sees while many images are made (a batch of jobs, a sample's frames, a
//! storyboard's tiles): one line per failure on stderr, and, when stderr is a terminal and
//! more than one is planned, a count updated in place at most ten times a second (the
//! first, the last and every failure always drawn).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The shortest time between two drawings of the count.
const REDRAW: Duration = Duration::from_millis(100);

pub struct Progress {
    /// What is counted, plural: `images`, `frames`, `tiles`.
    what: &'static str,
    /// How many are planned, when known.
    total: Option<u64>,
    done: u64,
    failed: u64,
    /// Whether the count is drawn.
    live: bool,
    /// When the count was last drawn.
    shown: Option<Instant>,
    finished: bool,
}

impl Progress {
    pub fn new(what: &'static str, total: Option<u64>) -> Progress {
        let live = total.map_or(true, |n| n > 1) && std::io::stderr().is_terminal();
        Progress { what, total, done: 0, failed: 0, live, shown: None, finished: false }
    }

    /// One more was made.
    pub fn done(&mut self) {
        self.set(self.done + 1);
    }

    /// `done` are made now.
    pub fn set(&mut self, done: u64) {
        if done == self.done && self.shown.is_some() {
            return;
        }
        self.done = done;
        self.draw(false);
    }

    /// One failed: `message` on a line of its own.
    pub fn fail(&mut self, message: &str) {
        self.failed += 1;
        if self.live {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
        }
        crate::say(&format!("vframe: {}", crate::one_line(message)));
        self.draw(true);
    }

    fn draw(&mut self, always: bool) {
        let count = self.done + self.failed;
        let last = self.total == Some(count);
        if !self.live || (!(always || last) && self.shown.is_some_and(|t| t.elapsed() < REDRAW)) {
            return;
        }
        self.shown = Some(Instant::now());
        let failed = if self.failed > 0 { format!(", {} failed", self.failed) } else { String::new() };
        let of = self.total.map_or(String::new(), |n| format!("/{n}"));
        let _ = write!(std::io::stderr().lock(), "\r\x1b[Kvframe: {count}{of} {}{failed}", self.what);
    }

    /// Ends the count's line, says how many failed, and gives the exit status.
    pub fn finish(mut self) -> ExitCode {
        self.finished = true;
        if self.live && self.shown.is_some() {
            crate::say("");
        }
        if self.failed == 0 {
            return ExitCode::SUCCESS;
        }
        let of = self.total.unwrap_or(self.done + self.failed);
        crate::say(&format!("vframe: {} of {of} {} failed", self.failed, self.what));
        ExitCode::FAILURE
    }
}

impl Drop for Progress {
    /// A run that stops early (an error) clears the count, so its message starts the line.
    fn drop(&mut self) {
        if !self.finished && self.live && self.shown.is_some() {
            let _ = std::io::stderr().write_all(b"\r\x1b[K");
        }
    }
}
