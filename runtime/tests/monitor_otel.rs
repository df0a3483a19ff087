//! With the `otel` feature, `init_tracing` exports spans over OTLP/HTTP
//! (`cargo test -p apiforge-runtime --features otel --test monitor_otel`).
#![cfg(feature = "otel")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use apiforge_runtime::monitor;

/// Accepts HTTP requests, answers 200 and reports (request line, body) of each.
fn collector() -> (String, mpsc::Receiver<(String, Vec<u8>)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = line.split_once(':')
                    && k.eq_ignore_ascii_case("content-length")
                {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .unwrap();
            let _ = tx.send((request_line.trim().to_owned(), body));
        }
    });
    (endpoint, rx)
}

#[test]
fn spans_are_exported_over_otlp_http() {
    let (endpoint, received) = collector();
    // SAFETY: set before any other thread of this test binary reads the environment.
    unsafe {
        std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint);
        std::env::set_var("OTEL_SERVICE_NAME", "apiforge-otel-test");
    }
    monitor::init_tracing();
    tracing::info_span!("load_products_page").in_scope(|| {
        tracing::info!(rows = 3, "loaded");
    });
    monitor::shutdown_tracing();

    let (request_line, body) = received
        .recv_timeout(Duration::from_secs(10))
        .expect("the collector received an export");
    assert!(
        request_line.starts_with("POST /v1/traces "),
        "{request_line}"
    );
    let contains = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    assert!(
        contains(b"load_products_page"),
        "the span is in the protobuf payload"
    );
    assert!(
        contains(b"apiforge-otel-test"),
        "the service name is in the resource"
    );
}
