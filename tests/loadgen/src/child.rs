//! Processes: a spawned child with its output kept in memory, signals and
//! a kill when dropped (so no child outlives an error or the global
//! timeout), and CPU and memory figures from `/proc`.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How much of a child's stderr is kept, from the end.
const KEEP_BYTES: usize = 64 * 1024;

pub struct Proc {
    pub name: &'static str,
    child: Child,
    stderr: Arc<Mutex<String>>,
}

/// Spawns `cmd` with stdout and stderr piped and stdin piped (held open by
/// the returned `Proc`). The child gets SIGTERM should this process die.
/// Answers the process and its stdout for the caller to read or capture.
pub fn spawn(
    name: &'static str,
    mut cmd: Command,
) -> anyhow::Result<(Proc, std::process::ChildStdout)> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: prctl is async-signal-safe and touches no memory of ours.
    // The spawning thread is a runtime worker, which lives as long as we do.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start {name} ({:?}): {e}", cmd.get_program()))?;
    let stdout = child.stdout.take().expect("piped");
    let stderr = capture(child.stderr.take().expect("piped"));
    Ok((
        Proc {
            name,
            child,
            stderr,
        },
        stdout,
    ))
}

/// Keeps the last [`KEEP_BYTES`] of a stream, read on its own thread.
pub fn capture(stream: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let buf = Arc::new(Mutex::new(String::new()));
    let out = buf.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let mut b = out.lock().expect("capture lock");
            b.push_str(&line);
            b.push('\n');
            if b.len() > 2 * KEEP_BYTES {
                let cut = b.len() - KEEP_BYTES;
                let cut = (cut..b.len())
                    .find(|i| b.is_char_boundary(*i))
                    .unwrap_or(b.len());
                b.drain(..cut);
            }
        }
    });
    buf
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The end of what the child wrote to stderr.
    pub fn stderr_tail(&self) -> String {
        self.stderr.lock().expect("capture lock").clone()
    }

    /// Fails, with the child's stderr, if it has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            anyhow::bail!(
                "{} exited with {status}:\n{}",
                self.name,
                self.stderr_tail()
            );
        }
        Ok(())
    }

    /// Peak resident set size (VmHWM) in KiB, read from `/proc`.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        proc_status_kib(self.pid(), "VmHWM:")
    }

    /// Resident memory now.
    pub fn rss_kib(&self) -> Option<u64> {
        proc_status_kib(self.pid(), "VmRSS:")
    }

    /// User + system CPU seconds the child has used so far.
    pub fn cpu_secs(&self) -> Option<f64> {
        cpu_secs(&format!("/proc/{}/stat", self.pid()))
    }

    /// Context switches (voluntary + involuntary) summed over the child's
    /// live threads: each hand-off between threads costs one or two.
    pub fn ctx_switches(&self) -> Option<u64> {
        let mut total = 0;
        for task in std::fs::read_dir(format!("/proc/{}/task", self.pid())).ok()? {
            let Ok(text) = std::fs::read_to_string(task.ok()?.path().join("status")) else {
                continue;
            };
            for line in text.lines() {
                if let Some(n) = line
                    .strip_prefix("voluntary_ctxt_switches:")
                    .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
                {
                    total += n.trim().parse::<u64>().unwrap_or(0);
                }
            }
        }
        Some(total)
    }

    /// Sends SIGTERM and waits up to `within` for the exit, then SIGKILL.
    /// Answers whether it exited by itself in time, and how long it took.
    pub async fn terminate(&mut self, within: Duration) -> anyhow::Result<Stopped> {
        let started = Instant::now();
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(self.pid() as i32, libc::SIGTERM) };
        while started.elapsed() < within {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Stopped {
                    clean: status.success(),
                    took: started.elapsed(),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = self.child.kill();
        let status = self.child.wait()?;
        eprintln!(
            "warning: {} did not stop within {within:?} of SIGTERM ({status} after SIGKILL)",
            self.name
        );
        Ok(Stopped {
            clean: false,
            took: started.elapsed(),
        })
    }
}

/// How a child ended after [`Proc::terminate`].
pub struct Stopped {
    /// Exited by itself, in time, with status 0.
    pub clean: bool,
    pub took: Duration,
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// utime + stime from a `/proc/…/stat` file, in seconds.
pub fn cpu_secs(stat_path: &str) -> Option<f64> {
    let text = std::fs::read_to_string(stat_path).ok()?;
    // The command name may hold spaces; fields after it are fixed.
    let after = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some((utime + stime) / ticks.max(1.0))
}

/// CPU seconds the whole machine spent busy (all cores, every process) since
/// boot, from `/proc/stat`: compared with our three processes it shows how
/// much of the machine something else took during a measurement.
pub fn machine_busy_secs() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest is inside user)
    let busy =
        v.first()? + v.get(1)? + v.get(2)? + v.get(5)? + v.get(6)? + v.get(7).unwrap_or(&0.0);
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(busy / ticks.max(1.0))
}

/// CPU seconds of the whole PostgreSQL server on this machine: every live
/// `postgres` process, plus what the postmaster's exited children used
/// (its cutime + cstime), so backends and autovacuum workers that ended
/// mid-run still count. Includes work for other databases, if any.
pub fn postgres_cpu_secs() -> Option<f64> {
    // SAFETY: sysconf has no preconditions.
    let ticks = (unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64).max(1.0);
    let mut total = 0.0;
    let mut found = false;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        if !entry
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if &stat[open + 1..close] != "postgres" {
            continue;
        }
        let fields: Vec<f64> = stat[close + 2..]
            .split_whitespace()
            .skip(11)
            .take(4)
            .filter_map(|f| f.parse().ok())
            .collect();
        let [utime, stime, cutime, cstime] = fields[..] else {
            continue;
        };
        found = true;
        total += utime + stime;
        // Children retitle themselves `postgres: …`; the postmaster keeps its path.
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if !cmdline.starts_with(b"postgres:") {
            total += cutime + cstime;
        }
    }
    found.then_some(total / ticks)
}
