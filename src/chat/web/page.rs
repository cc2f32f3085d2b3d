//! The chat page: plain HTML, CSS and JavaScript from `web/`, compiled into the
//! binary so that it runs with no files beside it and no internet.
//!
//! The page only ever loads its own script and style and connects to its own
//! origin: the Content-Security-Policy says exactly that, so even a mistake in
//! the page could not load or run anything else.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

const POLICY: &str = "default-src 'self'; connect-src 'self'; img-src 'self' data:; \
                      base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const HTML: &str = "text/html; charset=utf-8";
const SCRIPT: &str = "text/javascript; charset=utf-8";
const STYLE: &str = "text/css; charset=utf-8";

/// One file of the page: where it is served, its type, its bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const INDEX: Asset = Asset {
    path: "/",
    content_type: HTML,
    body: include_str!("../../../web/index.html"),
};

/// The file `web/NAME`, served at `/NAME`.
macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            path: concat!("/", $name),
            content_type: $content_type,
            body: include_str!(concat!("../../../web/", $name)),
        }
    };
}

/// Everything but the page itself. `app.js` is the entry point; it imports the
/// other modules (ES modules, by relative paths).
const FILES: &[Asset] = &[
    asset!("app.js", SCRIPT),
    asset!("irc.js", SCRIPT),
    asset!("connection.js", SCRIPT),
    asset!("buffers.js", SCRIPT),
    asset!("client.js", SCRIPT),
    asset!("view.js", SCRIPT),
    asset!("style.css", STYLE),
];

pub(super) fn index() -> impl IntoResponse {
    INDEX.response()
}

/// A route for each of the page's files.
pub(super) fn routes<S: Clone + Send + Sync + 'static>(mut router: Router<S>) -> Router<S> {
    for asset in FILES {
        router = router.route(asset.path, get(move || async move { asset.response() }));
    }
    router
}

impl Asset {
    fn response(&self) -> impl IntoResponse + use<> {
        (
            [
                (header::CONTENT_TYPE, self.content_type),
                (header::CONTENT_SECURITY_POLICY, POLICY),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            self.body,
        )
    }
}
