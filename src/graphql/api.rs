//! The schema behind what every operation passes through, by HTTP and by
//! websocket alike, in this order: persisted queries (the document a hash
//! stands for), naming (the log span, the metrics' label), the limits
//! (cost, depth, the caller's bucket), then execution; on the way out,
//! error codes, `extensions.cost` and the request metrics.
//!
//! This runs around the schema rather than as async-graphql extensions:
//! with any extension registered, every field of every answer is resolved
//! through the extension chain (a boxed future per extension per field),
//! and none of ours looks at fields.

use std::sync::Arc;
use std::time::Instant;

use async_graphql::{Data, Executor, Request, Response, ServerError};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::limits::{self, Charge, Limits};
use super::persisted::PersistedQueries;
use super::{AppSchema, observe};
use crate::metrics::{GaugeGuard, Metrics};

#[derive(Clone)]
pub struct Api {
    schema: AppSchema,
    shared: Arc<Shared>,
}

struct Shared {
    persisted: PersistedQueries,
    limits: Limits,
    metrics: Arc<Metrics>,
}

/// A request on its way in: its name, what it is charged, and the request
/// itself unless it was refused.
struct Admitted {
    operation: String,
    charge: Charge,
    request: Result<Request, ServerError>,
}

impl Api {
    pub fn new(
        schema: AppSchema,
        persisted: PersistedQueries,
        limits: Limits,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            schema,
            shared: Arc::new(Shared {
                persisted,
                limits,
                metrics,
            }),
        }
    }

    fn admit(&self, mut request: Request, session: Option<&Data>) -> Admitted {
        let mut charge = Charge::default();
        if let Err(e) = self.shared.persisted.resolve(&mut request) {
            return Admitted {
                operation: observe::UNPARSED.to_owned(),
                charge,
                request: Err(e),
            };
        }
        let operation = observe::name(&mut request);
        let admitted = self.shared.limits.admit(&mut request, session, &mut charge);
        Admitted {
            operation,
            charge,
            request: admitted.map(|()| request),
        }
    }
}

impl Executor for Api {
    async fn execute(&self, request: Request) -> Response {
        let started = Instant::now();
        let Admitted {
            operation,
            mut charge,
            request,
        } = self.admit(request, None);
        let response = match request {
            Ok(request) => self.schema.execute(request).await,
            Err(refused) => Response::from_errors(vec![refused]),
        };
        let mut response = limits::tag(response);
        self.shared.limits.report(&mut charge, &mut response);
        observe::record(
            &self.shared.metrics,
            &operation,
            &response,
            started.elapsed(),
        );
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
