//! `GET /_emulator/`: the inspector page, rendered here from the same records as the
//! JSON inspection endpoints (`crate::inspect`, `crate::faults::ArmedFaults`), with a
//! small inline script for live updates and the fault controls. No build step, no
//! external asset: the page works offline.
//!
//! Every value on the page may come from a client (an Idempotency-Key, a path, a
//! receiver's URL), so every value is HTML-escaped; API keys are never shown and webhook
//! secrets only masked (the reveal control asks `POST /_emulator/inspect/webhook-secret`).

use std::fmt::Write as _;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::control::Control;
use crate::inspect::{DeliveryRecord, RequestRecord};
use crate::lock;

/// Rows per page of each list.
const REQUESTS_PER_PAGE: usize = 100;
const RUNS_PER_PAGE: usize = 50;
const DELIVERIES_PER_PAGE: usize = 50;

/// The page's query: filters and one page number per list (1-based).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct PageQuery {
    /// Only what concerns this run.
    run_id: String,
    /// Only what carries this Idempotency-Key.
    key: String,
    /// Page of the requests list.
    requests_page: usize,
    /// Page of the runs list.
    runs_page: usize,
    /// Page of the deliveries list.
    deliveries_page: usize,
}

impl PageQuery {
    /// The query string of this view with one list's page changed.
    fn with_page(&self, list: &str, page: usize) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if !self.run_id.is_empty() {
            pairs.push(("run_id", self.run_id.clone()));
        }
        if !self.key.is_empty() {
            pairs.push(("key", self.key.clone()));
        }
        for (name, current) in [
            ("requests_page", self.requests_page),
            ("runs_page", self.runs_page),
            ("deliveries_page", self.deliveries_page),
        ] {
            let value = if name == list { page } else { current };
            if value > 1 {
                pairs.push((name, value.to_string()));
            }
        }
        serde_urlencoded::to_string(&pairs).unwrap_or_default()
    }

    fn matches_run(&self, run_id: Option<&str>) -> bool {
        self.run_id.is_empty() || run_id == Some(self.run_id.as_str())
    }

    fn matches_key(&self, key: Option<&str>) -> bool {
        self.key.is_empty() || key == Some(self.key.as_str())
    }
}

/// Parses the page's query; anything unreadable is the unfiltered first page.
pub(super) fn query(raw: Option<&str>) -> PageQuery {
    raw.and_then(|raw| serde_urlencoded::from_str(raw).ok())
        .unwrap_or_default()
}

/// The whole page.
pub(super) fn page(control: &Control, query: &PageQuery) -> Response {
    let html = render(control, query);
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            // The page's own inline script and styles only; nothing from elsewhere, and
            // no framing by another site.
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                     connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; \
                     form-action 'self'",
                ),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        html,
    )
        .into_response()
}

/// Renders the page as a string.
pub(super) fn render(control: &Control, query: &PageQuery) -> String {
    let mut out = String::with_capacity(64 * 1024);
    out.push_str(HEAD);
    let _ = write!(
        out,
        r#"<form class="filters" method="get" action="/_emulator/">
<label>Run id <input name="run_id" value="{}" size="38"></label>
<label>Idempotency-Key <input name="key" value="{}" size="30"></label>
<button type="submit">Filter</button> <a href="/_emulator/">clear</a>
<label class="live"><input type="checkbox" id="live" checked> live</label>
</form>
<div id="content">
"#,
        esc(&query.run_id),
        esc(&query.key)
    );
    settings_section(&mut out, control);
    faults_section(&mut out, control);
    endpoints_section(&mut out, control);
    requests_section(&mut out, control, query);
    runs_section(&mut out, control, query);
    deliveries_section(&mut out, control, query);
    out.push_str("</div>\n");
    out.push_str(SCRIPT);
    out.push_str("</body></html>\n");
    out
}

fn settings_section(out: &mut String, control: &Control) {
    out.push_str("<section id=\"settings\"><h2>Settings</h2><table class=\"kv\">");
    let settings = serde_json::to_value(control.settings()).unwrap_or_default();
    if let Some(map) = settings.as_object() {
        for (name, value) in map {
            let shown = match value {
                serde_json::Value::Null => "none".to_owned(),
                other => other.to_string(),
            };
            let _ = write!(
                out,
                "<tr><th>{}</th><td>{}</td></tr>",
                esc(name),
                esc(&shown)
            );
        }
    }
    out.push_str("</table></section>\n");
}

/// The controls: each is a JSON request to the control surface (method, path, body).
const CONTROLS: &[(&str, &str, &str, &str)] = &[
    (
        "arm-create-503",
        "POST",
        "/_emulator/faults",
        r#"{"operation":"create_run","kind":"status","status":503}"#,
    ),
    (
        "arm-create-429",
        "POST",
        "/_emulator/faults",
        r#"{"operation":"create_run","kind":"status","status":429,"retry_after":1}"#,
    ),
    (
        "arm-create-drop",
        "POST",
        "/_emulator/faults",
        r#"{"operation":"create_run","kind":"drop_after_commit"}"#,
    ),
    (
        "arm-get-500",
        "POST",
        "/_emulator/faults",
        r#"{"operation":"get_run","kind":"status","status":500}"#,
    ),
    (
        "arm-run-fails",
        "POST",
        "/_emulator/outcomes",
        r#"{"outcome":"fail"}"#,
    ),
    (
        "arm-delivery-fails",
        "PUT",
        "/_emulator/webhook-faults",
        r#"{"fail":1}"#,
    ),
    ("clear-faults", "DELETE", "/_emulator/faults", ""),
];

/// What each control's button says.
fn control_label(id: &str) -> &'static str {
    match id {
        "arm-create-503" => "Next creation: 503",
        "arm-create-429" => "Next creation: 429, Retry-After 1",
        "arm-create-drop" => "Next creation: run made, connection dropped",
        "arm-get-500" => "Next GET run: 500",
        "arm-run-fails" => "Next run fails",
        "arm-delivery-fails" => "Next delivery fails",
        _ => "Clear every fault",
    }
}

fn faults_section(out: &mut String, control: &Control) {
    let armed = control.armed_faults();
    out.push_str("<section id=\"faults\"><h2>Armed faults</h2><div class=\"controls\">");
    for (id, method, path, body) in CONTROLS {
        let _ = write!(
            out,
            r#"<button type="button" id="{id}" data-method="{method}" data-path="{path}" data-body="{}">{}</button> "#,
            esc(body),
            control_label(id)
        );
    }
    out.push_str("<span id=\"control-result\"></span></div>");
    let nothing = armed.faults.is_empty()
        && armed.latency.is_empty()
        && armed.outcomes.is_empty()
        && armed.webhook == Default::default();
    if nothing {
        out.push_str("<p class=\"empty\">Nothing armed.</p>");
    } else {
        out.push_str("<table><tr><th>operation</th><th>remaining</th><th>fault</th></tr>");
        for fault in &armed.faults {
            let detail = serde_json::to_string(&fault.action).unwrap_or_default();
            let _ = write!(
                out,
                "<tr class=\"armed\"><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                esc(&fault.operation),
                fault.count,
                esc(&clip(&detail, 300))
            );
        }
        for latency in &armed.latency {
            let _ = write!(
                out,
                "<tr class=\"armed\"><td>{}</td><td>every {} call(s)</td><td>latency {} ms</td></tr>",
                esc(&latency.operation),
                latency.every,
                latency.ms
            );
        }
        for outcome in &armed.outcomes {
            let detail = serde_json::to_string(outcome).unwrap_or_default();
            let _ = write!(
                out,
                "<tr class=\"armed\"><td>next run</td><td>1</td><td><code>{}</code></td></tr>",
                esc(&detail)
            );
        }
        if armed.webhook != Default::default() {
            let detail = serde_json::to_string(&armed.webhook).unwrap_or_default();
            let _ = write!(
                out,
                "<tr class=\"armed\"><td>webhook deliveries</td><td></td><td><code>{}</code></td></tr>",
                esc(&detail)
            );
        }
        out.push_str("</table>");
    }
    out.push_str("</section>\n");
}

fn endpoints_section(out: &mut String, control: &Control) {
    out.push_str("<section id=\"endpoints\"><h2>Webhook endpoints</h2>");
    let endpoints = control.webhook_endpoints();
    if endpoints.is_empty() {
        out.push_str("<p class=\"empty\">No endpoint registered.</p>");
    } else {
        out.push_str("<table><tr><th>workspace</th><th>id</th><th>url</th><th>secret</th></tr>");
        for endpoint in &endpoints {
            let _ = write!(
                out,
                r#"<tr><td>{}</td><td>{}</td><td>{}</td><td><code class="secret">{}</code> <button type="button" class="reveal" data-workspace="{}">reveal</button></td></tr>"#,
                esc(&endpoint.workspace_id),
                esc(&endpoint.id),
                esc(&endpoint.url),
                esc(&endpoint.secret_masked),
                esc(&endpoint.workspace_id)
            );
        }
        out.push_str("</table>");
    }
    out.push_str("</section>\n");
}

/// One page of a list: its rows and the pager's HTML.
struct Listing<T> {
    rows: Vec<T>,
    pager: String,
}

/// Page `requested` (1-based; beyond the last: the last) of a list, `per_page` rows a page.
/// `select(skip, take)` returns the `take` rows after the first `skip` and how many rows
/// the list has, so only the rows shown are copied out of the records.
fn listing<T>(
    per_page: usize,
    requested: usize,
    list: &str,
    query: &PageQuery,
    select: impl Fn(usize, usize) -> (Vec<T>, usize),
) -> Listing<T> {
    let requested = requested.max(1);
    let (mut rows, total) = select((requested - 1).saturating_mul(per_page), per_page);
    let pages = total.div_ceil(per_page).max(1);
    let page = requested.min(pages);
    if page != requested {
        rows = select((page - 1) * per_page, per_page).0;
    }
    let mut pager = format!("<p class=\"pager\">{total} in all; page {page} of {pages}");
    if page > 1 {
        let _ = write!(
            pager,
            r#" <a href="/_emulator/?{}">newer</a>"#,
            esc(&query.with_page(list, page - 1))
        );
    }
    if page < pages {
        let _ = write!(
            pager,
            r#" <a href="/_emulator/?{}">older</a>"#,
            esc(&query.with_page(list, page + 1))
        );
    }
    pager.push_str("</p>");
    Listing { rows, pager }
}

/// The `take` entries after the first `skip` of those `keep` accepts, and how many it
/// accepts in all.
fn select<'a, T: Clone + 'a>(
    newest_first: impl Iterator<Item = &'a T>,
    keep: impl Fn(&T) -> bool,
    skip: usize,
    take: usize,
) -> (Vec<T>, usize) {
    let (mut rows, mut total) = (Vec::new(), 0usize);
    for item in newest_first.filter(|item| keep(item)) {
        if total >= skip && rows.len() < take {
            rows.push(item.clone());
        }
        total += 1;
    }
    (rows, total)
}

fn requests_section(out: &mut String, control: &Control, query: &PageQuery) {
    let keep = |r: &RequestRecord| {
        query.matches_run(r.run_id.as_deref()) && query.matches_key(r.idempotency_key.as_deref())
    };
    let Listing { rows: shown, pager } = listing(
        REQUESTS_PER_PAGE,
        query.requests_page,
        "requests_page",
        query,
        |skip, take| {
            select(
                lock(&control.core.log).requests.iter().rev(),
                keep,
                skip,
                take,
            )
        },
    );
    out.push_str("<section id=\"requests\"><h2>Requests</h2>");
    out.push_str(&pager);
    out.push_str(
        "<table><tr><th>time</th><th>operation</th><th>request</th><th>status</th>\
         <th>latency</th><th>Idempotency-Key</th><th>request id</th><th>fault</th></tr>",
    );
    for r in &shown {
        let status = if r.status == 0 {
            "dropped".to_owned()
        } else {
            r.status.to_string()
        };
        let _ = write!(
            out,
            "<tr class=\"request s{}\"><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td>\
             <td>{:.1} ms</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            r.status / 100,
            time(&r.at),
            r.operation,
            esc(&r.method),
            esc(&clip(&r.path, 120)),
            status,
            r.latency_ms,
            esc(&clip(r.idempotency_key.as_deref().unwrap_or(""), 80)),
            esc(&clip(r.request_id.as_deref().unwrap_or(""), 80)),
            r.fault.unwrap_or("")
        );
    }
    out.push_str("</table></section>\n");
}

fn runs_section(out: &mut String, control: &Control, query: &PageQuery) {
    let keep = |id: &uuid::Uuid, key: Option<&str>| {
        (query.run_id.is_empty() || id.to_string() == query.run_id) && query.matches_key(key)
    };
    let Listing { rows: shown, pager } = listing(
        RUNS_PER_PAGE,
        query.runs_page,
        "runs_page",
        query,
        |skip, take| control.core.runs_page(keep, skip, take),
    );
    out.push_str("<section id=\"runs\"><h2>Runs</h2>");
    out.push_str(&pager);
    out.push_str(
        "<table><tr><th>run</th><th>Kit</th><th>status over time</th>\
         <th>Idempotency-Key</th><th>workspace</th></tr>",
    );
    for run in &shown {
        let history: Vec<String> = run
            .history
            .iter()
            .map(|change| format!("{} {}", change.status, time(&change.at)))
            .collect();
        let _ = write!(
            out,
            "<tr class=\"run\"><td><a href=\"/_emulator/inspect/runs/{id}\">{id}</a></td>\
             <td>{}</td><td class=\"status-{}\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(&run.kit_code),
            run.status,
            esc(&history.join(" → ")),
            esc(&clip(run.idempotency_key.as_deref().unwrap_or(""), 80)),
            esc(&run.workspace_id),
            id = run.run_id,
        );
    }
    out.push_str("</table></section>\n");
}

fn deliveries_section(out: &mut String, control: &Control, query: &PageQuery) {
    let keep = |d: &DeliveryRecord| query.matches_run(Some(&d.run_id));
    let Listing { rows: shown, pager } = listing(
        DELIVERIES_PER_PAGE,
        query.deliveries_page,
        "deliveries_page",
        query,
        |skip, take| {
            select(
                lock(&control.core.log).deliveries.iter().rev(),
                keep,
                skip,
                take,
            )
        },
    );
    out.push_str("<section id=\"deliveries\"><h2>Webhook deliveries</h2>");
    out.push_str(&pager);
    out.push_str(
        "<table><tr><th>time</th><th>run</th><th>event</th><th>attempt</th><th>url</th>\
         <th>result</th><th>receiver</th><th>latency</th><th>next retry</th><th>headers</th></tr>",
    );
    for d in &shown {
        let mut headers = String::new();
        for (name, value) in &d.headers {
            let _ = write!(
                headers,
                "<div><b>{}</b>: {}</div>",
                esc(name),
                esc(&clip(value, 300))
            );
        }
        let _ = write!(
            out,
            "<tr class=\"delivery result-{result}\"><td title=\"{}\">{}</td><td>{}</td><td>{}{}</td><td>{}</td>\
             <td>{}</td><td>{result}</td><td>{}</td><td>{}</td><td title=\"{next}\">{}</td>\
             <td><details><summary>{} headers</summary>{headers}</details></td></tr>",
            esc(&d.at),
            short_time(&d.at),
            esc(&d.run_id),
            esc(&d.event_type),
            if d.duplicate { " (duplicate)" } else { "" },
            d.attempt,
            esc(&clip(&d.url, 120)),
            match (d.status, d.headers.is_empty()) {
                (Some(status), _) => status.to_string(),
                // Sent, and nothing came back (refused, reset, timed out).
                (None, false) => "no answer".to_owned(),
                // Never sent: an injected failure, no endpoint, or the record of a death.
                (None, true) => "not sent".to_owned(),
            },
            d.latency_ms
                .map(|ms| format!("{ms:.1} ms"))
                .unwrap_or_default(),
            short_time(d.next_retry_at.as_deref().unwrap_or("")),
            d.headers.len(),
            result = esc(&d.result),
            next = esc(d.next_retry_at.as_deref().unwrap_or("")),
        );
    }
    out.push_str("</table></section>\n");
}

/// `HH:MM:SS.mmm` (UTC).
fn time(at: &DateTime<Utc>) -> String {
    at.format("%H:%M:%S%.3f").to_string()
}

/// An RFC 3339 time as `HH:MM:SS.mmm` (UTC), or escaped as it is when it is not one.
fn short_time(text: &str) -> String {
    DateTime::parse_from_rfc3339(text)
        .map(|at| time(&at.with_timezone(&Utc)))
        .unwrap_or_else(|_| esc(text))
}

/// At most `max` characters, `…` marking a cut.
pub(super) fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// `text` escaped for HTML text and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

const HEAD: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Semarize emulator: inspector</title>
<style>
body{font:13px/1.4 system-ui,sans-serif;margin:0 1.5em 2em;color:#1d2330;background:#fafbfc}
h1{font-size:18px;margin:.8em 0 .3em}h2{font-size:15px;margin:1.2em 0 .3em}
table{border-collapse:collapse;width:100%;background:#fff}table.kv{width:auto}
th,td{border:1px solid #dde1e6;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#eef1f4;font-weight:600}
code{font:12px ui-monospace,monospace}
.filters{display:flex;gap:1em;align-items:center;flex-wrap:wrap;margin:.5em 0}
.controls button{margin:2px 4px 2px 0}
.s4 td:nth-child(4){color:#a15c00}.s5 td:nth-child(4),.s0 td:nth-child(4){color:#b3261e;font-weight:600}
.result-failed,.result-dead{background:#fdecea}.status-failed,.status-cancelled{color:#b3261e}
.status-succeeded{color:#1e7b34}.empty{color:#6b7380}.pager{margin:.2em 0}
details summary{cursor:pointer}
</style></head><body>
<h1>Semarize emulator</h1>
<p>What the emulator received and sent: requests, runs, webhook deliveries, armed faults
and settings. The same records as <code>/_emulator/inspect/*</code>.</p>
"#;

/// Live updates (the page fetches itself every two seconds and swaps its content unless
/// a headers list is open, a secret is shown or the box is unticked), the controls, and the reveal button.
/// Every request is same-origin JSON, which the control surface checks.
const SCRIPT: &str = r#"<script>
(function () {
  function send(method, path, body) {
    var init = {method: method, headers: {}};
    if (body) { init.headers['content-type'] = 'application/json'; init.body = body; }
    return fetch(path, init);
  }
  document.addEventListener('click', function (event) {
    var button = event.target.closest('button');
    if (!button) return;
    if (button.dataset.path) {
      send(button.dataset.method, button.dataset.path, button.dataset.body).then(function (r) {
        document.getElementById('control-result').textContent =
          button.textContent + ': ' + (r.ok ? 'done' : 'HTTP ' + r.status);
        refresh();
      });
    } else if (button.classList.contains('reveal')) {
      send('POST', '/_emulator/inspect/webhook-secret',
           JSON.stringify({workspace_id: button.dataset.workspace}))
        .then(function (r) { return r.json(); })
        .then(function (j) {
          var secret = button.previousElementSibling;
          secret.textContent = j.secret;
          secret.classList.add('reveal-shown');
          button.remove();
        });
    }
  });
  function refresh() {
    if (document.querySelector('details[open]') || document.querySelector('.reveal-shown')) return;
    fetch(location.href).then(function (r) { return r.text(); }).then(function (html) {
      var next = new DOMParser().parseFromString(html, 'text/html').getElementById('content');
      var result = document.getElementById('control-result').textContent;
      if (next) {
        document.getElementById('content').replaceWith(next);
        document.getElementById('control-result').textContent = result;
      }
    });
  }
  setInterval(function () { if (document.getElementById('live').checked) refresh(); }, 2000);
})();
</script>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_clipped() {
        assert_eq!(
            esc(r#"<script>"x"&'y'"#),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;"
        );
        assert_eq!(esc("a\u{7}b"), "a\u{FFFD}b");
        assert_eq!(clip("abcdef", 3), "abc…");
        assert_eq!(clip("abc", 3), "abc");
    }

    #[test]
    fn a_pager_link_keeps_the_filters_and_the_other_pages() {
        let query = PageQuery {
            run_id: "r 1".into(),
            runs_page: 3,
            ..PageQuery::default()
        };
        assert_eq!(
            query.with_page("requests_page", 2),
            "run_id=r+1&requests_page=2&runs_page=3"
        );
        assert_eq!(query.with_page("runs_page", 1), "run_id=r+1");
    }
}
