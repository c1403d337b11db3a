//! What can go wrong in a client command, and the exit code each outcome
//! gives scripts (documented in `scaihub --help` and README).

use std::process::ExitCode;

/// The exit codes scripts can rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The command did what it was asked.
    Ok = 0,
    /// The server failed or refused for another reason (5xx, 409, a plugin
    /// that failed its test, an answer we did not expect).
    Failed = 1,
    /// Bad command line or local input (a flag, a file, a missing setting).
    Usage = 2,
    /// The server answered 404: no such thing in this organisation.
    NotFound = 3,
    /// The server answered 401 or 403: a bad key, or a missing scope.
    Auth = 4,
    /// The server refused the input (400, 413, 422); the message names the field.
    Invalid = 5,
    /// The server could not be reached (connection refused, DNS, timeout).
    Unreachable = 6,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// The error of a client command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The API answered an error (`{"error", "message", "field"?}`).
    #[error("{}", api_text(*.status, .code, .message, .field.as_deref()))]
    Api {
        status: u16,
        code: String,
        message: String,
        field: Option<String>,
    },
    /// The request never got an answer.
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// Input refused by the same rules the server applies (an event, a
    /// component), checked here; `field` names what was wrong.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// A flag, setting or local file is wrong; the message names it.
    #[error("{0}")]
    Usage(String),
    /// Anything else that makes the command fail.
    #[error("{0}")]
    Failed(String),
}

fn api_text(status: u16, code: &str, message: &str, field: Option<&str>) -> String {
    match field {
        Some(f) => format!("{f}: {message} (HTTP {status} {code})"),
        None => format!("{message} (HTTP {status} {code})"),
    }
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError::Usage(message.into())
    }

    pub fn failed(message: impl Into<String>) -> CliError {
        CliError::Failed(message.into())
    }

    /// The exit code for this error.
    pub fn exit(&self) -> Exit {
        match self {
            CliError::Api { status, .. } => match status {
                401 | 403 => Exit::Auth,
                404 => Exit::NotFound,
                400 | 413 | 422 => Exit::Invalid,
                _ => Exit::Failed,
            },
            CliError::Unreachable { .. } => Exit::Unreachable,
            CliError::Invalid { .. } => Exit::Invalid,
            CliError::Usage(_) => Exit::Usage,
            CliError::Failed(_) => Exit::Failed,
        }
    }

    /// The error as JSON, for `--json` callers: the API's own fields when
    /// it came from the API, plus `exit_code`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = match self {
            CliError::Api {
                status,
                code,
                message,
                field,
            } => serde_json::json!({
                "error": code, "message": message, "field": field, "status": status,
            }),
            CliError::Unreachable { .. } => {
                serde_json::json!({"error": "unreachable", "message": self.to_string()})
            }
            CliError::Invalid { field, message } => {
                serde_json::json!({"error": "invalid_field", "message": message, "field": field})
            }
            CliError::Usage(m) => serde_json::json!({"error": "usage", "message": m}),
            CliError::Failed(m) => serde_json::json!({"error": "failed", "message": m}),
        };
        v["exit_code"] = (self.exit() as u8).into();
        v
    }
}

/// Shorthand for command results.
pub type CliResult<T> = Result<T, CliError>;

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, field: Option<&str>) -> CliError {
        CliError::Api {
            status,
            code: "invalid_field".into(),
            message: "must be an http(s) URL".into(),
            field: field.map(Into::into),
        }
    }

    #[test]
    fn statuses_map_to_documented_exit_codes() {
        assert_eq!(api(404, None).exit(), Exit::NotFound);
        assert_eq!(api(401, None).exit(), Exit::Auth);
        assert_eq!(api(403, None).exit(), Exit::Auth);
        assert_eq!(api(422, Some("url")).exit(), Exit::Invalid);
        assert_eq!(api(409, None).exit(), Exit::Failed);
        assert_eq!(api(500, None).exit(), Exit::Failed);
    }

    #[test]
    fn api_error_text_names_the_field_first() {
        assert_eq!(
            api(422, Some("url")).to_string(),
            "url: must be an http(s) URL (HTTP 422 invalid_field)"
        );
        assert_eq!(api(422, Some("url")).to_json()["field"], "url");
        assert_eq!(api(422, Some("url")).to_json()["exit_code"], 5);
    }
}
