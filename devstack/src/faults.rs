//! Fault injection shared by the simulators, served outside `/v1` at `/_sim/faults`:
//! `POST` (or `PUT`) `{"status":500,"body":"No cluster leader","count":N,"delay_ms":M}` makes
//! the next `N` (default 1) API requests wait `M` ms and/or fail with that status and body
//! (each simulator supplies its server's default body per status). `GET` shows the pending
//! fault (JSON `null` when none), `DELETE` clears it.

use std::sync::Mutex;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};

/// The admin path both simulators serve.
pub(crate) const PATH: &str = "/_sim/faults";

/// Largest fault definition accepted.
const MAX_FAULT_BODY: usize = 64 * 1024;

/// A pending fault (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fault {
    pub status: Option<u16>,
    pub body: Option<String>,
    pub delay_ms: u64,
    pub remaining: u64,
}

/// The fault slot of one simulator.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    slot: Mutex<Option<Fault>>,
}

/// What a request should do after [`Faults::apply`] ran its delay.
pub(crate) enum Outcome {
    /// Serve the request normally.
    Pass,
    /// Answer with this status and plain-text body instead.
    Fail(u16, String),
}

impl Faults {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Fault>> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Installs (replaces) the pending fault.
    pub(crate) fn set(&self, fault: Fault) {
        *self.lock() = Some(fault);
    }

    /// The pending fault, if any.
    pub(crate) fn get(&self) -> Option<Fault> {
        self.lock().clone()
    }

    /// Clears the pending fault.
    pub(crate) fn clear(&self) {
        *self.lock() = None;
    }

    /// Consumes one use of the pending fault.
    fn take(&self) -> Option<Fault> {
        let mut guard = self.lock();
        let fault = guard.as_mut()?;
        if fault.remaining == 0 {
            *guard = None;
            return None;
        }
        let out = fault.clone();
        fault.remaining -= 1;
        if fault.remaining == 0 {
            *guard = None;
        }
        Some(out)
    }

    /// Consumes one use of the pending fault for an API request: waits its delay, then says
    /// whether the request fails (`default_body` gives the server's text for a status when
    /// the fault has no body).
    pub(crate) async fn apply(&self, default_body: fn(u16) -> String) -> Outcome {
        let Some(fault) = self.take() else {
            return Outcome::Pass;
        };
        if fault.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(fault.delay_ms)).await;
        }
        match fault.status {
            Some(status) => {
                let body = fault.body.unwrap_or_else(|| default_body(status));
                Outcome::Fail(status, body)
            }
            None => Outcome::Pass,
        }
    }

    /// Serves `/_sim/faults`.
    pub(crate) async fn admin(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let method = req.method().clone();
        match method {
            Method::GET => {
                let v = match self.get() {
                    None => Value::Null,
                    Some(f) => {
                        json!({"status": f.status, "body": f.body, "delay_ms": f.delay_ms, "count": f.remaining})
                    }
                };
                let mut r = Response::new(Full::new(Bytes::from(
                    serde_json::to_vec(&v).unwrap_or_default(),
                )));
                r.headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                r
            }
            Method::DELETE => {
                self.clear();
                plain(200, "")
            }
            Method::POST | Method::PUT => {
                let body = match Limited::new(req.into_body(), MAX_FAULT_BODY)
                    .collect()
                    .await
                {
                    Ok(b) => b.to_bytes(),
                    Err(e) => return plain(400, &format!("reading body: {e}")),
                };
                match parse_fault(&body) {
                    Ok(fault) => {
                        self.set(fault);
                        plain(200, "")
                    }
                    Err(e) => plain(400, &e),
                }
            }
            _ => plain(405, "method not allowed"),
        }
    }
}

/// A plain-text response (the simulators' error shape).
pub(crate) fn plain(status: u16, body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if !body.is_empty() {
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    r
}

/// The reason phrase of a status, the fallback fault body.
pub(crate) fn reason(status: u16) -> String {
    StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
        .to_string()
}

/// Parses a fault definition (see the module docs).
pub(crate) fn parse_fault(body: &[u8]) -> Result<Fault, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("invalid fault JSON: {e}"))?;
    let obj = v.as_object().ok_or("fault must be a JSON object")?;
    for k in obj.keys() {
        if !["status", "body", "count", "delay_ms"].contains(&k.as_str()) {
            return Err(format!("unknown fault field {k:?}"));
        }
    }
    let status = match obj.get("status") {
        None | Some(Value::Null) => None,
        Some(s) => {
            let s = s.as_u64().ok_or("status must be an integer")?;
            if !(100..=599).contains(&s) {
                return Err(format!("status {s} out of range"));
            }
            Some(s as u16)
        }
    };
    let body = match obj.get("body") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("body must be a string".into()),
    };
    let delay_ms = match obj.get("delay_ms") {
        None | Some(Value::Null) => 0,
        Some(d) => d
            .as_u64()
            .ok_or("delay_ms must be a non-negative integer")?,
    };
    let count = match obj.get("count") {
        None | Some(Value::Null) => 1,
        Some(c) => match c.as_u64() {
            Some(n) if n >= 1 => n,
            _ => return Err("count must be a positive integer".into()),
        },
    };
    if status.is_none() && delay_ms == 0 {
        return Err("a fault needs a status or a delay_ms".into());
    }
    Ok(Fault {
        status,
        body,
        delay_ms,
        remaining: count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_counts_down() {
        let f = parse_fault(br#"{"status":500,"count":2}"#).expect("valid");
        assert_eq!(f.status, Some(500));
        assert_eq!(f.remaining, 2);
        assert!(parse_fault(br#"{"count":2}"#).is_err());
        assert!(parse_fault(br#"{"status":700}"#).is_err());
        assert!(parse_fault(br#"{"status":500,"x":1}"#).is_err());
        let faults = Faults::default();
        faults.set(f);
        assert!(faults.take().is_some());
        assert_eq!(faults.get().map(|f| f.remaining), Some(1));
        assert!(faults.take().is_some());
        assert!(faults.take().is_none());
        assert!(faults.get().is_none());
    }
}
