//! The console's screens over HTTP/1.1, as a browser asks for them: `GET` with the session
//! cookie over kept-alive connections (hyper's own client, the one tonic and axum build on),
//! each page timed to its last byte and its size kept.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper::header::{COOKIE, HeaderValue, LOCATION};
use hyper::{Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::load::{self, Plan, Stats};

/// A page that takes longer than this is a failed page (the console gives up on a service
/// after 10 s, so this is only a safety net).
const PAGE_TIMEOUT: Duration = Duration::from_secs(60);

/// How much of a refused page's body the report shows.
const BODY_SHOWN: usize = 300;

pub type Http = Client<HttpConnector, Empty<Bytes>>;

/// An HTTP/1.1 client keeping up to `connections` connections to the console open.
pub fn client(connections: usize) -> Http {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(connections.max(1))
        .pool_idle_timeout(Duration::from_secs(90))
        .build(connector)
}

/// One kind of screen: who asks and the pages asked for (in turn, one per call).
pub struct Screen {
    /// The result is `screen_<kind>`.
    pub kind: &'static str,
    pub what: String,
    /// The `Cookie` header (the signed-in session).
    pub cookie: String,
    /// Paths with their query, e.g. `/koordinator/anmodning/101/bg-1`.
    pub paths: Vec<String>,
}

/// What a screen's run gives.
pub struct Measured {
    pub stats: Stats,
    /// The largest page's body in bytes, and its path.
    pub largest: (usize, String),
}

/// Asks for one page: its body's size, or why it is not a page (any status but 200, with the
/// start of what came instead).
async fn get(client: &Http, uri: &Uri, cookie: &HeaderValue) -> Result<usize, String> {
    let request = Request::get(uri.clone())
        .header(COOKIE, cookie.clone())
        .body(Empty::new())
        .map_err(|err| format!("GET {uri}: {err}"))?;
    let answer = tokio::time::timeout(PAGE_TIMEOUT, async {
        let response = client
            .request(request)
            .await
            .map_err(|err| err.to_string())?;
        let (parts, body) = response.into_parts();
        // The whole body: the page's time is to its last byte.
        let body = body
            .collect()
            .await
            .map_err(|err| err.to_string())?
            .to_bytes();
        Ok::<_, String>((parts, body))
    })
    .await
    .map_err(|_| format!("GET {}: no whole page in {PAGE_TIMEOUT:?}", uri.path()))?
    .map_err(|err| format!("GET {}: {err}", uri.path()))?;
    let (parts, body) = answer;
    if parts.status == StatusCode::OK {
        return Ok(body.len());
    }
    let location = parts
        .headers
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .map(|l| format!(" (Location: {l})"))
        .unwrap_or_default();
    let start = one_line(&String::from_utf8_lossy(
        &body[..body.len().min(BODY_SHOWN)],
    ));
    Err(format!(
        "HTTP {} for GET {}{location}, {} bytes: {start} […] the page says: {}",
        parts.status,
        uri.path_and_query().map_or("", |p| p.as_str()),
        body.len(),
        main_text(&String::from_utf8_lossy(&body))
    ))
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The words of a page's `<main>` (what went wrong, the incident id), without the markup.
fn main_text(html: &str) -> String {
    let main = html.find("<main").map_or(html, |at| &html[at..]);
    let mut text = String::new();
    let mut in_tag = false;
    for c in main.chars() {
        match c {
            '<' => {
                in_tag = true;
                text.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    one_line(&text).chars().take(BODY_SHOWN).collect()
}

/// One page of `screen` first (a screen that does not answer 200 is not loaded further), then
/// its pages in a closed loop with `plan.streams` streams, each counting at least one page
/// however slow the screen is.
pub async fn measure(client: &Http, base: &str, screen: &Screen, plan: Plan) -> Measured {
    let failed = |error: String| Measured {
        stats: Stats::from_latencies(Vec::new(), 1, Some(error), Duration::ZERO),
        largest: (0, String::new()),
    };
    let cookie = match HeaderValue::from_str(&screen.cookie) {
        Ok(cookie) => cookie,
        Err(err) => return failed(format!("the session cookie is no header value: {err}")),
    };
    let uris = match screen
        .paths
        .iter()
        .map(|path| format!("{base}{path}").parse::<Uri>())
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(uris) if !uris.is_empty() => Arc::new(uris),
        Ok(_) => return failed("no pages to ask for".into()),
        Err(err) => return failed(format!("not a URL: {err}")),
    };
    let first = match get(client, &uris[0], &cookie).await {
        Ok(size) => size,
        Err(error) => return failed(error),
    };
    let largest = Arc::new(Mutex::new((first, 0usize)));
    let stats = {
        let (client, uris, largest) = (client.clone(), uris.clone(), largest.clone());
        load::closed_loop_each(plan, move |seq| {
            let index = seq as usize % uris.len();
            let (client, uris, cookie, largest) = (
                client.clone(),
                uris.clone(),
                cookie.clone(),
                largest.clone(),
            );
            async move {
                let size = get(&client, &uris[index], &cookie).await?;
                let mut most = largest.lock().unwrap_or_else(|e| e.into_inner());
                if size > most.0 {
                    *most = (size, index);
                }
                Ok(())
            }
        })
        .await
    };
    let (size, index) = *largest.lock().unwrap_or_else(|e| e.into_inner());
    Measured {
        stats,
        largest: (size, screen.paths[index].clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_page_is_told_by_its_main_text() {
        let html = "<html><head><style>x{}</style></head><body><main id=\"indhold\"><h1>Der gik noget galt</h1>\n<p>Fejl-id: <code>abc</code></p></main></body></html>";
        assert_eq!(main_text(html), "Der gik noget galt Fejl-id: abc");
    }
}
