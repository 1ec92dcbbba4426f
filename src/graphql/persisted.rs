//! Documents: every query parsed within bounds, and the ones worth
//! keeping kept. A document larger than [`MAX_DOCUMENT_BYTES`], or whose
//! brackets nest deeper than [`MAX_BRACKET_NESTING`], is refused before it
//! is parsed (the parser recurses), so no text can exhaust the stack or
//! the memory of the parse.
//!
//! Automatic persisted queries, the Apollo protocol: a request may carry
//! `extensions.persistedQuery { version: 1, sha256Hash }` instead of its
//! query; an unknown hash is PERSISTED_QUERY_NOT_FOUND ("PersistedQueryNotFound"),
//! and hash plus query registers the query. A query sent in full is
//! remembered by its hash as well: most clients send the same few
//! documents, parsing one is a large share of a small request's time, and
//! the hash alone then works for it too.
//!
//! Only documents that passed the limits are kept ([`PersistedQueries::keep`]
//! is called once they have), shared rather than copied while they are
//! measured, and the budget is charged by what a parsed document occupies
//! (an estimate from its nodes, see [`document_bytes`]), not by its text:
//! a parsed document is tens of times larger than its text.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::parser::types::{
    ExecutableDocument, Field, FragmentDefinition, OperationDefinition, Selection, SelectionSet,
};
use async_graphql::{Positioned, Request, ServerError, ServerResult, Value};
use sha2::{Digest, Sha256};

use super::error::{BAD_USER_INPUT, QUERY_TOO_COMPLEX, coded_server_error};

pub const PERSISTED_QUERY_NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";
/// The largest document parsed at all: GraphiQL's introspection query is
/// 2 KiB, the largest screens' queries a few.
pub const MAX_DOCUMENT_BYTES: usize = 100 * 1024;
/// How deep `{`, `(` and `[` may nest in a document's text (selections
/// nest at most [`super::cost::MAX_NESTING`] deep; values a few more).
pub const MAX_BRACKET_NESTING: usize = 64;

struct Entry {
    document: Arc<ExecutableDocument>,
    bytes: usize,
    used: u64,
}

#[derive(Default)]
struct Cache {
    entries: HashMap<String, Entry>,
    bytes: usize,
    clock: u64,
}

/// The kept documents of this instance, shared by every request.
pub struct PersistedQueries {
    cache: Mutex<Cache>,
    max_bytes: usize,
}

/// A request's document, parsed or kept, and whether it is kept yet.
pub struct Document {
    pub hash: String,
    pub parsed: Arc<ExecutableDocument>,
    kept: bool,
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

    fn get(&self, hash: &str) -> Option<Arc<ExecutableDocument>> {
        let mut cache = self.lock();
        cache.clock += 1;
        let clock = cache.clock;
        let entry = cache.entries.get_mut(hash)?;
        entry.used = clock;
        Some(entry.document.clone())
    }

    fn put(&self, hash: String, document: Arc<ExecutableDocument>, bytes: usize) {
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

    /// Bytes the kept documents occupy (estimated).
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

pub fn sha256_hex(text: &str) -> String {
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

/// How deep brackets nest in a document's text, outside strings and
/// comments; `None` once past `max` (the scan stops there).
fn bracket_nesting(text: &str, max: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'(' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
                if depth > max {
                    return None;
                }
            }
            b'}' | b')' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Some(deepest)
}

/// Parses a query's text within the bounds of this module.
pub fn parse_bounded(query: &str) -> ServerResult<ExecutableDocument> {
    if query.len() > MAX_DOCUMENT_BYTES {
        return Err(coded_server_error(
            format!(
                "the document is {} bytes; at most {MAX_DOCUMENT_BYTES} are parsed",
                query.len()
            ),
            QUERY_TOO_COMPLEX,
        ));
    }
    if bracket_nesting(query, MAX_BRACKET_NESTING).is_none() {
        return Err(coded_server_error(
            format!("brackets may not nest more than {MAX_BRACKET_NESTING} deep"),
            QUERY_TOO_COMPLEX,
        ));
    }
    async_graphql::parser::parse_query(query).map_err(|e| {
        let mut error = ServerError::from(e);
        error.extensions = None;
        error
    })
}

impl PersistedQueries {
    /// The document a request stands for: kept under the hash it names
    /// (or under the SHA-256 of its query), else its query parsed within
    /// bounds. A hash and query that do not match, or an unknown hash
    /// alone, are refused.
    pub fn document(&self, request: &mut Request) -> ServerResult<Document> {
        let named = persisted_hash(request)?;
        if request.query.is_empty() {
            let Some(hash) = named else {
                return Err(coded_server_error(
                    "the request has no query",
                    BAD_USER_INPUT,
                ));
            };
            let parsed = self.get(&hash).ok_or_else(|| {
                coded_server_error("PersistedQueryNotFound", PERSISTED_QUERY_NOT_FOUND)
            })?;
            return Ok(Document {
                hash,
                parsed,
                kept: true,
            });
        }
        let hash = sha256_hex(&request.query);
        if named.is_some_and(|named| named != hash) {
            return Err(coded_server_error(
                "extensions.persistedQuery.sha256Hash is not the SHA-256 of the query",
                BAD_USER_INPUT,
            ));
        }
        if let Some(parsed) = self.get(&hash) {
            return Ok(Document {
                hash,
                parsed,
                kept: true,
            });
        }
        let parsed = Arc::new(parse_bounded(&request.query)?);
        Ok(Document {
            hash,
            parsed,
            kept: false,
        })
    }

    /// Keeps a document that passed the limits, charged by its size.
    pub fn keep(&self, document: &Document) {
        if !document.kept {
            let bytes = document_bytes(&document.parsed);
            self.put(document.hash.clone(), document.parsed.clone(), bytes);
        }
    }
}

/// What a parsed document occupies, estimated from its nodes: each node's
/// own size, its names and strings. Its recursion follows the document's
/// brackets, which [`parse_bounded`] bounded.
pub fn document_bytes(doc: &ExecutableDocument) -> usize {
    fn value(v: &Value) -> usize {
        std::mem::size_of::<Value>()
            + match v {
                Value::String(s) => s.len(),
                Value::Enum(n) => n.len(),
                Value::List(items) => items.iter().map(value).sum(),
                Value::Object(fields) => fields.iter().map(|(k, v)| k.len() + 32 + value(v)).sum(),
                _ => 0,
            }
    }
    fn const_or_var(v: &impl std::fmt::Display) -> usize {
        // Variables and constants alike: their JSON text is a fair proxy.
        std::mem::size_of_val(v) + v.to_string().len()
    }
    fn set(s: &SelectionSet) -> usize {
        s.items
            .iter()
            .map(|item| {
                std::mem::size_of::<Positioned<Selection>>()
                    + match &item.node {
                        Selection::Field(f) => field(&f.node),
                        Selection::FragmentSpread(s) => {
                            s.node.fragment_name.node.len() + 32 + s.node.directives.len() * 64
                        }
                        Selection::InlineFragment(f) => {
                            64 + f.node.directives.len() * 64 + set(&f.node.selection_set.node)
                        }
                    }
            })
            .sum()
    }
    fn field(f: &Field) -> usize {
        std::mem::size_of::<Field>()
            + f.name.node.len()
            + 32
            + f.alias.as_ref().map_or(0, |a| a.node.len() + 32)
            + f.arguments
                .iter()
                .map(|(n, v)| n.node.len() + 64 + const_or_var(&v.node))
                .sum::<usize>()
            + f.directives.len() * 128
            + set(&f.selection_set.node)
    }
    fn operation(op: &OperationDefinition) -> usize {
        std::mem::size_of::<OperationDefinition>()
            + op.variable_definitions
                .iter()
                .map(|d| {
                    128 + d.node.name.node.len()
                        + d.node.default_value.as_ref().map_or(0, |v| value(&v.node))
                })
                .sum::<usize>()
            + op.directives.len() * 128
            + set(&op.selection_set.node)
    }
    fn fragment(name: &str, f: &FragmentDefinition) -> usize {
        std::mem::size_of::<FragmentDefinition>() + 2 * name.len() + 64 + set(&f.selection_set.node)
    }
    std::mem::size_of::<ExecutableDocument>()
        + doc
            .operations
            .iter()
            .map(|(name, op)| name.map_or(0, |n| n.len() + 32) + operation(&op.node))
            .sum::<usize>()
        + doc
            .fragments
            .iter()
            .map(|(name, f)| fragment(name, &f.node))
            .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(q: &str) -> Arc<ExecutableDocument> {
        Arc::new(async_graphql::parser::parse_query(q).unwrap())
    }

    #[test]
    fn the_cache_stays_within_its_bytes_dropping_the_least_recently_used() {
        let cache = PersistedQueries::new(100);
        cache.put("a".into(), doc("{ a }"), 40);
        cache.put("b".into(), doc("{ b }"), 40);
        assert!(cache.get("a").is_some(), "a is now the most recent");
        cache.put("c".into(), doc("{ c }"), 40);
        assert!(cache.bytes() <= 90);
        assert!(cache.get("b").is_none(), "b was the least recently used");
        assert!(cache.get("a").is_some() && cache.get("c").is_some());
        cache.put("huge".into(), doc("{ huge }"), 1000);
        assert!(cache.get("huge").is_none(), "larger than the whole budget");
    }

    #[test]
    fn brackets_are_counted_outside_strings_and_comments() {
        assert_eq!(bracket_nesting("{ a { b(x: [1]) } }", 64), Some(4));
        assert_eq!(
            bracket_nesting(
                "{ a(s: \"{{{{\", t: \"\"\"{{\\\"\"\"{{\"\"\") } # {{{{\n",
                64
            ),
            Some(2)
        );
        assert_eq!(bracket_nesting(&"{a".repeat(65), 64), None);
    }

    #[test]
    fn deep_or_large_texts_are_refused_before_parsing() {
        // Nested far past what the parser's recursion survives.
        let deep = format!("{}{}", "{a".repeat(40_000), "}".repeat(40_000));
        let deep = &deep[..MAX_DOCUMENT_BYTES.min(deep.len())];
        let error = parse_bounded(deep).unwrap_err();
        assert!(error.message.contains("nest"), "{}", error.message);
        let large = format!("{{ a(s: \"{}\") }}", "x".repeat(MAX_DOCUMENT_BYTES));
        assert!(parse_bounded(&large).unwrap_err().message.contains("bytes"));
    }

    #[test]
    fn a_parsed_document_is_charged_more_than_its_text() {
        let text = format!(
            "{{ {} }}",
            (0..2000)
                .map(|i| format!("a{i}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let bytes = document_bytes(&doc(&text));
        assert!(
            bytes > 20 * text.len(),
            "{bytes} for {} bytes of text",
            text.len()
        );
    }
}
