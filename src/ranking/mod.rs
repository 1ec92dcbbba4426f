//! Ranking: the in-memory index of rankable creators and the scoring model.
//!
//! Pure Rust: no database, no GraphQL. Plain records go in
//! ([`CreatorRecord`]), ranked ids with their explanations and reasons come
//! out ([`Ranking`]). The domain keeps the index fresh (`domain::ranking`)
//! and decides who may rank; this module decides the order.
//!
//! * [`model`]: the nine signals, their normalisation, default weights, reasons.
//! * [`index`]: the struct-of-arrays index and its memory footprint.
//! * [`query`]: filters, the parallel scan with a bounded top-k per chunk,
//!   keyset continuations, diversity.

pub mod index;
pub mod model;
pub mod query;

pub use index::{CreatorRecord, Footprint, HOT_BYTES_PER_CREATOR, Index};
pub use model::{SIGNAL_COUNT, Signal, Weights};
pub use query::{
    Agency, Component, Continuation, Filter, MAX_DIVERSE_RANK, RankError, Ranking, Recommendation,
    Request,
};

#[cfg(test)]
mod tests;
