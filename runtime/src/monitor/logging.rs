//! Log set-up.

use tracing_subscriber::EnvFilter;

/// Installs the global `tracing` subscriber, once (later calls do nothing):
/// JSON lines when `LOG_FORMAT=json`, human-readable text otherwise; levels from
/// `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    // Err only when a subscriber is already installed, which is fine.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
