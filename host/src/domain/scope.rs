//! The scope vocabulary, `<resource>:<action>`.

use serde::{Deserialize, Serialize};

/// A permission a principal or a token may hold.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum Scope {
    #[serde(rename = "files:read")]
    FilesRead,
    #[serde(rename = "files:write")]
    FilesWrite,
    #[serde(rename = "shares:read")]
    SharesRead,
    #[serde(rename = "shares:write")]
    SharesWrite,
    #[serde(rename = "links:create")]
    LinksCreate,
    #[serde(rename = "search:read")]
    SearchRead,
    #[serde(rename = "admin:read")]
    AdminRead,
    #[serde(rename = "admin:write")]
    AdminWrite,
    #[serde(rename = "events:write")]
    EventsWrite,
}

impl Scope {
    /// Every scope, in vocabulary order.
    pub const ALL: [Scope; 9] = [
        Scope::FilesRead,
        Scope::FilesWrite,
        Scope::SharesRead,
        Scope::SharesWrite,
        Scope::LinksCreate,
        Scope::SearchRead,
        Scope::AdminRead,
        Scope::AdminWrite,
        Scope::EventsWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::FilesRead => "files:read",
            Scope::FilesWrite => "files:write",
            Scope::SharesRead => "shares:read",
            Scope::SharesWrite => "shares:write",
            Scope::LinksCreate => "links:create",
            Scope::SearchRead => "search:read",
            Scope::AdminRead => "admin:read",
            Scope::AdminWrite => "admin:write",
            Scope::EventsWrite => "events:write",
        }
    }

    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// Parses a list of scope names, naming the first unknown one.
pub fn parse_list(field: &str, items: &[String]) -> Result<Vec<Scope>, super::FieldError> {
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let scope = Scope::parse(item).ok_or_else(|| {
            super::FieldError::new(format!("{field}[{i}]"), format!("unknown scope {item:?}"))
        })?;
        if !out.contains(&scope) {
            out.push(scope);
        }
    }
    out.sort();
    Ok(out)
}
