//! The plugin runtime's call slots, shared fairly among tenants.
//!
//! A plain semaphore hands freed slots to whoever asked first, so one
//! organisation whose plugins are slow (or hostile: spinning to their time
//! cap, sleeping to their wall-clock limit) and whose deliveries keep
//! coming would hold every slot, and every other organisation's plugin calls
//! would wait behind it. Here, while slots are short, each freed slot goes
//! to the next organisation in turn that is waiting, so a busy tenant gets
//! at most its share whenever others want theirs.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// Slots handed out round-robin among the keys (organisations) waiting.
pub struct FairSlots {
    state: Mutex<State>,
}

struct State {
    free: usize,
    /// Keys with waiters, in the order their turns come.
    turns: VecDeque<String>,
    /// Each key's waiters, oldest first.
    waiting: HashMap<String, VecDeque<oneshot::Sender<()>>>,
}

/// A slot held; it returns (or passes to the next in turn) when dropped.
pub struct Slot {
    slots: Arc<FairSlots>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.release();
    }
}

/// A wait that can no longer be granted (its sender was dropped).
#[derive(Debug)]
pub struct Closed;

impl FairSlots {
    pub fn new(slots: usize) -> Arc<FairSlots> {
        Arc::new(FairSlots {
            state: Mutex::new(State {
                free: slots,
                turns: VecDeque::new(),
                waiting: HashMap::new(),
            }),
        })
    }

    /// Waits for a slot on behalf of `key`.
    pub async fn acquire(self: &Arc<Self>, key: &str) -> Result<Slot, Closed> {
        let rx = {
            let mut state = self.state.lock().expect("slots lock");
            if state.free > 0 && state.turns.is_empty() {
                state.free -= 1;
                return Ok(Slot {
                    slots: self.clone(),
                });
            }
            let (tx, rx) = oneshot::channel();
            let queue = state.waiting.entry(key.to_string()).or_default();
            let first = queue.is_empty();
            queue.push_back(tx);
            if first {
                state.turns.push_back(key.to_string());
            }
            rx
        };
        let mut waiter = Waiter {
            rx: Some(rx),
            slots: self,
        };
        let granted = waiter.rx.as_mut().expect("set above").await;
        // Settled either way: nothing for the waiter's drop to give back.
        waiter.rx = None;
        granted
            .map(|()| Slot {
                slots: self.clone(),
            })
            .map_err(|_| Closed)
    }

    /// Hands a freed slot to the next key in turn, or keeps it free.
    fn release(&self) {
        let mut state = self.state.lock().expect("slots lock");
        while let Some(key) = state.turns.pop_front() {
            let Some(queue) = state.waiting.get_mut(&key) else {
                continue;
            };
            let next = queue.pop_front();
            if queue.is_empty() {
                state.waiting.remove(&key);
            } else {
                state.turns.push_back(key);
            }
            // A waiter that gave up has dropped its receiver: try the next.
            if let Some(tx) = next
                && tx.send(()).is_ok()
            {
                return;
            }
        }
        state.free += 1;
    }
}

/// A wait in progress. If it is dropped (its task cancelled) after a slot
/// was handed to it but before it took it, the slot goes back.
struct Waiter<'a> {
    rx: Option<oneshot::Receiver<()>>,
    slots: &'a Arc<FairSlots>,
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            rx.close();
            if rx.try_recv().is_ok() {
                self.slots.release();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Which keys got the slot, in order, as slots free one at a time.
    #[tokio::test]
    async fn freed_slots_go_to_the_waiting_keys_in_turn() {
        let slots = FairSlots::new(1);
        let first = slots.acquire("busy").await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        // The busy tenant queues five calls before the quiet one asks once.
        for (i, key) in ["busy", "busy", "busy", "busy", "busy", "quiet"]
            .into_iter()
            .enumerate()
        {
            let (slots, order) = (slots.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let slot = slots.acquire(key).await.unwrap();
                order.lock().unwrap().push(format!("{key}{i}"));
                tokio::time::sleep(Duration::from_millis(5)).await;
                drop(slot);
            }));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(first);
        for t in tasks {
            t.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        assert_eq!(order[0], "busy0");
        assert_eq!(order[1], "quiet5", "{order:?}");
        assert_eq!(order.len(), 6);
    }

    #[tokio::test]
    async fn a_cancelled_wait_loses_no_slot() {
        let slots = FairSlots::new(1);
        let held = slots.acquire("a").await.unwrap();
        let waiting = {
            let slots = slots.clone();
            tokio::spawn(async move { slots.acquire("b").await.map(|_| ()) })
        };
        tokio::time::sleep(Duration::from_millis(5)).await;
        waiting.abort();
        let _ = waiting.await;
        drop(held);
        // The one slot is free again, not lost to the cancelled waiter.
        let again = tokio::time::timeout(Duration::from_secs(1), slots.acquire("c")).await;
        assert!(again.is_ok());
    }
}
