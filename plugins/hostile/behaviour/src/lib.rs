//! The misbehaviours of the hostile test plugins, chosen by configuration,
//! shared by `hostile-filter` and `hostile-transform` so that the host's
//! sandbox can be tested on both worlds with the same attacks.
//!
//! Config: `{"behaviour": "<name>", ...}`, where name is one of:
//! - `none`: behave (the filter delivers, the transform passes through);
//! - `infinite-loop`: spin forever (the host's fuel or deadline must stop it);
//! - `memory-bomb`: allocate and touch 1 MiB blocks without bound;
//! - `deep-recursion`: recurse without bound until the stack runs out;
//! - `panic`: a Rust panic, which traps (`wasm32-wasip2` aborts on panic);
//! - `unreachable`: the `unreachable` instruction, a trap without Rust's
//!   panic machinery;
//! - `huge-output`: produce `bytes` bytes of output (default 64 MiB): the
//!   transform's body, or the filter's error message;
//! - `sleep`: sleep `ms` milliseconds (default an hour) on a WASI clock,
//!   using no CPU (the host's wall-clock limit must stop it), then behave;
//! - `long-error`: return a `failed` error of `chars` three-byte characters
//!   (default 4,000: `€`), which the host must cut without splitting one;
//! - `remember`: behave, and keep each event's id in the instance's
//!   memory; the transform returns the ids this instance saw before, in
//!   order, comma-separated, in header `x-seen-before` (the host may keep
//!   an instance between deliveries of one webhook: this shows what such
//!   an instance carries over, and what it must not);
//! - `hoard` (`kib`, default 4096): behave, and keep that much more memory
//!   on every call, never freed (an instance that leaks);
//! - `read-env` (`var`, default `PATH`), `read-file` (`path`, default
//!   `/etc/passwd`), `connect-tcp` (`addr`, default `127.0.0.1:9`): try to
//!   escape the sandbox. These always return a `failed` plugin error: its
//!   message starts with `sandbox held:` and gives the error the plugin met
//!   when the host denied access, or starts with `sandbox breached:` when
//!   the attempt worked.

use std::hint::black_box;

use scaihub_sdk::{Config, Error};
use serde::Deserialize;

/// One way to misbehave, as configured.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "behaviour", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Behaviour {
    /// Behave.
    None,
    /// Spin forever.
    InfiniteLoop,
    /// Allocate without bound.
    MemoryBomb,
    /// Recurse without bound.
    DeepRecursion,
    /// Panic.
    Panic,
    /// Execute `unreachable`.
    Unreachable,
    /// Produce `bytes` bytes of output.
    HugeOutput {
        /// How many bytes.
        #[serde(default = "default_huge_bytes")]
        bytes: usize,
    },
    /// Sleep, then behave.
    Sleep {
        /// How long.
        #[serde(default = "default_sleep_ms")]
        ms: u64,
    },
    /// Behave, remembering the events seen.
    Remember,
    /// Behave, keeping `kib` KiB more memory on every call.
    Hoard {
        /// How much a call.
        #[serde(default = "default_hoard_kib")]
        kib: usize,
    },
    /// Fail with a long message of multi-byte characters.
    LongError {
        /// How many characters.
        #[serde(default = "default_error_chars")]
        chars: usize,
    },
    /// Read an environment variable.
    ReadEnv {
        /// Which variable.
        #[serde(default = "default_var")]
        var: String,
    },
    /// Read a file.
    ReadFile {
        /// Which file.
        #[serde(default = "default_path")]
        path: String,
    },
    /// Open a TCP connection.
    ConnectTcp {
        /// To where, `host:port`.
        #[serde(default = "default_addr")]
        addr: String,
    },
}

fn default_huge_bytes() -> usize {
    64 << 20
}

fn default_sleep_ms() -> u64 {
    60 * 60 * 1000
}

fn default_error_chars() -> usize {
    4000
}

fn default_hoard_kib() -> usize {
    4096
}

fn default_var() -> String {
    "PATH".to_owned()
}

fn default_path() -> String {
    "/etc/passwd".to_owned()
}

fn default_addr() -> String {
    "127.0.0.1:9".to_owned()
}

impl Behaviour {
    /// Reads the behaviour from the plugin's configuration.
    pub fn from_config(config: &Config) -> Result<Self, Error> {
        config.parse()
    }

    /// Carries out every behaviour except `none` and `huge-output`, which
    /// differ per world and are the caller's: returns `Ok` for those two,
    /// and for `sleep` once it has slept. The others never return, trap, or
    /// return an error.
    pub fn misbehave(&self) -> Result<(), Error> {
        match self {
            Self::None | Self::HugeOutput { .. } | Self::Remember => Ok(()),
            Self::Hoard { kib } => {
                HOARD
                    .lock()
                    .map_err(Error::failed)?
                    .push(black_box(vec![0x5A; kib * 1024]));
                Ok(())
            }
            Self::InfiniteLoop => infinite_loop(),
            Self::MemoryBomb => memory_bomb(),
            Self::DeepRecursion => {
                recurse(0);
                Err(Error::failed("recursion returned, which it cannot"))
            }
            Self::Panic => panic!("hostile plugin panicked on purpose"),
            Self::Unreachable => unreachable_instruction(),
            Self::Sleep { ms } => {
                std::thread::sleep(std::time::Duration::from_millis(*ms));
                Ok(())
            }
            Self::LongError { chars } => Err(Error::failed("€".repeat(*chars))),
            Self::ReadEnv { var } => Err(escape_report(
                &format!("reading environment variable {var}"),
                std::env::var(var).map(|v| v.len()),
            )),
            Self::ReadFile { path } => Err(escape_report(
                &format!("reading file {path}"),
                std::fs::read(path).map(|bytes| bytes.len()),
            )),
            Self::ConnectTcp { addr } => Err(escape_report(
                &format!("connecting to {addr}"),
                std::net::TcpStream::connect(addr.as_str()).map(|_| 0),
            )),
        }
    }
}

/// What `hoard` keeps: every block it was given, for the instance's life.
static HOARD: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());

/// The events `remember` saw in this instance, in order.
static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// For `remember`: the ids this instance saw before `event_id`,
/// comma-separated, then notes `event_id` as seen.
pub fn remember(event_id: &str) -> String {
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    let before = seen.join(",");
    seen.push(event_id.to_owned());
    before
}

/// `bytes` bytes of printable filler, for `huge-output`.
pub fn huge_output(bytes: usize) -> Vec<u8> {
    vec![b'x'; bytes]
}

/// The error an escape attempt returns, whether it worked (`Ok` with how
/// many bytes it read) or not.
fn escape_report<E: std::fmt::Display>(attempt: &str, outcome: Result<usize, E>) -> Error {
    match outcome {
        Ok(len) => Error::failed(format!(
            "sandbox breached: {attempt} succeeded ({len} bytes)"
        )),
        Err(e) => Error::failed(format!("sandbox held: {attempt} failed: {e}")),
    }
}

fn infinite_loop() -> ! {
    let mut n = 0u64;
    loop {
        // black_box keeps the optimizer from proving the loop useless.
        n = black_box(n.wrapping_add(1));
    }
}

fn memory_bomb() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        // Non-zero fill so every page is really written, not lazily zeroed.
        hoard.push(black_box(vec![0xA5; 1 << 20]));
        black_box(&hoard);
    }
}

/// Never returns: each frame holds 512 bytes and calls itself again.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth; 64]);
    if black_box(depth == u64::MAX) {
        return 0;
    }
    recurse(depth + 1).wrapping_add(frame[(depth % 64) as usize])
}

#[cfg(target_arch = "wasm32")]
fn unreachable_instruction() -> ! {
    core::arch::wasm32::unreachable()
}

#[cfg(not(target_arch = "wasm32"))]
fn unreachable_instruction() -> ! {
    std::process::abort()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaviours_parse_with_defaults() {
        let parse = |raw: &str| Behaviour::from_config(&Config::new(raw)).unwrap();
        assert_eq!(
            parse(r#"{"behaviour": "infinite-loop"}"#),
            Behaviour::InfiniteLoop
        );
        assert_eq!(
            parse(r#"{"behaviour": "huge-output"}"#),
            Behaviour::HugeOutput { bytes: 64 << 20 }
        );
        assert_eq!(
            parse(r#"{"behaviour": "sleep"}"#),
            Behaviour::Sleep { ms: 3_600_000 }
        );
        assert_eq!(
            parse(r#"{"behaviour": "long-error", "chars": 3}"#),
            Behaviour::LongError { chars: 3 }
        );
        assert_eq!(
            parse(r#"{"behaviour": "read-file", "path": "/x"}"#),
            Behaviour::ReadFile { path: "/x".into() }
        );
    }

    #[test]
    fn unknown_or_missing_behaviour_is_invalid_config() {
        for raw in ["", r#"{"behaviour": "fork-bomb"}"#] {
            let got = Behaviour::from_config(&Config::new(raw));
            assert!(
                matches!(got, Err(Error::InvalidConfig(_))),
                "{raw}: {got:?}"
            );
        }
    }

    #[test]
    fn escape_reports_say_whether_the_sandbox_held() {
        let held = escape_report::<&str>("reading x", Err("denied"));
        assert_eq!(
            held,
            Error::failed("sandbox held: reading x failed: denied")
        );
        let breached = escape_report::<&str>("reading x", Ok(3));
        assert!(breached.message().starts_with("sandbox breached:"));
    }
}
