//! Every operation, by HTTP or websocket, counted and timed by name and
//! outcome, its name put on the request's log span, and each running
//! subscription held in a gauge: one async-graphql extension, placed
//! after persisted queries (it names the document a hash stands for) and
//! before the limits (it counts what they refuse).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest, NextRequest, NextSubscribe,
};
use async_graphql::parser::types::DocumentOperations;
use async_graphql::{Request, Response, ServerResult, Value};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::error::RATE_LIMITED;
use crate::metrics::{GaugeGuard, Metrics};

/// The label of an operation without a name.
pub const ANONYMOUS: &str = "anonymous";
/// The label of a request whose document could not be read.
pub const UNPARSED: &str = "unparsed";

pub struct Observe(pub Arc<Metrics>);

impl ExtensionFactory for Observe {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ObserveExtension {
            metrics: self.0.clone(),
            operation: Mutex::new(None),
        })
    }
}

struct ObserveExtension {
    metrics: Arc<Metrics>,
    operation: Mutex<Option<String>>,
}

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

/// The selected operation's name, as the document spells it.
fn operation_name(request: &mut Request) -> String {
    let asked = request.operation_name.clone();
    let Ok(doc) = request.parsed_query() else {
        return UNPARSED.to_owned();
    };
    let found = match &doc.operations {
        DocumentOperations::Single(_) => return ANONYMOUS.to_owned(),
        DocumentOperations::Multiple(ops) => match asked.as_deref() {
            Some(asked) => ops.keys().find(|name| name.as_str() == asked),
            None if ops.len() == 1 => ops.keys().next(),
            None => None,
        },
    };
    found.map_or_else(|| UNPARSED.to_owned(), |name| name.to_string())
}

#[async_trait::async_trait]
impl Extension for ObserveExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let started = Instant::now();
        let response = next.run(ctx).await;
        let operation = self
            .operation
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or_else(|| UNPARSED.to_owned());
        let outcome = outcome(&response);
        if outcome == RATE_LIMITED {
            self.metrics.rate_limited.inc();
        }
        self.metrics
            .observe_request(&operation, outcome, started.elapsed());
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        let running = GaugeGuard::hold(&self.metrics.subscriptions_active);
        next.run(ctx, stream)
            .map(move |response| {
                let _ = &running;
                response
            })
            .boxed()
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let name = operation_name(&mut request);
        tracing::Span::current().record("operation", name.as_str());
        *self.operation.lock().unwrap_or_else(|e| e.into_inner()) = Some(name);
        next.run(ctx, request).await
    }
}
