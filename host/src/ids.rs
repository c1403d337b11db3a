//! Prefixed, opaque, unguessable identifiers (`org_…`, `whk_…`, …).
//!
//! A ULID gives 80 random bits and a time prefix, which keeps new rows
//! clustered at the end of their indexes.

/// The kinds of identifier ScaiHub mints, each with its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Org,
    User,
    Event,
    Webhook,
    Delivery,
    Application,
    Plugin,
    Key,
}

impl IdKind {
    /// The prefix, underscore included.
    pub fn prefix(self) -> &'static str {
        match self {
            IdKind::Org => "org_",
            IdKind::User => "usr_",
            IdKind::Event => "evt_",
            IdKind::Webhook => "whk_",
            IdKind::Delivery => "dlv_",
            IdKind::Application => "app_",
            IdKind::Plugin => "plg_",
            IdKind::Key => "key_",
        }
    }
}

/// One process-wide generator, so identifiers minted in the same
/// millisecond still sort in the order they were made (deliveries are sent
/// oldest first by id).
static GENERATOR: std::sync::Mutex<Option<ulid::Generator>> = std::sync::Mutex::new(None);

/// A new identifier of the given kind.
pub fn new_id(kind: IdKind) -> String {
    let ulid = {
        let mut guard = GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
        let generator = guard.get_or_insert_with(ulid::Generator::new);
        // Overflow needs 2^80 ids in one millisecond; fall back to a fresh one.
        generator.generate().unwrap_or_else(|_| ulid::Ulid::new())
    };
    // Encoded on the stack and lowercased in place: one allocation, the
    // result (a delivery id is minted for every delivery).
    let mut buf = [0u8; ulid::ULID_LEN];
    let encoded = ulid.array_to_str(&mut buf);
    encoded.make_ascii_lowercase();
    let mut id = String::with_capacity(kind.prefix().len() + ulid::ULID_LEN);
    id.push_str(kind.prefix());
    id.push_str(encoded);
    id
}

/// Whether `id` looks like an identifier of `kind`: its prefix, then 1–120
/// characters of `[A-Za-z0-9_-]`. Producers mint event and user ids of their
/// own, so only the shape is checked, not our ULID encoding.
pub fn is_valid(kind: IdKind, id: &str) -> bool {
    match id.strip_prefix(kind.prefix()) {
        Some(rest) => is_token(rest),
        None => false,
    }
}

/// A free-form reference such as a resource id (`shr_…`, `fil_…`).
pub fn is_valid_reference(id: &str) -> bool {
    is_token(id)
}

fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 120
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_ids_carry_their_prefix_and_validate() {
        let id = new_id(IdKind::Webhook);
        assert!(id.starts_with("whk_"));
        assert!(is_valid(IdKind::Webhook, &id));
        assert!(!is_valid(IdKind::Delivery, &id));
        assert_ne!(id, new_id(IdKind::Webhook));
    }

    #[test]
    fn minted_ids_are_a_lowercase_ulid_and_sort_in_minting_order() {
        let ids: Vec<String> = (0..1_000).map(|_| new_id(IdKind::Delivery)).collect();
        for id in &ids {
            let ulid = id.strip_prefix("dlv_").expect("prefix");
            assert_eq!(ulid.len(), 26, "{id}");
            assert!(
                ulid.bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()),
                "{id}"
            );
            assert!(
                ulid::Ulid::from_string(&ulid.to_uppercase()).is_ok(),
                "{id}"
            );
        }
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn malformed_ids_are_refused() {
        assert!(!is_valid(IdKind::Event, "evt_"));
        assert!(!is_valid(IdKind::Event, "evt_a b"));
        assert!(!is_valid(IdKind::Event, "usr_abc"));
        assert!(is_valid(IdKind::Event, "evt_123-abc_X"));
    }
}
