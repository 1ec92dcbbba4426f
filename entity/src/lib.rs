//! sea-orm entities of the Agency Center: one module per table.
//!
//! These are storage shapes only. The GraphQL layer has its own types and the
//! rules live in `agency_center::domain`; nothing here derives GraphQL traits,
//! so a column can change without changing the API.
//!
//! List-valued attributes (languages, categories, regions, specialties) are
//! stored as comma-separated canonical codes: portable across SQLite and
//! PostgreSQL without arrays or JSON operators, and every code is validated
//! (fixed alphabet, no commas) before it is written.

pub mod agency;
pub mod change_log;
pub mod creator;
pub mod invitation;
pub mod membership;

/// Splits a stored comma-separated list; the empty string is the empty list.
pub fn split_list(stored: &str) -> Vec<String> {
    stored
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Joins canonical codes into their stored form.
pub fn join_list<S: AsRef<str>>(items: &[S]) -> String {
    items
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(",")
}
