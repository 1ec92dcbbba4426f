//! Every operation counted and timed by its name and outcome, and its
//! name put on the request's log span ([`super::api`] calls these for
//! every operation).

use std::time::Duration;

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument};
use async_graphql::{Response, Value};

use super::error::RATE_LIMITED;
use crate::metrics::Metrics;

/// The label of an operation without a name.
pub const ANONYMOUS: &str = "anonymous";
/// The label of a request whose document could not be read.
pub const UNPARSED: &str = "unparsed";

/// `ok`, or the code of the first error.
fn outcome(response: &Response) -> &str {
    match response.errors.first() {
        None => "ok",
        Some(e) => match e.extensions.as_ref().and_then(|x| x.get("code")) {
            Some(Value::String(code)) => code,
            _ => "error",
        },
    }
}

/// The longest client-chosen name kept as it is (as a metric label, a
/// log field, a key of kept answers); a longer one is kept by its hash.
pub const MAX_NAME_CHARS: usize = 100;

/// A client-chosen name as the server keeps it: itself when short, else
/// `#` and the first 32 hex digits of its SHA-256.
pub fn bounded(name: &str) -> String {
    if name.chars().count() <= MAX_NAME_CHARS {
        name.to_owned()
    } else {
        format!("#{}", &super::persisted::sha256_hex(name)[..32])
    }
}

/// The selected operation's name, as the document spells it (bounded).
fn operation_name(doc: &ExecutableDocument, asked: Option<&str>) -> String {
    let found = match &doc.operations {
        DocumentOperations::Single(_) => return ANONYMOUS.to_owned(),
        DocumentOperations::Multiple(ops) => match asked {
            Some(asked) => ops.keys().find(|name| name.as_str() == asked),
            None if ops.len() == 1 => ops.keys().next(),
            None => None,
        },
    };
    found.map_or_else(|| UNPARSED.to_owned(), |name| bounded(name))
}

/// The selected operation's name, also recorded on the log span.
pub fn name(doc: &ExecutableDocument, asked: Option<&str>) -> String {
    let name = operation_name(doc, asked);
    tracing::Span::current().record("operation", name.as_str());
    name
}

/// Counts and times one answered operation.
pub fn record(metrics: &Metrics, operation: &str, response: &Response, elapsed: Duration) {
    let outcome = outcome(response);
    if outcome == RATE_LIMITED {
        metrics.rate_limited.inc();
    }
    metrics.observe_request(operation, outcome, elapsed);
}
