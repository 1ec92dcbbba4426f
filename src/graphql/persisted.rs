//! Automatic persisted queries, the Apollo protocol: a request may carry
//! `extensions.persistedQuery { version: 1, sha256Hash }` instead of its
//! query; an unknown hash is PERSISTED_QUERY_NOT_FOUND ("PersistedQueryNotFound"),
//! and hash plus query registers the query. The cache is bounded in bytes
//! of query text (least recently used out first), not in entries: one
//! megabyte-sized query must not count as one of ten thousand small ones.
//!
//! A query sent in full is remembered by its hash as well: most clients
//! send the same few documents, parsing one is a large share of a small
//! request's time, and the hash alone then works for it too.

use std::collections::HashMap;
use std::sync::Mutex;

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, ServerResult};
use sha2::{Digest, Sha256};

use super::error::{BAD_USER_INPUT, coded_server_error};

pub const PERSISTED_QUERY_NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";

struct Entry {
    document: ExecutableDocument,
    bytes: usize,
    used: u64,
}

#[derive(Default)]
struct Cache {
    entries: HashMap<String, Entry>,
    bytes: usize,
    clock: u64,
}

/// The persisted documents of this instance, shared by every request.
pub struct PersistedQueries {
    cache: Mutex<Cache>,
    max_bytes: usize,
}

impl PersistedQueries {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            cache: Mutex::new(Cache::default()),
            max_bytes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, hash: &str) -> Option<ExecutableDocument> {
        let mut cache = self.lock();
        cache.clock += 1;
        let clock = cache.clock;
        let entry = cache.entries.get_mut(hash)?;
        entry.used = clock;
        Some(entry.document.clone())
    }

    fn put(&self, hash: String, document: ExecutableDocument, bytes: usize) {
        if bytes > self.max_bytes {
            return;
        }
        let mut cache = self.lock();
        cache.clock += 1;
        let used = cache.clock;
        if let Some(old) = cache.entries.insert(
            hash,
            Entry {
                document,
                bytes,
                used,
            },
        ) {
            cache.bytes -= old.bytes;
        }
        cache.bytes += bytes;
        // Past the budget: drop the least recently used, down to 90 % so
        // evictions come in batches, not one per request.
        if cache.bytes > self.max_bytes {
            let mut by_age: Vec<(u64, String)> = cache
                .entries
                .iter()
                .map(|(k, e)| (e.used, k.clone()))
                .collect();
            by_age.sort_unstable();
            for (_, key) in by_age {
                if cache.bytes <= self.max_bytes / 10 * 9 {
                    break;
                }
                if let Some(e) = cache.entries.remove(&key) {
                    cache.bytes -= e.bytes;
                }
            }
        }
    }

    #[cfg(test)]
    fn held_bytes(&self) -> usize {
        self.lock().bytes
    }
}

fn sha256_hex(text: &str) -> String {
    let mut hex = String::with_capacity(64);
    for byte in Sha256::digest(text.as_bytes()) {
        use std::fmt::Write;
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// The hash a request names, if it uses the protocol.
fn persisted_hash(request: &mut Request) -> ServerResult<Option<String>> {
    let Some(value) = request.extensions.remove("persistedQuery") else {
        return Ok(None);
    };
    let invalid = || {
        coded_server_error(
            "extensions.persistedQuery must be { version: 1, sha256Hash }",
            BAD_USER_INPUT,
        )
    };
    let json = value.into_json().map_err(|_| invalid())?;
    if json["version"] != 1 {
        return Err(invalid());
    }
    let hash = json["sha256Hash"].as_str().ok_or_else(invalid)?;
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid());
    }
    Ok(Some(hash.to_ascii_lowercase()))
}

impl PersistedQueries {
    /// Puts the document a hash stands for into the request, or registers
    /// the query sent with its hash; a request without one is left alone.
    /// Returns the document's hash, when there is a document.
    pub fn resolve(&self, request: &mut Request) -> ServerResult<Option<String>> {
        let Some(hash) = persisted_hash(request)? else {
            return Ok(self.remember(request));
        };
        if request.query.is_empty() {
            let document = self.get(&hash).ok_or_else(|| {
                coded_server_error("PersistedQueryNotFound", PERSISTED_QUERY_NOT_FOUND)
            })?;
            request.set_parsed_query(document);
        } else {
            if sha256_hex(&request.query) != hash {
                return Err(coded_server_error(
                    "extensions.persistedQuery.sha256Hash is not the SHA-256 of the query",
                    BAD_USER_INPUT,
                ));
            }
            let bytes = request.query.len();
            let document = request.parsed_query()?.clone();
            self.put(hash.clone(), document, bytes);
        }
        Ok(Some(hash))
    }

    /// A query sent in full: its document from the cache when it was seen
    /// before, else parsed and kept (a document that does not parse is
    /// left to the schema, which says why). Returns its hash.
    fn remember(&self, request: &mut Request) -> Option<String> {
        if request.query.is_empty() {
            return None;
        }
        let hash = sha256_hex(&request.query);
        if let Some(document) = self.get(&hash) {
            request.set_parsed_query(document);
        } else if let Ok(document) = request.parsed_query() {
            let document = document.clone();
            self.put(hash.clone(), document, request.query.len());
        }
        Some(hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(q: &str) -> ExecutableDocument {
        async_graphql::parser::parse_query(q).unwrap()
    }

    #[test]
    fn the_cache_stays_within_its_bytes_dropping_the_least_recently_used() {
        let cache = PersistedQueries::new(100);
        cache.put("a".into(), doc("{ a }"), 40);
        cache.put("b".into(), doc("{ b }"), 40);
        assert!(cache.get("a").is_some(), "a is now the most recent");
        cache.put("c".into(), doc("{ c }"), 40);
        assert!(cache.held_bytes() <= 90);
        assert!(cache.get("b").is_none(), "b was the least recently used");
        assert!(cache.get("a").is_some() && cache.get("c").is_some());
        cache.put("huge".into(), doc("{ huge }"), 1000);
        assert!(cache.get("huge").is_none(), "larger than the whole budget");
    }
}
