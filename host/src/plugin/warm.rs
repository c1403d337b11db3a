//! Instances kept between the calls of one plugin on one webhook.
//!
//! A fresh store and instance per call costs what the guest's toolchain
//! puts in front of its code: componentize-js's engine touches hundreds
//! of pages of its snapshot and compiles its handler again on every call
//! in a new instance, componentize-py's 14 core modules fault their pages
//! in. Keeping an instance that has just returned cleanly and handing it
//! to the next call of the same plugin, with the same config, on the same
//! webhook at the same version, saves all of that.
//!
//! What a kept instance can carry from one call to the next is what its
//! guest kept in memory from earlier events of that webhook: events that
//! were going to the same receiver through the same plugin anyway. So an
//! instance is never handed to another webhook (another receiver), to a
//! changed webhook (its version is in the key), to another organisation,
//! or to a test call or console script run (those always start fresh).
//!
//! An instance is dropped rather than kept after anything but a clean
//! return (a trap, running out of fuel or time, the wall-clock limit),
//! after [`MAX_CALLS`] calls, once its largest memory has grown by half of
//! the headroom it had after its first call (so a guest that leaks
//! restarts well before the memory cap, rather than failing a call that a
//! fresh instance would have run), and after [`IDLE_LIMIT`] unused (looked
//! for at every call and by a sweep every half minute). At
//! most `max` instances are kept in a process; beyond that the one unused
//! longest goes.

use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Calls one kept instance serves before it is replaced by a fresh one.
pub const MAX_CALLS: u32 = 1000;

/// A kept instance unused this long is dropped (by the next call that
/// looks in the pool, or the server's half-minute sweep), giving its
/// memory back.
pub const IDLE_LIMIT: Duration = Duration::from_secs(60);

/// Which calls may share an instance: one plugin version with one config,
/// on one webhook at one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmKey {
    scope: String,
    plugin: String,
    config: u64,
}

impl WarmKey {
    /// `scope` names the webhook and its version; `config` is the config
    /// string the guest receives (for a script, its code is in it).
    pub fn new(scope: &str, plugin: &str, config: &str) -> WarmKey {
        let mut hasher = std::hash::DefaultHasher::new();
        config.hash(&mut hasher);
        WarmKey {
            scope: scope.to_string(),
            plugin: plugin.to_string(),
            config: hasher.finish(),
        }
    }
}

struct Idle<T> {
    key: WarmKey,
    kept: T,
    since: Instant,
}

/// The kept instances of a process (`T`: an instance with its store),
/// oldest first.
pub struct WarmPool<T> {
    max: usize,
    idle: Mutex<Vec<Idle<T>>>,
}

impl<T> WarmPool<T> {
    pub fn new(max: usize) -> WarmPool<T> {
        WarmPool {
            max,
            idle: Mutex::new(Vec::with_capacity(max)),
        }
    }

    /// The instance most recently kept under `key`, taken out of the pool.
    pub fn take(&self, key: &WarmKey) -> Option<T> {
        if self.max == 0 {
            return None;
        }
        let (found, expired) = {
            let mut idle = self.idle.lock().expect("warm pool lock");
            let found = idle
                .iter()
                .rposition(|i| &i.key == key)
                .map(|at| idle.remove(at).kept);
            (found, expire(&mut idle))
        };
        // Stores are dropped outside the lock: dropping one returns its
        // instance to the allocator's pool, which takes a while.
        drop(expired);
        found
    }

    /// Keeps an instance that returned cleanly, for the next call of `key`.
    pub fn put(&self, key: WarmKey, kept: T) {
        if self.max == 0 {
            return;
        }
        let evicted = {
            let mut idle = self.idle.lock().expect("warm pool lock");
            let mut evicted = expire(&mut idle);
            if idle.len() >= self.max {
                evicted.push(idle.remove(0));
            }
            idle.push(Idle {
                key,
                kept,
                since: Instant::now(),
            });
            evicted
        };
        drop(evicted);
    }

    /// Drops the instances unused for longer than [`IDLE_LIMIT`].
    pub fn expire_idle(&self) {
        let expired = expire(&mut self.idle.lock().expect("warm pool lock"));
        drop(expired);
    }

    /// Instances kept now.
    pub fn kept(&self) -> usize {
        self.idle.lock().expect("warm pool lock").len()
    }
}

/// Takes out the instances unused for longer than [`IDLE_LIMIT`] (the
/// oldest are first).
fn expire<T>(idle: &mut Vec<Idle<T>>) -> Vec<Idle<T>> {
    let stale = idle
        .iter()
        .take_while(|i| i.since.elapsed() > IDLE_LIMIT)
        .count();
    idle.drain(..stale).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_by_scope_plugin_and_config() {
        let key = WarmKey::new("whk_1@3", "plg_1", r#"{"a":1}"#);
        assert_eq!(key, WarmKey::new("whk_1@3", "plg_1", r#"{"a":1}"#));
        assert_ne!(key, WarmKey::new("whk_1@4", "plg_1", r#"{"a":1}"#));
        assert_ne!(key, WarmKey::new("whk_2@3", "plg_1", r#"{"a":1}"#));
        assert_ne!(key, WarmKey::new("whk_1@3", "plg_2", r#"{"a":1}"#));
        assert_ne!(key, WarmKey::new("whk_1@3", "plg_1", r#"{"a":2}"#));
    }
}
