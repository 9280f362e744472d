//! Fault injection, for proving that provisioning survives apps that misbehave: a share of
//! requests is answered with what real apps do on a bad day.
//!
//! The faults that lose the response keep the effect (the write happened, the answer never
//! arrived), because that is the case that tests whether a client's retries are idempotent.

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tenure_scim::ScimError;

use crate::Shared;
use crate::routes::ApiError;

/// Which requests fail, and how long a stalled one hangs.
#[derive(Debug, Clone, Copy)]
pub struct FaultPlan {
    /// Share of requests that fail, 0–100.
    pub percent: u8,
    /// How long a stalled response hangs before it is answered (longer than the client's
    /// timeout makes it a timeout).
    pub stall: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// 429 with `Retry-After: 1`; the request is not processed.
    Throttle,
    /// 500; not processed.
    ServerError,
    /// Processed, then the connection breaks in the middle of the response body.
    Reset,
    /// Processed, then the answer comes only after `stall`.
    Stall,
}

/// A random draw from the operating system's generator (via a v4 UUID), so the sandbox needs no
/// random number crate of its own.
fn draw() -> (u8, u8) {
    let bytes = *uuid::Uuid::new_v4().as_bytes();
    (bytes[0], bytes[1])
}

fn pick(plan: &FaultPlan) -> Option<Fault> {
    let (a, b) = draw();
    // Scale to 0..100 without bias worth caring about in a test fake.
    if u32::from(a) * 100 / 256 >= u32::from(plan.percent) {
        return None;
    }
    Some(match b % 4 {
        0 => Fault::Throttle,
        1 => Fault::ServerError,
        2 => Fault::Reset,
        _ => Fault::Stall,
    })
}

pub(crate) async fn inject(shared: &Shared, plan: &FaultPlan, request: Request, next: Next) -> Response {
    let Some(fault) = pick(plan) else { return next.run(request).await };
    shared.faults.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(?fault, "sandbox injects a fault");
    match fault {
        Fault::Throttle => {
            let mut response =
                ApiError::from(ScimError::new(429, None, "injected fault: too many requests")).into_response();
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(1));
            response
        }
        Fault::ServerError => {
            ApiError::from(ScimError::new(500, None, "injected fault: internal error")).into_response()
        }
        Fault::Reset => {
            let (parts, _) = next.run(request).await.into_parts();
            Response::from_parts(parts, Body::from_stream(BrokenBody { sent: false }))
        }
        Fault::Stall => {
            let response = next.run(request).await;
            tokio::time::sleep(plan.stall).await;
            response
        }
    }
}

/// A body that sends a fragment and then fails, which makes the server drop the connection.
struct BrokenBody {
    sent: bool,
}

impl futures_core::Stream for BrokenBody {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.sent {
            return Poll::Ready(Some(Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "injected fault"))));
        }
        self.sent = true;
        Poll::Ready(Some(Ok(Bytes::from_static(b"{\"schemas\":"))))
    }
}
