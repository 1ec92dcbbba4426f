//! The schema behind what every operation passes through, by HTTP and by
//! websocket alike, in this order: persisted queries (the document a hash
//! stands for), naming (the log span, the metrics' label), the limits
//! (cost, depth, the caller's bucket), then execution (by HTTP, a query
//! may be answered from the kept [`Answers`] instead); on the way out,
//! error codes, `extensions.cost` and the request metrics.
//!
//! This runs around the schema rather than as async-graphql extensions:
//! with any extension registered, every field of every answer is resolved
//! through the extension chain (a boxed future per extension per field),
//! and none of ours looks at fields.

use std::sync::Arc;
use std::time::Instant;

use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Data, Executor, Request, Response, ServerError, Value};
use chrono::Utc;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::answers::{AnswerKey, Answers, AsOf, Kept, Lookup};
use super::cost::selected_operation;
use super::limits::{self, Charge, Limits};
use super::persisted::PersistedQueries;
use super::{AppSchema, observe};
use crate::domain::{Domain, Viewer};
use crate::metrics::{AnswerOutcome, GaugeGuard, Metrics};

#[derive(Clone)]
pub struct Api {
    schema: AppSchema,
    shared: Arc<Shared>,
}

struct Shared {
    domain: Domain,
    persisted: PersistedQueries,
    limits: Limits,
    answers: Option<Answers>,
    metrics: Arc<Metrics>,
}

/// A request on its way in: its name, what it is charged, its document's
/// hash, and the request itself unless it was refused.
struct Admitted {
    operation: String,
    charge: Charge,
    document: Option<String>,
    request: Result<Request, ServerError>,
}

/// An answer on its way out.
pub struct Answered {
    pub response: Response,
    /// `data` as JSON text, when the answer is a kept one (or was just
    /// kept); the response's own `data` is then null.
    pub data_text: Option<Arc<str>>,
    /// What the answer cost (see [`limits::actual_cost`]).
    cost: u64,
}

impl Answered {
    fn ran(response: Response) -> Self {
        let cost = limits::actual_cost(&response.data);
        Self {
            response,
            data_text: None,
            cost,
        }
    }
}

impl Api {
    pub fn new(
        schema: AppSchema,
        domain: Domain,
        persisted: PersistedQueries,
        limits: Limits,
        answers: Option<Answers>,
    ) -> Self {
        let metrics = domain.metrics.clone();
        Self {
            schema,
            shared: Arc::new(Shared {
                domain,
                persisted,
                limits,
                answers,
                metrics,
            }),
        }
    }

    /// Bytes the kept documents hold (estimated).
    pub fn kept_document_bytes(&self) -> u64 {
        self.shared.persisted.bytes() as u64
    }

    /// Bytes the kept answers hold.
    pub fn kept_answer_bytes(&self) -> u64 {
        self.shared.answers.as_ref().map_or(0, Answers::bytes)
    }

    /// The document (kept, or parsed within bounds), its name, the
    /// limits; a document that passed them is kept for the next requests,
    /// and only then copied into the request to run.
    fn admit(&self, mut request: Request, session: Option<&Data>) -> Admitted {
        let limits = &self.shared.limits;
        let mut charge = limits.charge_for(&request, session);
        let document = match self.shared.persisted.document(&mut request) {
            Ok(document) => document,
            Err(e) => {
                charge.refuse();
                return Admitted {
                    operation: observe::UNPARSED.to_owned(),
                    charge,
                    document: None,
                    request: Err(e),
                };
            }
        };
        let operation = observe::name(&document.parsed, request.operation_name.as_deref());
        let admitted = limits.admit(&request, &document.parsed, &mut charge);
        let request = admitted.map(|()| {
            self.shared.persisted.keep(&document);
            request.set_parsed_query(ExecutableDocument::clone(&document.parsed));
            request
        });
        Admitted {
            operation,
            charge,
            document: Some(document.hash),
            request,
        }
    }

    /// An operation by HTTP: a query answered from the kept answers when
    /// one holds, else run (and kept when it may be).
    pub async fn answer(&self, request: Request) -> Answered {
        let started = Instant::now();
        let Admitted {
            operation,
            mut charge,
            document,
            request,
        } = self.admit(request, None);
        let answered = match request {
            Ok(request) => self.reuse_or_run(request, document).await,
            Err(refused) => Answered::ran(Response::from_errors(vec![refused])),
        };
        let mut answered = Answered {
            response: limits::tag(answered.response),
            ..answered
        };
        self.shared
            .limits
            .report(&mut charge, answered.cost, &mut answered.response);
        observe::record(
            &self.shared.metrics,
            &operation,
            &answered.response,
            started.elapsed(),
        );
        answered
    }

    /// An operation known to hold only for its instant runs at once. For
    /// the others, first the change log, as of the request's arrival
    /// (shared with the requests waiting alongside); then the answer kept
    /// for the same request, if its time holds and nothing it read changed
    /// since (or, while another request runs the same query, the answer it
    /// leaves, if that holds too); else the query runs, and is kept for the
    /// next ones.
    async fn reuse_or_run(&self, mut request: Request, document: Option<String>) -> Answered {
        let (Some(answers), Some(document), true) =
            (&self.shared.answers, document, is_query(&mut request))
        else {
            return self.run(request).await;
        };
        // A client-chosen name is kept bounded, as everywhere.
        let operation = request.operation_name.as_deref().map(observe::bounded);
        if answers.momentary(&document, operation.as_deref()) {
            self.shared.metrics.count_answer(AnswerOutcome::NotKept);
            return self.run(request).await;
        }
        if let Err(e) = self.shared.domain.apply_change_log().await {
            tracing::warn!(error = %e, "reading the change log before a query failed");
            return self.run(request).await;
        }
        let metrics = &self.shared.metrics;
        let viewer = request
            .data
            .get(&std::any::TypeId::of::<Viewer>())
            .and_then(|v| v.downcast_ref::<Viewer>())
            .cloned()
            .unwrap_or(Viewer::ANONYMOUS);
        let key = AnswerKey::new(viewer, document, operation, &request.variables);
        let index = &self.shared.domain.index;
        let seen = index.changes_seen();
        let now = Utc::now();
        let unchanged = |reads: &[_], at| index.unchanged_since(reads, at);
        let runner = match answers.lookup(&key, now, unchanged).await {
            Lookup::Kept { data, cost } => {
                metrics.count_answer(AnswerOutcome::Kept);
                return Answered {
                    response: Response::new(Value::Null),
                    data_text: Some(data),
                    cost,
                };
            }
            Lookup::Run(runner) => runner,
        };
        let as_of = Arc::new(AsOf::new(now));
        let mut answered = Answered::ran(self.schema.execute(request.data(as_of.clone())).await);
        if !answered.response.errors.is_empty() {
            metrics.count_answer(AnswerOutcome::NotKept);
            answers.settle(key, runner, Kept::Failed);
            return answered;
        }
        let data: Arc<str> = serde_json::to_string(&answered.response.data)
            .unwrap_or_default()
            .into();
        let kept = Kept::ran(&as_of, seen, data.clone(), answered.cost);
        metrics.count_answer(match kept {
            Kept::Answer { .. } => AnswerOutcome::Read,
            Kept::Momentary | Kept::Failed => AnswerOutcome::NotKept,
        });
        answers.settle(key, runner, kept);
        answered.response.data = Value::Null;
        answered.data_text = Some(data);
        answered
    }

    async fn run(&self, request: Request) -> Answered {
        let as_of = Arc::new(AsOf::new(Utc::now()));
        Answered::ran(self.schema.execute(request.data(as_of)).await)
    }
}

/// Whether the operation the request selects is a query.
fn is_query(request: &mut Request) -> bool {
    let operation = request.operation_name.clone();
    request.parsed_query().is_ok_and(|doc| {
        selected_operation(doc, operation.as_deref())
            .is_some_and(|op| op.node.ty == OperationType::Query)
    })
}

impl Executor for Api {
    /// As [`Api::answer`], the answer as values (HTTP calls `answer`; the
    /// websocket transport needs an `Executor` but only streams).
    async fn execute(&self, request: Request) -> Response {
        let Answered {
            mut response,
            data_text,
            ..
        } = self.answer(request).await;
        if let Some(text) = data_text {
            response.data = serde_json::from_str(&text)
                .ok()
                .and_then(|json| Value::from_json(json).ok())
                .unwrap_or(Value::Null);
        }
        response
    }

    /// Websocket operations: admitted the same way; a subscription is
    /// counted as running for as long as its stream lives.
    fn execute_stream(
        &self,
        request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        let request = self.admit(request, session_data.as_deref()).request;
        let request = match request {
            Ok(request) => request,
            Err(refused) => {
                let response = limits::tag(Response::from_errors(vec![refused]));
                return futures_util::stream::once(async move { response }).boxed();
            }
        };
        let running = GaugeGuard::hold(&self.shared.metrics.subscriptions_active);
        self.schema
            .execute_stream_with_session_data(request, session_data.unwrap_or_default())
            .map(move |response| {
                let _ = &running;
                limits::tag(response)
            })
            .boxed()
    }
}
