//! The limits of public clients, applied by [`super::api`] to every
//! operation, so POST, GET and websockets get the same: the cost and depth
//! of the selected operation checked before anything runs
//! (QUERY_TOO_COMPLEX), the caller's bucket asked for the requested cost,
//! which it reserves (RATE_LIMITED when it cannot), settled to the actual
//! one after; a refused request pays for the text it sent; `extensions.cost` on every
//! answer, and an `extensions.code` on every error async-graphql raised
//! itself (parse, validation, input coercion: BAD_USER_INPUT).

use std::time::Instant;

use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Data, ErrorExtensionValues, Request, Response, ServerResult, Value};

use super::cost::{CostModel, TooComplex, selected_operation};
use super::error::{BAD_USER_INPUT, QUERY_TOO_COMPLEX, RATE_LIMITED, coded_server_error};
use crate::config::LimitArgs;
use crate::rate_limit::{RateLimiter, Throttle};

/// Marks a request that came by HTTP GET: it may not run a mutation.
#[derive(Debug, Clone, Copy)]
pub struct QueryByGet;

/// Whose bucket a request is charged to (token subject, or the client's
/// IP when anonymous); attached by the transport, as request data over
/// HTTP and connection data over websockets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateKey(pub String);

/// The limits' configuration, shared by every request.
pub struct Limits {
    model: CostModel,
    limiter: Option<RateLimiter>,
    max_cost: u64,
    max_depth: u32,
    introspection: bool,
}

impl Limits {
    pub fn new(sdl: &str, limiter: Option<RateLimiter>, args: &LimitArgs) -> Self {
        Self {
            model: CostModel::from_sdl(sdl),
            limiter,
            max_cost: args.max_query_complexity,
            max_depth: args.max_query_depth,
            introspection: !args.no_introspection,
        }
    }
}

/// What one request asked for and whom it is charged to.
#[derive(Debug, Default)]
pub struct Charge {
    key: Option<String>,
    requested: u64,
    /// Points reserved from the bucket at admission, settled after.
    reserved: Option<u64>,
    /// Refused before it ran: charged what its text cost to read.
    refused: bool,
    text_bytes: usize,
    throttle: Option<Throttle>,
}

impl Charge {
    /// The request was refused before it ran.
    pub fn refuse(&mut self) {
        self.refused = true;
    }

    /// What a refused request is charged: 1 point per KiB read, at least 1.
    fn parse_points(&self) -> u64 {
        (self.text_bytes as u64).div_ceil(1024).max(1)
    }
}

/// Errors async-graphql raised carry no code; ours always do.
pub fn tag(mut response: Response) -> Response {
    for error in &mut response.errors {
        let extensions = error
            .extensions
            .get_or_insert_with(ErrorExtensionValues::default);
        if extensions.get("code").is_none() {
            extensions.set("code", BAD_USER_INPUT);
        }
    }
    response
}

/// Every field of the answer costs 1: what the request actually cost.
pub fn actual_cost(value: &Value) -> u64 {
    match value {
        Value::Object(fields) => fields.values().map(|v| 1 + actual_cost(v)).sum(),
        Value::List(items) => items.iter().map(actual_cost).sum(),
        _ => 0,
    }
}

/// The request's key, else its websocket session's.
fn rate_key(request: &Request, session: Option<&Data>) -> Option<String> {
    let of = |data: &Data| {
        data.get(&std::any::TypeId::of::<RateKey>())
            .and_then(|d| d.downcast_ref::<RateKey>())
            .map(|k| k.0.clone())
    };
    of(&request.data).or_else(|| session.and_then(of))
}

impl Limits {
    /// Whom a request is charged to, and for how much text.
    pub fn charge_for(&self, request: &Request, session: Option<&Data>) -> Charge {
        Charge {
            key: rate_key(request, session),
            text_bytes: request.query.len(),
            ..Charge::default()
        }
    }

    /// The checks of a parsed request, in order: method, cost and depth,
    /// the bucket (which reserves the requested cost); `charge` says what
    /// was asked, refused or not.
    pub fn admit(
        &self,
        request: &Request,
        doc: &ExecutableDocument,
        charge: &mut Charge,
    ) -> ServerResult<()> {
        let refused = |charge: &mut Charge, error| {
            charge.refuse();
            Err(error)
        };
        let operation = request.operation_name.as_deref();
        let by_get = request
            .data
            .get(&std::any::TypeId::of::<QueryByGet>())
            .is_some();
        let mutation = selected_operation(doc, operation)
            .is_some_and(|op| op.node.ty == OperationType::Mutation);
        if by_get && mutation {
            let mut error = coded_server_error("mutations are sent by POST", BAD_USER_INPUT);
            if let Some(ext) = error.extensions.as_mut() {
                ext.set("allow", "POST");
            }
            return refused(charge, error);
        }
        // No such operation: validation explains.
        let Some(measured) = self.model.measure(doc, operation, &request.variables) else {
            return Ok(());
        };
        // What it asks for is reported, refused or not.
        let too_complex = |too: TooComplex| coded_server_error(too.to_string(), QUERY_TOO_COMPLEX);
        let measure = match measured {
            Ok(m) => m,
            Err(too) => return refused(charge, too_complex(too)),
        };
        charge.requested = measure.requested();
        if let Err(too) = measure.check(&self.model, self.max_cost, self.max_depth) {
            return refused(charge, too_complex(too));
        }
        if measure.introspects && !self.introspection {
            let off =
                coded_server_error("introspection is turned off on this server", BAD_USER_INPUT);
            return refused(charge, off);
        }
        let (Some(limiter), Some(key)) = (&self.limiter, charge.key.as_deref()) else {
            return Ok(());
        };
        match limiter.admit(key, charge.requested, Instant::now()) {
            Ok(throttle) => {
                charge.reserved = Some(charge.requested);
                charge.throttle = Some(throttle);
                Ok(())
            }
            Err(limited) => {
                charge.throttle = Some(limited.throttle);
                let seconds = limited.retry_after.as_secs();
                let mut error = coded_server_error(
                    format!(
                        "rate limited: this request costs {} points, {} are available; retry in {seconds} s",
                        charge.requested, limited.throttle.currently_available
                    ),
                    RATE_LIMITED,
                );
                if let Some(ext) = error.extensions.as_mut() {
                    ext.set("retryAfterSeconds", seconds);
                }
                refused(charge, error)
            }
        }
    }

    /// `extensions.cost`, settling the bucket: a request that ran pays
    /// what its answer cost (`actual`: see [`actual_cost`]) instead of
    /// what it reserved; one that did not pays for the text it sent.
    pub fn report(&self, charge: &mut Charge, actual: u64, response: &mut Response) {
        let actual = if charge.refused { 0 } else { actual };
        if let (Some(limiter), Some(key)) = (&self.limiter, &charge.key) {
            let now = Instant::now();
            // Without a reservation nothing ran: refused, or naming no
            // operation of its document (validation refused it).
            charge.throttle = Some(match charge.reserved {
                Some(reserved) => limiter.settle(key, reserved, actual, now),
                None => limiter.charge(key, charge.parse_points(), now),
            });
        }
        let throttle = charge.throttle.map(|t| {
            serde_json::json!({
                "maximumAvailable": t.maximum_available,
                "currentlyAvailable": t.currently_available,
                "restoreRate": t.restore_rate,
            })
        });
        let cost = serde_json::json!({
            "requestedQueryCost": charge.requested,
            "actualQueryCost": actual,
            "throttleStatus": throttle,
        });
        response
            .extensions
            .insert("cost".into(), Value::from_json(cost).unwrap_or(Value::Null));
    }
}
