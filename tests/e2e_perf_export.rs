//! Performance e2e, streaming export (item 7): `GET /products/export` as NDJSON and as a
//! JSON array holds every row, and a 1,000,000-row export is streamed from one cursor with
//! back-pressure: the server's resident memory stays flat while the client is slow.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::perf::shared_binary;
use common::{Server, TestDb};
use serde_json::Value;

const SHOP: &str = "examples/shop.yaml";
const MIB: u64 = 1024 * 1024;

fn start(db: &TestDb) -> Server {
    Server::start_with(&shared_binary(SHOP), &db.url, &[("REDIS_URL", "")])
}

fn seed(db: &TestDb, rows: u64) {
    db.psql(&format!(
        "INSERT INTO products (name, category, price, sales) \
         SELECT 'Product ' || g, 'cat' || (g % 50), (g % 1000) + 0.5, g % 997 \
         FROM generate_series(1, {rows}) g"
    ));
}

#[test]
fn export_ndjson_and_json_hold_every_row() {
    let db = TestDb::create();
    let server = start(&db);
    seed(&db, 1500);
    let ids: Vec<i64> = db
        .psql("SELECT id FROM products ORDER BY id")
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();

    let ndjson = server.get("/products/export");
    assert_eq!(ndjson.status, 200);
    assert_eq!(ndjson.header("content-type"), Some("application/x-ndjson"));
    let lines: Vec<Value> = ndjson
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let got: Vec<i64> = lines.iter().map(|l| l["id"].as_i64().unwrap()).collect();
    assert_eq!(got, ids, "every row once, in key order");
    assert!(
        lines
            .iter()
            .all(|l| l["name"].is_string() && l["price"].is_string())
    );

    let array = server.get("/products/export?format=json");
    assert_eq!(array.header("content-type"), Some("application/json"));
    let array = array.json();
    let got: Vec<i64> = array
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|l| l["id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, ids);
    assert_eq!(array[0], lines[0], "same rows in both formats");
}

/// Reads `n` bytes (or to the end) from `stream` in 64 KiB reads; returns the bytes read
/// and the number of newlines among them.
fn read_counting(stream: &mut TcpStream, n: u64) -> (u64, u64) {
    let mut buf = vec![0u8; 64 * 1024];
    let (mut read, mut lines) = (0u64, 0u64);
    while read < n {
        let got = stream.read(&mut buf).expect("read the export");
        if got == 0 {
            break;
        }
        read += got as u64;
        lines += buf[..got].iter().filter(|&&b| b == b'\n').count() as u64;
    }
    (read, lines)
}

#[test]
fn a_million_row_export_streams_in_flat_memory() {
    const ROWS: u64 = 1_000_000;
    let db = TestDb::create();
    let server = start(&db);
    seed(&db, ROWS);
    // Warm the server up (pool, statement cache) before the baseline.
    assert_eq!(server.get("/products?limit=200").status, 200);
    let rss_before = server.proc_status_bytes("VmRSS");

    // HTTP/1.0: the body is close-delimited, so every newline is a row.
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream
        .write_all(b"GET /products/export HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("the response head");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );

    // A slow client: read 1 MiB, then stop reading. Without back-pressure the server would
    // go on reading the cursor into memory (hundreds of MiB for a million rows).
    let (mut bytes, mut lines) = read_counting(&mut stream, MIB);
    std::thread::sleep(Duration::from_secs(3));
    let rss_paused = server.proc_status_bytes("VmRSS");

    let start = Instant::now();
    let (rest_bytes, rest_lines) = read_counting(&mut stream, u64::MAX);
    let elapsed = start.elapsed();
    bytes += rest_bytes;
    lines += rest_lines;
    let rss_after = server.proc_status_bytes("VmRSS");
    let hwm = server.proc_status_bytes("VmHWM");

    assert_eq!(lines, ROWS, "one NDJSON line per row");
    let growth_paused = rss_paused.saturating_sub(rss_before);
    let growth_peak = hwm.saturating_sub(rss_before);
    eprintln!(
        "export of {ROWS} rows: {:.1} MiB in {:.2} s after the pause = {:.0} rows/s; \
         RSS before {:.1} MiB, paused +{:.1} MiB, after +{:.1} MiB, peak (VmHWM) +{:.1} MiB",
        bytes as f64 / MIB as f64,
        elapsed.as_secs_f64(),
        (ROWS - lines.min(ROWS) + rest_lines) as f64 / elapsed.as_secs_f64(),
        rss_before as f64 / MIB as f64,
        growth_paused as f64 / MIB as f64,
        rss_after.saturating_sub(rss_before) as f64 / MIB as f64,
        growth_peak as f64 / MIB as f64,
    );
    assert!(
        growth_paused < 50 * MIB,
        "RSS grew {} MiB while the client was not reading",
        growth_paused / MIB
    );
    assert!(
        growth_peak < 50 * MIB,
        "peak RSS grew {} MiB during the export",
        growth_peak / MIB
    );
}
