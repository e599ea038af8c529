//! What the user sees while many images are made: one line per failure on stderr, and, when
//! stderr is a terminal and there is more than one image, a count updated in place.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

pub struct Progress {
    total: usize,
    written: usize,
    failed: usize,
    /// Whether the count is drawn (stderr is a terminal, more than one image).
    live: bool,
}

impl Progress {
    pub fn new(total: usize) -> Progress {
        Progress { total, written: 0, failed: 0, live: total > 1 && std::io::stderr().is_terminal() }
    }

    /// An image was written.
    pub fn done(&mut self) {
        self.written += 1;
        self.draw();
    }

    /// A job failed: `message` on a line of its own.
    pub fn fail(&mut self, message: &str) {
        self.failed += 1;
        let mut err = std::io::stderr().lock();
        if self.live {
            let _ = write!(err, "\r\x1b[K");
        }
        let _ = writeln!(err, "vframe: {}", crate::one_line(message));
        drop(err);
        self.draw();
    }

    fn draw(&self) {
        if self.live {
            let failed = if self.failed > 0 { format!(", {} failed", self.failed) } else { String::new() };
            let _ = write!(
                std::io::stderr().lock(),
                "\r\x1b[Kvframe: {}/{} images{failed}",
                self.written + self.failed,
                self.total
            );
        }
    }

    /// Ends the count's line, says how many failed, and gives the exit status.
    pub fn finish(self) -> ExitCode {
        if self.live {
            eprintln!();
        }
        if self.failed == 0 {
            return ExitCode::SUCCESS;
        }
        eprintln!("vframe: {} of {} images failed", self.failed, self.total);
        ExitCode::FAILURE
    }
}
