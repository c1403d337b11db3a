//! `scaihub user …` (people and service accounts) and `scaihub key …`
//! (their personal API keys; a new key is shown once).

use std::io::BufRead;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::client::{Client, Page};
use super::error::{CliError, CliResult};
use super::input;
use super::output::{self, Output};

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// List users.
    #[command(visible_alias = "ls")]
    List {
        #[command(flatten)]
        page: Page,
    },
    /// Show one user with their API keys (never the keys themselves).
    Show { id: String },
    /// Create a person (with a password) or a service account.
    Create {
        #[command(flatten)]
        fields: UserFields,
        /// human or service.
        #[arg(long)]
        kind: Option<String>,
        /// Read the person's password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Rename a user or change their permissions.
    Edit {
        id: String,
        #[command(flatten)]
        fields: UserFields,
    },
    /// Delete a user and revoke their keys.
    #[command(visible_alias = "rm")]
    Delete { id: String },
}

#[derive(Debug, Args)]
pub struct UserFields {
    #[arg(long)]
    name: Option<String>,
    /// The email address the person signs in with.
    #[arg(long)]
    email: Option<String>,
    /// A scope the user holds (repeat, or comma-separated), e.g. admin:read.
    #[arg(long = "permission", value_delimiter = ',', value_name = "SCOPE")]
    permissions: Vec<String>,
    /// Any other fields as a JSON object (inline, @FILE or -); applied last.
    #[arg(long, value_name = "JSON")]
    data: Option<String>,
}

impl UserFields {
    fn body(&self) -> CliResult<Map<String, Value>> {
        let mut b = Map::new();
        if let Some(v) = &self.name {
            b.insert("name".into(), v.clone().into());
        }
        if let Some(v) = &self.email {
            b.insert("email".into(), v.clone().into());
        }
        if !self.permissions.is_empty() {
            b.insert("permissions".into(), json!(self.permissions));
        }
        if let Some(d) = &self.data {
            b.extend(input::json_object_arg(d, "--data")?);
        }
        Ok(b)
    }
}

#[derive(Debug, Subcommand)]
pub enum KeyCmd {
    /// Create an API key for a service account; the key is shown once.
    Create {
        user: String,
        /// Scopes of the key (repeat, or comma-separated); all of the user's when absent.
        #[arg(long = "scope", value_delimiter = ',')]
        scopes: Vec<String>,
        /// When it stops working (RFC 3339); never when absent.
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// List a user's keys (ids and scopes, never the keys).
    #[command(visible_alias = "ls")]
    List { user: String },
    /// Revoke a key at once.
    Revoke { user: String, key_id: String },
}

pub async fn run_users(cmd: UserCmd, client: &Client, out: Output) -> CliResult<()> {
    match cmd {
        UserCmd::List { page } => {
            let v = client.org_list(&["users"], page.query(), page.all).await?;
            out.show(&v, |v| {
                let items = v["data"].as_array().cloned().unwrap_or_default();
                output::list(
                    &items,
                    &[
                        ("ID", "id"),
                        ("NAME", "name"),
                        ("EMAIL", "email"),
                        ("KIND", "kind"),
                        ("PERMISSIONS", "permissions"),
                        ("CREATED", "created_at"),
                    ],
                );
            });
        }
        UserCmd::Show { id } => {
            let v = client
                .org_call(Method::GET, &["users", &id], &[], None)
                .await?;
            out.show(&v, user_details);
        }
        UserCmd::Create {
            fields,
            kind,
            password_stdin,
        } => {
            let mut body = fields.body()?;
            if let Some(k) = kind {
                body.insert("kind".into(), k.into());
            }
            if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .map_err(|e| CliError::usage(format!("--password-stdin: {e}")))?;
                let password = line.trim_end_matches(['\r', '\n']);
                if password.is_empty() {
                    return Err(CliError::usage("--password-stdin: stdin held no password"));
                }
                body.insert("password".into(), password.into());
            }
            let v = client
                .org_call(Method::POST, &["users"], &[], Some(&Value::Object(body)))
                .await?;
            out.show(&v, user_details);
        }
        UserCmd::Edit { id, fields } => {
            let body = fields.body()?;
            if body.is_empty() {
                return Err(CliError::usage(
                    "nothing to change: give --name, --email, --permission or --data",
                ));
            }
            let v = client
                .org_call(
                    Method::PATCH,
                    &["users", &id],
                    &[],
                    Some(&Value::Object(body)),
                )
                .await?;
            out.show(&v, user_details);
        }
        UserCmd::Delete { id } => {
            client
                .org_call(Method::DELETE, &["users", &id], &[], None)
                .await?;
            out.show(&json!({"deleted": id}), |_| println!("deleted {id}"));
        }
    }
    Ok(())
}

pub async fn run_keys(cmd: KeyCmd, client: &Client, out: Output) -> CliResult<()> {
    match cmd {
        KeyCmd::Create {
            user,
            scopes,
            expires_at,
        } => {
            let mut body = json!({});
            if !scopes.is_empty() {
                body["scopes"] = json!(scopes);
            }
            if let Some(e) = expires_at {
                body["expires_at"] = e.into();
            }
            let v = client
                .org_call(
                    Method::POST,
                    &["users", &user, "api-keys"],
                    &[],
                    Some(&body),
                )
                .await?;
            out.show(&v, |v| {
                output::details(v, &[("id", "id"), ("key", "key")]);
                eprintln!("the key is shown only now: store it safely");
            });
        }
        KeyCmd::List { user } => {
            let v = client
                .org_call(Method::GET, &["users", &user], &[], None)
                .await?;
            let keys = v.get("api_keys").cloned().unwrap_or(json!([]));
            out.show(&keys, keys_table);
        }
        KeyCmd::Revoke { user, key_id } => {
            client
                .org_call(
                    Method::DELETE,
                    &["users", &user, "api-keys", &key_id],
                    &[],
                    None,
                )
                .await?;
            out.show(&json!({"revoked": key_id}), |_| {
                println!("revoked {key_id}")
            });
        }
    }
    Ok(())
}

fn keys_table(keys: &Value) {
    output::list(
        keys.as_array().map(Vec::as_slice).unwrap_or(&[]),
        &[
            ("KEY ID", "id"),
            ("SCOPES", "scopes"),
            ("EXPIRES", "expires_at"),
            ("CREATED", "created_at"),
        ],
    );
}

fn user_details(v: &Value) {
    output::details(
        v,
        &[
            ("id", "id"),
            ("name", "name"),
            ("email", "email"),
            ("kind", "kind"),
            ("permissions", "permissions"),
            ("created", "created_at"),
        ],
    );
    if let Some(keys) = v.get("api_keys") {
        println!();
        keys_table(keys);
    }
}
