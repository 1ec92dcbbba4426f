//! The limits of public clients, applied by [`super::api`] to every
//! operation, so POST, GET and websockets get the same: the cost and depth
//! of the selected operation checked before anything runs
//! (QUERY_TOO_COMPLEX), the caller's bucket asked for the requested cost
//! (RATE_LIMITED) and charged the actual one, `extensions.cost` on every
//! answer, and an `extensions.code` on every error async-graphql raised
//! itself (parse, validation, input coercion: BAD_USER_INPUT).

use std::time::Instant;

use async_graphql::parser::types::OperationType;
use async_graphql::{Data, ErrorExtensionValues, Request, Response, ServerResult, Value};

use super::cost::{CostModel, selected_operation};
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
    /// Refused before it ran: nothing to charge.
    refused: bool,
    throttle: Option<Throttle>,
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
    /// The checks, in order: parse, method, cost and depth, the bucket;
    /// `charge` says what was asked and whom to charge, refused or not.
    pub fn admit(
        &self,
        request: &mut Request,
        session: Option<&Data>,
        charge: &mut Charge,
    ) -> ServerResult<()> {
        let key = rate_key(request, session);
        charge.key.clone_from(&key);
        let operation = request.operation_name.clone();
        let by_get = request
            .data
            .get(&std::any::TypeId::of::<QueryByGet>())
            .is_some();
        let variables = std::mem::take(&mut request.variables);
        let measured = request.parsed_query().map(|doc| {
            let mutation = selected_operation(doc, operation.as_deref())
                .is_some_and(|op| op.node.ty == OperationType::Mutation);
            let measured = self.model.measure(doc, operation.as_deref(), &variables);
            (mutation, measured)
        });
        request.variables = variables;
        let (mutation, measured) =
            measured.map_err(|e| coded_server_error(e.message, BAD_USER_INPUT))?;
        if by_get && mutation {
            charge.refused = true;
            let mut error = coded_server_error("mutations are sent by POST", BAD_USER_INPUT);
            if let Some(ext) = error.extensions.as_mut() {
                ext.set("allow", "POST");
            }
            return Err(error);
        }
        // No such operation: validation explains.
        let Some(measured) = measured else {
            return Ok(());
        };
        let measure = measured
            .and_then(|m| m.check(self.max_cost, self.max_depth))
            .map_err(|too| coded_server_error(too.to_string(), QUERY_TOO_COMPLEX));
        let measure = match measure {
            Ok(m) if m.introspects && !self.introspection => Err(coded_server_error(
                "introspection is turned off on this server",
                BAD_USER_INPUT,
            )),
            other => other,
        };
        let measure = match measure {
            Ok(m) => m,
            Err(e) => {
                charge.refused = true;
                return Err(e);
            }
        };
        charge.requested = measure.cost;
        let (Some(limiter), Some(key)) = (&self.limiter, key.as_deref()) else {
            return Ok(());
        };
        match limiter.admit(key, measure.cost, Instant::now()) {
            Ok(throttle) => {
                charge.throttle = Some(throttle);
                Ok(())
            }
            Err(limited) => {
                charge.refused = true;
                charge.throttle = Some(limited.throttle);
                let seconds = limited.retry_after.as_secs();
                let mut error = coded_server_error(
                    format!(
                        "rate limited: this request costs {} points, {} are available; retry in {seconds} s",
                        measure.cost, limited.throttle.currently_available
                    ),
                    RATE_LIMITED,
                );
                if let Some(ext) = error.extensions.as_mut() {
                    ext.set("retryAfterSeconds", seconds);
                }
                Err(error)
            }
        }
    }

    /// `extensions.cost`, charging the bucket what the answer cost
    /// (`actual`: see [`actual_cost`]).
    pub fn report(&self, charge: &mut Charge, actual: u64, response: &mut Response) {
        let actual = if charge.refused { 0 } else { actual };
        if let (Some(limiter), Some(key), false) = (&self.limiter, &charge.key, charge.refused) {
            charge.throttle = Some(limiter.charge(key, actual, Instant::now()));
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
