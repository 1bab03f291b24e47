//! Typed HTTP access over `glue.js`: whole small files (size-capped), byte
//! ranges checked against the version they belong to, streams; transient
//! failures (network errors, stalls, 5xx, a wrong Content-Range) are retried
//! with backoff.

use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

use super::js;
use pairrm_web::error::{Error, Result};

/// Tries of one request before a load fails (waiting 0.5, 1, 2 s between).
pub const ATTEMPTS: u32 = 4;
const FIRST_BACKOFF_MS: f64 = 500.0;
/// A download that receives no byte for this long is abandoned (and retried).
pub const STALL_MS: u32 = 30_000;

/// One response: status, body, and what identifies the file's version.
pub struct Fetched {
    pub status: u16,
    pub bytes: Vec<u8>,
    pub etag: String,
    pub last_modified: String,
    /// The repository commit, where the server names one (Hugging Face does).
    pub revision: String,
    /// Size of the whole file (from Content-Range or the body).
    pub total: u64,
    /// True when the server answered a Range request with 206.
    pub ranged: bool,
    /// What the 206's Content-Range names (end exclusive), when it names it.
    pub range: Option<(u64, u64)>,
}

/// How a request is made.
#[derive(Clone)]
pub struct Options {
    /// Give up after this long (0: never), without retrying.
    pub timeout_ms: u32,
    /// The ETag the bytes must belong to (`If-Range`).
    pub if_range: String,
    /// Refuse a larger body (0: no limit).
    pub max_bytes: usize,
    /// Abandon a body that stalls this long (0: never).
    pub stall_ms: u32,
    /// The caller's `AbortSignal` (undefined: none): aborting ends the request
    /// with [`Error::Cancelled`], without retries.
    pub signal: JsValue,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            timeout_ms: 0,
            if_range: String::new(),
            max_bytes: 0,
            stall_ms: 0,
            signal: JsValue::UNDEFINED,
        }
    }
}

impl Options {
    fn aborted(&self) -> bool {
        js::aborted(&self.signal)
    }
}

fn io(url: &str, cause: String) -> Error {
    Error::Io {
        what: url.to_string(),
        cause,
    }
}

async fn request(url: &str, start: u64, end: u64, o: &Options) -> Result<Fetched> {
    let options = js::object(&[
        ("timeoutMs", f64::from(o.timeout_ms).into()),
        ("ifRange", o.if_range.as_str().into()),
        ("maxBytes", (o.max_bytes as f64).into()),
        ("stallMs", f64::from(o.stall_ms).into()),
        ("signal", o.signal.clone()),
    ]);
    if o.aborted() {
        return Err(Error::Cancelled);
    }
    let v = JsFuture::from(js::fetch_bytes(url, start as f64, end as f64, &options))
        .await
        .map_err(|e| {
            let m = js::message(&e);
            if o.aborted() {
                Error::Cancelled
            } else if m.contains("this file may have") {
                io(url, m) // too large: not a network error, and not retried
            } else {
                io(url, format!("network error: {m}"))
            }
        })?;
    let reply: Reply = serde_wasm_bindgen::from_value(v).map_err(|e| {
        io(
            url,
            format!("unexpected answer from glue.js fetchBytes: {e}"),
        )
    })?;
    let range = match (reply.range_start, reply.range_end) {
        (a, b) if a >= 0.0 && b >= 0.0 => Some((a as u64, b as u64)),
        _ => None,
    };
    Ok(Fetched {
        status: reply.status,
        bytes: reply.bytes.to_vec(),
        etag: reply.etag,
        last_modified: reply.last_modified,
        revision: reply.revision,
        total: reply.total as u64,
        ranged: reply.ranged,
        range,
    })
}

/// What `glue.js`'s `fetchBytes` resolves to (headers it lacked are `""`,
/// `rangeStart`/`rangeEnd` -1 without a usable `Content-Range`).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reply {
    status: u16,
    etag: String,
    last_modified: String,
    revision: String,
    #[serde(with = "serde_wasm_bindgen::preserve")]
    bytes: js_sys::Uint8Array,
    total: f64,
    ranged: bool,
    range_start: f64,
    range_end: f64,
}

/// Worth another try: the network, the server's load, a stall or a lie.
fn transient(e: &Error) -> bool {
    matches!(e, Error::Io { cause, .. } if cause.starts_with("network error")
        || cause.starts_with("HTTP 5")
        || cause.starts_with("HTTP 429")
        || cause.contains("Content-Range"))
}

/// `attempt` until it succeeds, is refused for good, or has had [`ATTEMPTS`] tries.
async fn with_retries<T, F, Fut>(mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut wait = FIRST_BACKOFF_MS;
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(e) if transient(&e) && tries < ATTEMPTS => {
                gloo_timers::future::TimeoutFuture::new(wait as u32).await;
                wait *= 2.0;
                tries += 1;
            }
            other => return other,
        }
    }
}

fn status_error(url: &str, status: u16) -> Error {
    io(url, format!("HTTP {status}"))
}

/// GET a whole small file with what identifies its version; `Ok(None)` for
/// 404. With `timeout_ms` (a cached copy is waiting) it is tried once.
pub async fn get_versioned(url: &str, o: &Options) -> Result<Option<Fetched>> {
    let once = || async {
        let f = request(url, 0, 0, o).await?;
        match f.status {
            200 => Ok(Some(f)),
            404 => Ok(None),
            s => Err(status_error(url, s)),
        }
    };
    if o.timeout_ms > 0 {
        once().await
    } else {
        with_retries(once).await
    }
}

/// What a Range request for one version of a file got.
pub enum Ranged {
    /// Exactly the bytes asked for, of that version.
    Bytes(Vec<u8>),
    /// The server ignores Range (it answered 200 for the same version).
    Ignored,
    /// The file on the server is no longer that version.
    Changed,
}

/// The version of a file a Range request must match.
#[derive(Clone, Default)]
pub struct Expected {
    /// Empty when the server gives none.
    pub etag: String,
    /// 0 when unknown.
    pub total: u64,
}

/// GET bytes `start..end` of the version `expected` of a file. A 206 must
/// name exactly that range of a file of that size and ETag, else it is a
/// changed file (size or ETag differ) or a wrong answer (retried).
pub async fn range(
    url: &str,
    start: u64,
    end: u64,
    expected: &Expected,
    options: &Options,
) -> Result<Ranged> {
    let o = Options {
        if_range: expected.etag.clone(),
        ..options.clone()
    };
    with_retries(|| async {
        let f = request(url, start, end, &o).await?;
        let other_etag = !expected.etag.is_empty() && !f.etag.is_empty() && f.etag != expected.etag;
        match f.status {
            206 => {}
            200 if other_etag => return Ok(Ranged::Changed),
            200 => return Ok(Ranged::Ignored),
            s => return Err(status_error(url, s)),
        }
        if other_etag || (expected.total != 0 && f.total != 0 && f.total != expected.total) {
            return Ok(Ranged::Changed);
        }
        if f.range != Some((start, end)) || f.bytes.len() as u64 != end - start {
            return Err(io(
                url,
                format!(
                    "asked for bytes {start}..{end}, the server's Content-Range says {:?} with {} bytes",
                    f.range,
                    f.bytes.len()
                ),
            ));
        }
        Ok(Ranged::Bytes(f.bytes))
    })
    .await
}

/// The start of a file by Range: its first `end` bytes, size, ETag, and
/// Last-Modified; `ranged` false when the server ignores Range.
pub async fn head(url: &str, end: u64, o: &Options) -> Result<Fetched> {
    with_retries(|| async {
        let f = request(url, 0, end, o).await?;
        match f.status {
            200 | 206 => Ok(f),
            s => Err(status_error(url, s)),
        }
    })
    .await
}

/// A plain GET read piece by piece, for servers without Range support.
pub struct Stream {
    reader: JsValue,
    url: String,
    options: Options,
}

impl Stream {
    pub async fn open(url: &str, options: &Options) -> Result<Self> {
        let reader = JsFuture::from(js::open_stream(url, &options.signal))
            .await
            .map_err(|e| io(url, format!("network error: {}", js::message(&e))))?;
        Ok(Self {
            reader,
            url: url.to_string(),
            options: options.clone(),
        })
    }

    /// The next piece, or `None` at the end.
    pub async fn next(&self) -> Result<Option<Vec<u8>>> {
        let v = JsFuture::from(js::read_stream(
            &self.reader,
            f64::from(self.options.stall_ms),
        ))
        .await
        .map_err(|e| {
            if self.options.aborted() {
                Error::Cancelled
            } else {
                io(&self.url, format!("network error: {}", js::message(&e)))
            }
        })?;
        Ok(if v.is_undefined() {
            None
        } else {
            Some(js_sys::Uint8Array::new(&v).to_vec())
        })
    }
}
