//! One integration-test binary: every scenario runs against the real
//! router, worker and store, with a real receiver on port 0. Scenarios in
//! `both!` run on SQLite and on PostgreSQL (skipped, with the reason
//! printed, when PostgreSQL is unreachable and not required).

mod support;

mod access;
mod binary;
mod binary_cluster;
mod binary_plugins;
mod charts;
mod cli;
mod cluster;
mod compiles;
mod console;
mod console_editor;
mod delivery;
mod events;
mod grouped;
mod health;
mod interop;
mod layering;
mod limits;
mod migrations;
mod oauth;
mod oidc;
mod ops;
mod ordering;
mod outage;
mod pause;
mod people;
mod plugins;
mod receivers;
mod retention;
mod retries;
mod scripts;
mod security;
mod tenancy;
mod traces;
mod webhooks;
