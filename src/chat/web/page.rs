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

/// Everything but the page itself. `app.js` is the entry point; it imports the
/// other modules (ES modules, by relative paths).
const FILES: &[Asset] = &[
    Asset {
        path: "/app.js",
        content_type: SCRIPT,
        body: include_str!("../../../web/app.js"),
    },
    Asset {
        path: "/irc.js",
        content_type: SCRIPT,
        body: include_str!("../../../web/irc.js"),
    },
    Asset {
        path: "/connection.js",
        content_type: SCRIPT,
        body: include_str!("../../../web/connection.js"),
    },
    Asset {
        path: "/buffers.js",
        content_type: SCRIPT,
        body: include_str!("../../../web/buffers.js"),
    },
    Asset {
        path: "/client.js",
        content_type: SCRIPT,
        body: include_str!("../../../web/client.js"),
    },
    Asset {
        path: "/view.js",
        content_type: SCRIPT,
        body: include_str!("../../../web/view.js"),
    },
    Asset {
        path: "/style.css",
        content_type: STYLE,
        body: include_str!("../../../web/style.css"),
    },
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
