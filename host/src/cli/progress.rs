//! The upload progress bar (indicatif) on stderr: bytes sent as the HTTP
//! client pulls them from the body, then a spinner while the server
//! compiles. Drawn on a terminal; `--progress always` draws it as plain
//! lines elsewhere too (logs, CI), `never` not at all.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

/// When to draw progress.
#[derive(Debug, Clone, Copy, Default, ValueEnum)]
pub enum Progress {
    /// On a terminal only.
    #[default]
    Auto,
    /// Always, as plain lines when stderr is not a terminal.
    Always,
    /// Never.
    Never,
}

/// Chunks the body is sent in; each one pulled moves the bar.
const CHUNK: usize = 64 * 1024;

/// The progress of one upload.
pub struct UploadProgress {
    bar: ProgressBar,
    plain: Option<Arc<Mutex<bool>>>,
    name: String,
    total: u64,
}

impl UploadProgress {
    pub fn new(mode: Progress, total: u64, name: &str) -> UploadProgress {
        use std::io::IsTerminal;
        let mut plain = None;
        let target = match mode {
            Progress::Never => ProgressDrawTarget::hidden(),
            // indicatif hides itself when stderr is not a terminal.
            Progress::Auto => ProgressDrawTarget::stderr(),
            Progress::Always if io::stderr().is_terminal() => ProgressDrawTarget::stderr(),
            Progress::Always => {
                let mid_line = Arc::new(Mutex::new(false));
                plain = Some(mid_line.clone());
                ProgressDrawTarget::term_like_with_hz(Box::new(PlainLines { mid_line }), 4)
            }
        };
        let bar = ProgressBar::with_draw_target(Some(total), target);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {percent}% {binary_bytes_per_sec}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        bar.set_message(format!("uploading {name}"));
        UploadProgress {
            bar,
            plain,
            name: name.to_string(),
            total,
        }
    }

    /// `bytes` as a request body that moves the bar as it is sent, and
    /// turns it into a spinner once everything is sent.
    pub fn body(&self, bytes: Vec<u8>) -> reqwest::Body {
        let bytes = Bytes::from(bytes);
        let total = bytes.len();
        let chunks: Vec<Bytes> = (0..total)
            .step_by(CHUNK)
            .map(|start| bytes.slice(start..(start + CHUNK).min(total)))
            .collect();
        let bar = self.bar.clone();
        let name = self.name.clone();
        let spin = self.plain.is_none();
        let stream = futures_util::stream::iter(chunks.into_iter().map(move |c| {
            bar.inc(c.len() as u64);
            if bar.position() >= total as u64 {
                waiting(&bar, &name, spin);
            }
            Ok::<_, io::Error>(c)
        }));
        reqwest::Body::wrap_stream(stream)
    }

    /// The server answered that it is still compiling.
    pub fn compiling(&self) {
        waiting(&self.bar, &self.name, self.plain.is_none());
    }

    pub fn finish(&self, state: &str) {
        self.bar
            .set_style(ProgressStyle::with_template("{msg}").expect("a valid template"));
        self.bar.finish_with_message(format!(
            "{}: {} bytes uploaded, {state}",
            self.name, self.total
        ));
        self.end_line();
    }

    pub fn abandon(&self) {
        self.bar.abandon();
        self.end_line();
    }

    fn end_line(&self) {
        if let Some(mid) = &self.plain {
            let mut mid = mid.lock().expect("progress lock");
            if *mid {
                eprintln!();
                *mid = false;
            }
        }
    }
}

/// Everything is sent: until the server answers, a spinner on a terminal,
/// one line elsewhere (a spinner there would be a line per tick).
fn waiting(bar: &ProgressBar, name: &str, spin: bool) {
    let message = format!("waiting for the server to compile {name}");
    if *bar.message() == message {
        return;
    }
    bar.set_style(
        ProgressStyle::with_template("{msg} {spinner} {elapsed}").expect("a valid template"),
    );
    bar.set_message(message);
    if spin {
        bar.enable_steady_tick(Duration::from_millis(120));
    } else {
        // Plain lines redraw at most 4 times a second and only on a
        // change: this one change may fall inside the last upload draw's
        // quarter second, and nothing changes again until the compile ends.
        bar.force_draw();
    }
}

/// A terminal that cannot move its cursor: each redraw is a new line.
#[derive(Debug)]
struct PlainLines {
    /// Whether the last write left a line unfinished.
    mid_line: Arc<Mutex<bool>>,
}

impl TermLike for PlainLines {
    fn width(&self) -> u16 {
        100
    }
    fn move_cursor_up(&self, _: usize) -> io::Result<()> {
        Ok(())
    }
    fn move_cursor_down(&self, _: usize) -> io::Result<()> {
        Ok(())
    }
    fn move_cursor_right(&self, _: usize) -> io::Result<()> {
        Ok(())
    }
    fn move_cursor_left(&self, _: usize) -> io::Result<()> {
        Ok(())
    }
    fn write_line(&self, s: &str) -> io::Result<()> {
        *self.mid_line.lock().expect("progress lock") = false;
        // indicatif pads lines to the width; plain lines need no padding.
        writeln!(io::stderr(), "{}", s.trim_end())
    }
    fn write_str(&self, s: &str) -> io::Result<()> {
        let s = s.trim_end();
        if !s.is_empty() {
            *self.mid_line.lock().expect("progress lock") = true;
        }
        write!(io::stderr(), "{s}")
    }
    fn clear_line(&self) -> io::Result<()> {
        let mut mid = self.mid_line.lock().expect("progress lock");
        if *mid {
            *mid = false;
            writeln!(io::stderr())?;
        }
        Ok(())
    }
    fn flush(&self) -> io::Result<()> {
        io::stderr().flush()
    }
}
