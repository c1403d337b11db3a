//! `scaihub app …`: OAuth applications: list, show, create (the client
//! secret shown once), edit, rotate the secret, delete.

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::client::Client;
use super::error::{CliError, CliResult};
use super::input;
use super::output::{self, Output};

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// List applications.
    #[command(visible_alias = "ls")]
    List,
    /// Show one application.
    Show { id: String },
    /// Create an application; its client secret is shown once.
    Create(Fields),
    /// Change some of an application's settings.
    Edit {
        id: String,
        #[command(flatten)]
        fields: Fields,
    },
    /// Issue a new client secret (shown once); the old one works for 24 h more.
    RotateSecret { id: String },
    /// Delete an application; its tokens stop working at once.
    #[command(visible_alias = "rm")]
    Delete { id: String },
}

#[derive(Debug, Args)]
pub struct Fields {
    /// A name for people (shown on the consent page).
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// An allowed redirect URI (repeat).
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    /// A scope the application may ask for (repeat, or comma-separated).
    #[arg(long = "scope", value_delimiter = ',')]
    scopes: Vec<String>,
    /// Lifetime of its access tokens (60-3600 seconds).
    #[arg(long)]
    token_lifetime_secs: Option<i64>,
    /// Any other fields as a JSON object (inline, @FILE or -); applied last.
    #[arg(long, value_name = "JSON")]
    data: Option<String>,
}

impl Fields {
    fn body(&self) -> CliResult<Map<String, Value>> {
        let mut b = Map::new();
        if let Some(v) = &self.name {
            b.insert("name".into(), v.clone().into());
        }
        if let Some(v) = &self.description {
            b.insert("description".into(), v.clone().into());
        }
        if !self.redirect_uris.is_empty() {
            b.insert("redirect_uris".into(), json!(self.redirect_uris));
        }
        if !self.scopes.is_empty() {
            b.insert("scopes".into(), json!(self.scopes));
        }
        if let Some(v) = self.token_lifetime_secs {
            b.insert("token_lifetime_secs".into(), v.into());
        }
        if let Some(d) = &self.data {
            b.extend(input::json_object_arg(d, "--data")?);
        }
        Ok(b)
    }
}

pub async fn run(cmd: Cmd, client: &Client, out: Output) -> CliResult<()> {
    match cmd {
        Cmd::List => {
            // Not paged: the API answers every application at once.
            let v = client
                .org_call(Method::GET, &["applications"], &[], None)
                .await?;
            out.show(&v, |v| {
                output::list(
                    v.as_array().map(Vec::as_slice).unwrap_or(&[]),
                    &[
                        ("CLIENT ID", "client_id"),
                        ("NAME", "name"),
                        ("SCOPES", "scopes"),
                        ("TOKEN SECS", "token_lifetime_secs"),
                        ("CREATED", "created_at"),
                    ],
                );
            });
        }
        Cmd::Show { id } => {
            let v = client
                .org_call(Method::GET, &["applications", &id], &[], None)
                .await?;
            out.show(&v, details);
        }
        Cmd::Create(fields) => {
            let body = Value::Object(fields.body()?);
            let v = client
                .org_call(Method::POST, &["applications"], &[], Some(&body))
                .await?;
            out.show(&v, |v| {
                details(v);
                eprintln!("the client secret is shown only now");
            });
        }
        Cmd::Edit { id, fields } => {
            let body = fields.body()?;
            if body.is_empty() {
                return Err(CliError::usage(
                    "nothing to change: give --name, --description, --redirect-uri, --scope, --token-lifetime-secs or --data",
                ));
            }
            let v = client
                .org_call(
                    Method::PATCH,
                    &["applications", &id],
                    &[],
                    Some(&Value::Object(body)),
                )
                .await?;
            out.show(&v, details);
        }
        Cmd::RotateSecret { id } => {
            let v = client
                .org_call(
                    Method::POST,
                    &["applications", &id, "rotate-secret"],
                    &[],
                    None,
                )
                .await?;
            out.show(&v, |v| {
                output::details(
                    v,
                    &[
                        ("client secret", "client_secret"),
                        ("previous secret until", "previous_secret_expires_at"),
                    ],
                );
                eprintln!("the new client secret is shown only now");
            });
        }
        Cmd::Delete { id } => {
            client
                .org_call(Method::DELETE, &["applications", &id], &[], None)
                .await?;
            out.show(&json!({"deleted": id}), |_| println!("deleted {id}"));
        }
    }
    Ok(())
}

fn details(v: &Value) {
    let mut fields = vec![
        ("client id", "client_id"),
        ("name", "name"),
        ("description", "description"),
        ("redirect uris", "redirect_uris"),
        ("scopes", "scopes"),
        ("token lifetime secs", "token_lifetime_secs"),
        ("service account", "service_account_id"),
        ("previous secret until", "previous_secret_expires_at"),
        ("created", "created_at"),
        ("updated", "updated_at"),
    ];
    if v.get("client_secret").is_some() {
        fields.push(("client secret", "client_secret"));
    }
    output::details(v, &fields);
}
