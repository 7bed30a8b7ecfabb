use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::ServeError;

/// The latest Prometheus text, shared between the supervisor (writer) and the responder thread.
pub(crate) type MetricsText = Arc<Mutex<String>>;

/// Answer every HTTP request on `addr` with the current metrics text: a deliberately tiny responder
/// (one blocking thread, one request per connection), since scrapes come a few times a minute.
pub(crate) fn spawn_responder(addr: SocketAddr, text: MetricsText) -> Result<SocketAddr, ServeError> {
    let listener = TcpListener::bind(addr).map_err(|source| ServeError::Metrics { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| ServeError::Metrics { addr, source })?;
    thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                // A slow or broken scraper only loses its own response.
                let _ = respond(stream, &text);
            }
        })
        .map_err(ServeError::io("starting the metrics thread"))?;
    Ok(local)
}

fn respond(mut stream: TcpStream, text: &MetricsText) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut request = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 8192 {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&chunk[..n]);
    }
    let body = text.lock().map(|t| t.clone()).unwrap_or_default();
    let (status, body) = if request.starts_with(b"GET /metrics ") || request.starts_with(b"GET / ") {
        ("200 OK", body)
    } else {
        ("404 Not Found", "try GET /metrics\n".to_string())
    };
    write!(
        stream,
        "HTTP/1.0 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}
