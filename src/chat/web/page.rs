//! The chat page: plain HTML, CSS and JavaScript from `web/`, compiled into the
//! binary so that it runs with no files beside it and no internet.
//!
//! The page only ever loads its own script and style and connects to its own
//! origin: the Content-Security-Policy says exactly that, so even a mistake in
//! the page could not load or run anything else.

use axum::http::header;
use axum::response::IntoResponse;

const INDEX: &str = include_str!("../../../web/index.html");
const SCRIPT: &str = include_str!("../../../web/app.js");
const STYLE: &str = include_str!("../../../web/style.css");

const POLICY: &str = "default-src 'self'; connect-src 'self'; img-src 'self' data:; \
                      base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub(super) fn index() -> impl IntoResponse {
    asset("text/html; charset=utf-8", INDEX)
}

pub(super) async fn script() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

pub(super) async fn style() -> impl IntoResponse {
    asset("text/css; charset=utf-8", STYLE)
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}
