//! Typed HTTP access over `glue.js`: whole files, byte ranges, streams.

use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

use super::js;
use crate::error::{Error, Result};

/// One response: status, body, and what identifies the file's version.
pub struct Fetched {
    pub status: u16,
    pub bytes: Vec<u8>,
    pub etag: String,
    /// The repository commit, where the server names one (Hugging Face does).
    pub revision: String,
    /// Size of the whole file (from Content-Range or the body).
    pub total: u64,
    /// True when the server answered a Range request with 206.
    pub ranged: bool,
}

fn io(url: &str, e: &JsValue) -> Error {
    Error::Io {
        what: url.to_string(),
        cause: format!("network error: {}", js::message(e)),
    }
}

async fn request(url: &str, start: u64, end: u64, timeout_ms: u32) -> Result<Fetched> {
    let v = JsFuture::from(js::fetch_bytes(
        url,
        start as f64,
        end as f64,
        timeout_ms as f64,
    ))
    .await
    .map_err(|e| io(url, &e))?;
    let bytes = js::get(&v, "bytes");
    Ok(Fetched {
        status: js::get(&v, "status").as_f64().unwrap_or(0.0) as u16,
        bytes: js_sys::Uint8Array::new(&bytes).to_vec(),
        etag: js::get(&v, "etag").as_string().unwrap_or_default(),
        revision: js::get(&v, "revision").as_string().unwrap_or_default(),
        total: js::get(&v, "total").as_f64().unwrap_or(0.0) as u64,
        ranged: js::get(&v, "ranged").as_bool().unwrap_or(false),
    })
}

/// GET a whole file; `Ok(None)` for 404.
pub async fn get(url: &str) -> Result<Option<Vec<u8>>> {
    Ok(get_versioned(url, 0).await?.map(|f| f.bytes))
}

/// GET a whole file with what identifies its version, giving up after
/// `timeout_ms` when that is not 0; `Ok(None)` for 404.
pub async fn get_versioned(url: &str, timeout_ms: u32) -> Result<Option<Fetched>> {
    let f = request(url, 0, 0, timeout_ms).await?;
    match f.status {
        200 => Ok(Some(f)),
        404 => Ok(None),
        s => Err(Error::Io {
            what: url.to_string(),
            cause: format!("HTTP {s}"),
        }),
    }
}

/// GET bytes `start..end` of a file. `ranged` is false when the server
/// ignored the Range header (then `bytes` is empty and the caller streams).
pub async fn range(url: &str, start: u64, end: u64) -> Result<Fetched> {
    let f = request(url, start, end, 0).await?;
    if f.status != 200 && f.status != 206 {
        return Err(Error::Io {
            what: url.to_string(),
            cause: format!("HTTP {}", f.status),
        });
    }
    if f.ranged && f.bytes.len() as u64 != end - start {
        return Err(Error::Io {
            what: url.to_string(),
            cause: format!(
                "asked for {} bytes at {start}, got {}",
                end - start,
                f.bytes.len()
            ),
        });
    }
    Ok(f)
}

/// A plain GET read piece by piece, for servers without Range support.
pub struct Stream {
    reader: JsValue,
    url: String,
}

impl Stream {
    pub async fn open(url: &str) -> Result<Self> {
        let reader = JsFuture::from(js::open_stream(url))
            .await
            .map_err(|e| io(url, &e))?;
        Ok(Self {
            reader,
            url: url.to_string(),
        })
    }

    /// The next piece, or `None` at the end.
    pub async fn next(&self) -> Result<Option<Vec<u8>>> {
        let v = JsFuture::from(js::read_stream(&self.reader))
            .await
            .map_err(|e| io(&self.url, &e))?;
        Ok(if v.is_undefined() {
            None
        } else {
            Some(js_sys::Uint8Array::new(&v).to_vec())
        })
    }
}
