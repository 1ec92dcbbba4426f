//! Relay connection plumbing: page sizes and opaque keyset cursors.

use async_graphql::SimpleObject;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use super::error::bad_user_input;

pub const DEFAULT_PAGE_SIZE: u64 = 20;
pub const MAX_PAGE_SIZE: u64 = 100;

#[derive(SimpleObject)]
#[graphql(serial)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

/// `first`: 20 when omitted, 0..=100, anything else is BAD_USER_INPUT.
pub fn page_size(first: Option<i32>) -> async_graphql::Result<u64> {
    match first {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(n) if (0..=MAX_PAGE_SIZE as i32).contains(&n) => Ok(n as u64),
        Some(n) => Err(bad_user_input(format!(
            "first must be between 0 and {MAX_PAGE_SIZE}, got {n}"
        ))),
    }
}

/// A cursor is the keyset position, tagged with the list it belongs to so a
/// cursor from one connection is refused by another.
pub fn encode_cursor(list: &str, key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{list}|{key}"))
}

pub fn decode_cursor(list: &str, cursor: &str) -> async_graphql::Result<String> {
    let invalid = || bad_user_input(format!("{cursor:?} is not a cursor of this list"));
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    match text.split_once('|') {
        // Keys are ids, slugs and numbers: a control character (a NUL,
        // which PostgreSQL refuses in text) means someone made it up.
        Some((tag, key)) if tag == list && !key.chars().any(char::is_control) => Ok(key.to_owned()),
        _ => Err(invalid()),
    }
}

/// A cursor whose key is a UUID (lists ordered by id).
pub fn decode_id_cursor(list: &str, cursor: Option<&str>) -> async_graphql::Result<Option<Uuid>> {
    cursor
        .map(|c| {
            let key = decode_cursor(list, c)?;
            Uuid::try_parse(&key)
                .map_err(|_| bad_user_input(format!("{c:?} is not a cursor of this list")))
        })
        .transpose()
}

/// A row count as a GraphQL Int (saturating; no list here comes close).
pub fn count(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Builds `PageInfo` from the cursors of a page's edges.
pub fn page_info(cursors: &[String], has_next_page: bool, after_given: bool) -> PageInfo {
    PageInfo {
        has_next_page,
        has_previous_page: after_given,
        start_cursor: cursors.first().cloned(),
        end_cursor: cursors.last().cloned(),
    }
}
