//! End-to-end tests: a real server on a free port, a fresh real database per
//! test (SQLite always; PostgreSQL when `TEST_DATABASE_URL` is set), HTTP.

mod answers;
mod auth;
mod authorization;
mod battery;
mod cli;
mod concurrency;
mod conformance;
mod database;
mod demo;
mod docs;
mod events;
mod explorer;
mod fuzz;
mod helpers;
mod hostile;
mod http;
mod instances;
mod lifecycle;
mod limits;
mod load_fault;
mod loaders;
mod mutations;
mod observability;
mod outage;
mod pagination;
mod ranking;
mod schema;
mod visibility;
mod websocket;
