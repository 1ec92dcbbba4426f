//! GraphQL over HTTP as its specification says: requests by POST
//! (`application/json`) and, for queries, by GET; the answer's media type
//! negotiated from `Accept`. A body or parameters that are no GraphQL
//! request are 400; request errors (the document, its validation, its
//! limits) are 400 with no `data` entry under
//! `application/graphql-response+json` and 200 under `application/json`.

use std::collections::HashMap;

use async_graphql::parser::types::OperationType;
use async_graphql::{ServerError, Variables};
use axum::extract::Query;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::graphql::api::Answered;
use crate::graphql::cost::selected_operation;
use crate::graphql::error::{BAD_USER_INPUT, RATE_LIMITED, coded_server_error};
use crate::graphql::limits::QueryByGet;
use crate::graphql::persisted::PERSISTED_QUERY_NOT_FOUND;

pub const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
pub const JSON: &str = "application/json";

/// The media type of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `application/graphql-response+json`: status codes say what happened.
    GraphQLResponse,
    /// `application/json`: 200 for whatever GraphQL answered (legacy).
    Json,
}

impl Answer {
    /// The client's `Accept`: graphql-response+json when acceptable, else
    /// application/json (also for `*/*` and no header, as legacy clients
    /// expect); `None` when neither is acceptable (406).
    pub fn negotiate(accept: Option<&str>) -> Option<Answer> {
        let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
            return Some(Answer::Json);
        };
        let mut json = false;
        let mut graphql = false;
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let mut acceptable = true;
            for param in parts {
                let (k, v) = param.split_once('=').unwrap_or((param, ""));
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().trim_matches('"'));
                if k == "q" && v.parse::<f32>().is_ok_and(|q| q <= 0.0) {
                    acceptable = false;
                }
                if k == "charset" && !v.eq_ignore_ascii_case("utf-8") {
                    acceptable = false;
                }
            }
            if !acceptable {
                continue;
            }
            match media.as_str() {
                GRAPHQL_RESPONSE_JSON => graphql = true,
                JSON | "application/*" | "*/*" => json = true,
                _ => {}
            }
        }
        if graphql {
            Some(Answer::GraphQLResponse)
        } else if json {
            Some(Answer::Json)
        } else {
            None
        }
    }

    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Answer::GraphQLResponse => "application/graphql-response+json; charset=utf-8",
            Answer::Json => "application/json; charset=utf-8",
        })
    }
}

/// Why a request could not become a GraphQL request.
#[derive(Debug)]
pub enum Refused {
    /// Bad parameters or body: a request error with this message.
    Invalid(String),
    /// 415: not `application/json` (or not UTF-8).
    UnsupportedMediaType,
    /// 405: a mutation by GET.
    MutationByGet,
}

/// The request's parameters, from a GET's query string or a POST's body.
pub fn parse(
    method: &Method,
    headers: &HeaderMap,
    uri: &Uri,
    body: &[u8],
) -> Result<async_graphql::Request, Refused> {
    if method == Method::GET {
        let Query(params) = Query::<HashMap<String, String>>::try_from_uri(uri)
            .map_err(|e| Refused::Invalid(format!("invalid query string: {e}")))?;
        let json_param = |name: &str| -> Result<Value, Refused> {
            params.get(name).map_or(Ok(Value::Null), |raw| {
                serde_json::from_str(raw)
                    .map_err(|e| Refused::Invalid(format!("{name} is not JSON: {e}")))
            })
        };
        let request = build(
            params.get("query").map(|q| Value::String(q.clone())),
            params
                .get("operationName")
                .map_or(Value::Null, |n| Value::String(n.clone())),
            json_param("variables")?,
            json_param("extensions")?,
        )?;
        if selects_mutation(&request) {
            return Err(Refused::MutationByGet);
        }
        return Ok(request.data(QueryByGet));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !is_json_utf8(content_type) {
        return Err(Refused::UnsupportedMediaType);
    }
    let body: Value = serde_json::from_slice(body)
        .map_err(|e| Refused::Invalid(format!("the body is not JSON: {e}")))?;
    let Value::Object(mut params) = body else {
        return Err(Refused::Invalid(
            "the body must be one JSON object with a query (batches are not accepted)".into(),
        ));
    };
    build(
        params.remove("query"),
        params.remove("operationName").unwrap_or(Value::Null),
        params.remove("variables").unwrap_or(Value::Null),
        params.remove("extensions").unwrap_or(Value::Null),
    )
}

fn is_json_utf8(content_type: &str) -> bool {
    let mut parts = content_type.split(';').map(str::trim);
    let media_ok = parts.next().is_some_and(|m| m.eq_ignore_ascii_case(JSON));
    media_ok
        && parts.all(|p| match p.split_once('=') {
            Some((k, v)) if k.trim().eq_ignore_ascii_case("charset") => {
                v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
            }
            _ => true,
        })
}

fn build(
    query: Option<Value>,
    operation_name: Value,
    variables: Value,
    extensions: Value,
) -> Result<async_graphql::Request, Refused> {
    let persisted = extensions.get("persistedQuery").is_some();
    let query = match query {
        Some(Value::String(query)) => query,
        // A persisted query may come by its hash alone.
        None if persisted => String::new(),
        _ => return Err(Refused::Invalid("query must be a string".into())),
    };
    let mut request = async_graphql::Request::new(query);
    match operation_name {
        Value::Null => {}
        Value::String(name) => request = request.operation_name(name),
        _ => return Err(Refused::Invalid("operationName must be a string".into())),
    }
    match variables {
        Value::Null => {}
        v @ Value::Object(_) => request = request.variables(Variables::from_json(v)),
        _ => return Err(Refused::Invalid("variables must be an object".into())),
    }
    match extensions {
        Value::Null => {}
        Value::Object(map) => {
            for (k, v) in map {
                if let Ok(v) = async_graphql::Value::from_json(v) {
                    request.extensions.insert(k, v);
                }
            }
        }
        _ => return Err(Refused::Invalid("extensions must be an object".into())),
    }
    Ok(request)
}

/// Whether the operation the request selects is a mutation (a document
/// that does not parse, or a persisted query named by its hash only, is
/// left to the limits, which refuse mutations by GET too).
fn selects_mutation(request: &async_graphql::Request) -> bool {
    let Ok(doc) = crate::graphql::persisted::parse_bounded(&request.query) else {
        return false;
    };
    selected_operation(&doc, request.operation_name.as_deref())
        .is_some_and(|op| op.node.ty == OperationType::Mutation)
}

/// A GraphQL answer with the status and media type the specification says.
pub fn respond(answer: Answer, answered: Answered) -> Response {
    let Answered {
        response,
        data_text,
        ..
    } = answered;
    if let Some(data) = data_text {
        // Kept answers have no errors: 200 whatever the media type.
        let extensions = serde_json::to_string(&response.extensions).unwrap_or_default();
        let body = format!(r#"{{"data":{data},"extensions":{extensions}}}"#);
        let mut http = (StatusCode::OK, body).into_response();
        http.headers_mut()
            .insert(header::CONTENT_TYPE, answer.content_type());
        return http;
    }
    let retry_after = response.errors.iter().find_map(|e| {
        let ext = e.extensions.as_ref()?;
        (ext.get("code")? == &async_graphql::Value::from(RATE_LIMITED))
            .then(|| ext.get("retryAfterSeconds").map(ToString::to_string))
            .flatten()
    });
    let code_of = |e: &ServerError| {
        e.extensions
            .as_ref()
            .and_then(|x| x.get("code"))
            .and_then(|c| match c {
                async_graphql::Value::String(s) => Some(s.clone()),
                _ => None,
            })
    };
    // The limits mark a mutation that came by GET (persisted,
    // so only the schema could tell) with the method to use.
    let by_get_refused = response.errors.iter().any(|e| {
        e.extensions
            .as_ref()
            .is_some_and(|x| x.get("allow").is_some())
    });
    // Apollo's clients retry with the query on this answer: keep it 200.
    let not_found = response
        .errors
        .iter()
        .any(|e| code_of(e).as_deref() == Some(PERSISTED_QUERY_NOT_FOUND));
    // A request error stops before execution: no error has a path.
    let request_error = !response.errors.is_empty()
        && response.data == async_graphql::Value::Null
        && response.errors.iter().all(|e| e.path.is_empty());
    // Straight to text, except for a request error, whose `data` goes.
    let body = if request_error {
        let mut value = serde_json::to_value(&response).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut value {
            map.remove("data");
        }
        value.to_string()
    } else {
        serde_json::to_string(&response).unwrap_or_default()
    };
    let status = if retry_after.is_some() {
        StatusCode::TOO_MANY_REQUESTS
    } else if by_get_refused {
        StatusCode::METHOD_NOT_ALLOWED
    } else if not_found {
        StatusCode::OK
    } else if request_error && answer == Answer::GraphQLResponse {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut http = (status, body).into_response();
    http.headers_mut()
        .insert(header::CONTENT_TYPE, answer.content_type());
    if let Some(seconds) = retry_after.and_then(|s| HeaderValue::from_str(&s).ok()) {
        http.headers_mut().insert(header::RETRY_AFTER, seconds);
    }
    if by_get_refused {
        http.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    http
}

/// An answer made of one error, before GraphQL ran.
pub fn error_response(answer: Answer, status: StatusCode, message: String, code: &str) -> Response {
    let body = serde_json::json!({ "errors": [coded_server_error(message, code)] });
    let mut http = (status, body.to_string()).into_response();
    http.headers_mut()
        .insert(header::CONTENT_TYPE, answer.content_type());
    http
}

/// A refused request's answer.
pub fn refused(answer: Answer, why: Refused) -> Response {
    match why {
        // Not a GraphQL request at all: 400 whatever the media type.
        Refused::Invalid(message) => {
            error_response(answer, StatusCode::BAD_REQUEST, message, BAD_USER_INPUT)
        }
        Refused::UnsupportedMediaType => error_response(
            answer,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the request as application/json (UTF-8), or a query by GET".into(),
            BAD_USER_INPUT,
        ),
        Refused::MutationByGet => {
            let mut http = error_response(
                answer,
                StatusCode::METHOD_NOT_ALLOWED,
                "mutations are sent by POST".into(),
                BAD_USER_INPUT,
            );
            http.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            http
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_is_negotiated() {
        use Answer::*;
        assert_eq!(Answer::negotiate(None), Some(Json));
        assert_eq!(Answer::negotiate(Some("*/*")), Some(Json));
        assert_eq!(Answer::negotiate(Some("application/json")), Some(Json));
        assert_eq!(
            Answer::negotiate(Some(
                "application/graphql-response+json; charset=utf-8, application/json; charset=utf-8"
            )),
            Some(GraphQLResponse)
        );
        assert_eq!(Answer::negotiate(Some("text/html")), None);
        assert_eq!(
            Answer::negotiate(Some("application/json; charset=iso-8859-1")),
            None
        );
        assert_eq!(
            Answer::negotiate(Some(
                "application/graphql-response+json;q=0, application/json"
            )),
            Some(Json)
        );
    }

    #[test]
    fn only_utf8_json_bodies_are_read() {
        assert!(is_json_utf8("application/json"));
        assert!(is_json_utf8("application/json; charset=UTF-8"));
        assert!(!is_json_utf8("application/json; charset=latin1"));
        assert!(!is_json_utf8("text/plain"));
        assert!(!is_json_utf8(""));
    }
}
