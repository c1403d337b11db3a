//! The benchmark event: a SHARING event of about [`EVENT_BYTES`] of JSON,
//! carrying the moment it was sent in `payload.sent_at_us`.

/// Target size of one serialised event.
pub const EVENT_BYTES: usize = 600;

/// Builds events with ids unique to one run (`evt_<run tag>_<n>`).
pub struct EventMaker {
    run_tag: String,
}

impl EventMaker {
    pub fn new() -> EventMaker {
        EventMaker {
            run_tag: ulid::Ulid::new().to_string().to_lowercase(),
        }
    }

    /// Event number `n`, sent at `sent_at_us`, padded to about 600 bytes.
    pub fn event(&self, n: u64, sent_at_us: i64, timestamp: &str) -> String {
        let head = format!(
            r#"{{"event_id":"evt_{tag}_{n:08}","timestamp":"{timestamp}","category":"SHARING","action":"share.member_added","user_id":"usr_bench{u:04}","resource_id":"shr_bench{r:04}","payload":{{"principal_id":"usr_member{p:05}","role":"contributor","sent_at_us":{sent_at_us},"pad":""#,
            tag = self.run_tag,
            u = n % 1000,
            r = n % 500,
            p = n % 10_000,
        );
        let tail = r#""}}"#;
        let pad = EVENT_BYTES.saturating_sub(head.len() + tail.len());
        let mut out = String::with_capacity(head.len() + pad + tail.len());
        out.push_str(&head);
        out.extend(std::iter::repeat_n('x', pad));
        out.push_str(tail);
        out
    }

    /// A JSON array of events `first..first+count`, all sent now.
    pub fn batch(&self, first: u64, count: u64, sent_at_us: i64) -> String {
        let timestamp = rfc3339(sent_at_us);
        let mut out = String::with_capacity(count as usize * (EVENT_BYTES + 1) + 2);
        out.push('[');
        for n in first..first + count {
            if n > first {
                out.push(',');
            }
            out.push_str(&self.event(n, sent_at_us, &timestamp));
        }
        out.push(']');
        out
    }
}

/// `2026-05-12T14:23:01.123Z` for microseconds since the epoch.
pub fn rfc3339(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_about_600_bytes_of_valid_json_with_sent_at() {
        let maker = EventMaker::new();
        let one = maker.event(7, 1_700_000_000_123_456, "2026-05-12T14:23:01.000Z");
        assert_eq!(one.len(), EVENT_BYTES);
        let v: serde_json::Value = serde_json::from_str(&one).unwrap();
        assert_eq!(v["payload"]["sent_at_us"], 1_700_000_000_123_456_i64);
        assert!(v["event_id"].as_str().unwrap().ends_with("_00000007"));
        let batch: serde_json::Value = serde_json::from_str(&maker.batch(0, 3, 1)).unwrap();
        assert_eq!(batch.as_array().unwrap().len(), 3);
    }
}
