//! A one-line progress indicator on stderr for the CLI's longer tasks (demo loading, exports):
//! redrawn in place on a terminal, one line per step otherwise (CI logs stay readable).

use std::io::{IsTerminal as _, Write as _};

pub struct Progress {
    what: String,
    total: usize,
    done: usize,
    terminal: bool,
}

impl Progress {
    /// `total` steps; 0 when the total is not known up front.
    pub fn new(what: &str, total: usize) -> Self {
        Self {
            what: what.to_owned(),
            total,
            done: 0,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    /// Marks one more step done, naming it.
    pub fn step(&mut self, label: &str) {
        self.done += 1;
        // Without a known total (a stream), there is no bar: the label says how far it got.
        let line = if self.total == 0 {
            format!("{}: {label}", self.what)
        } else {
            format!(
                "{} [{}] {}/{} {label}",
                self.what,
                bar(self.done, self.total, 20),
                self.done,
                self.total
            )
        };
        let mut err = std::io::stderr().lock();
        if self.terminal {
            // Clear the rest of the line: a shorter label must not leave the old one's tail.
            let _ = write!(err, "\r{line}\x1b[K");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    /// Ends the line on a terminal.
    pub fn finish(&self) {
        if self.terminal {
            eprintln!();
        }
    }
}

/// `width` cells, `done/total` of them filled.
fn bar(done: usize, total: usize, width: usize) -> String {
    let filled = (done.min(total) * width)
        .checked_div(total)
        .unwrap_or(width);
    format!("{}{}", "#".repeat(filled), ".".repeat(width - filled))
}

#[cfg(test)]
mod tests {
    use super::bar;

    #[test]
    fn the_bar_fills_in_proportion_and_never_overflows() {
        assert_eq!(bar(0, 4, 8), "........");
        assert_eq!(bar(1, 4, 8), "##......");
        assert_eq!(bar(4, 4, 8), "########");
        assert_eq!(bar(9, 4, 8), "########");
        assert_eq!(bar(0, 0, 4), "####");
    }
}
