//! One integration-test binary: every scenario runs against the real
//! router, worker and store, with a real receiver on port 0. Scenarios in
//! `both!` run on SQLite and on PostgreSQL (skipped, with the reason
//! printed, when PostgreSQL is unreachable and not required).

mod support;

mod access;
mod binary;
mod binary_cluster;
mod binary_plugins;
mod cli;
mod cluster;
mod compiles;
mod console;
mod delivery;
mod events;
mod health;
mod layering;
mod migrations;
mod oauth;
mod ops;
mod outage;
mod pause;
mod plugins;
mod retention;
mod retries;
mod security;
mod tenancy;
mod webhooks;
