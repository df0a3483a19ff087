//! Log set-up, and OpenTelemetry span export behind the `otel` feature.

use std::io::IsTerminal;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

/// Installs the global `tracing` subscriber, once (later calls do nothing):
/// JSON lines when `LOG_FORMAT=json`, human-readable text otherwise (coloured only on a
/// terminal, and not with `NO_COLOR` set); levels from `RUST_LOG` (default `info`):
/// `warn`, or `info,sqlx=warn,shop=debug` (a default level and `target=level` pairs).
///
/// With the `otel` cargo feature and `OTEL_EXPORTER_OTLP_ENDPOINT` set (e.g.
/// `http://127.0.0.1:4318`), spans are also exported over OTLP/HTTP (service name from
/// `OTEL_SERVICE_NAME`); call [`shutdown_tracing`] before exiting to flush them.
pub fn init_tracing() {
    let filter = filter(std::env::var("RUST_LOG").ok().as_deref());
    let json = std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let output = if json {
        fmt::layer().json().boxed()
    } else {
        // Escape codes only on a terminal: not in files, journald or container logs.
        let ansi = std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        fmt::layer().with_ansi(ansi).boxed()
    };
    let registry = tracing_subscriber::registry().with(filter).with(output);
    #[cfg(feature = "otel")]
    let registry = registry.with(otel::layer());
    // Err only when a subscriber is already installed, which is fine.
    let _ = registry.try_init();
}

/// The levels of `RUST_LOG`: `tracing_subscriber`'s [`Targets`] syntax, EnvFilter's without
/// span and field filters (`[span{field}]`), which need a regex engine: with `env-filter`
/// regex-automata and regex-syntax were 13 s of a generated project's 260 s cold build.
/// A value it cannot read is said on stderr and `info` applies.
fn filter(rust_log: Option<&str>) -> Targets {
    let default = || Targets::new().with_default(LevelFilter::INFO);
    match rust_log.map(str::trim) {
        None | Some("") => default(),
        Some(value) => value.parse().unwrap_or_else(|why| {
            eprintln!(
                "RUST_LOG={value:?} is not `level` or `target=level,…` ({why}): logging at info"
            );
            default()
        }),
    }
}

/// Flushes and stops the OpenTelemetry exporter, if one was started (a no-op otherwise).
pub fn shutdown_tracing() {
    #[cfg(feature = "otel")]
    otel::shutdown();
}

#[cfg(feature = "otel")]
mod otel {
    use std::sync::OnceLock;

    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;

    static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

    /// The OTLP export layer, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
    pub(super) fn layer<S>()
    -> Option<tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>>
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT")?;
        let exporter = match opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
        {
            Ok(exporter) => exporter,
            Err(e) => {
                eprintln!("apiforge: OpenTelemetry export disabled: {e}");
                return None;
            }
        };
        let provider = PROVIDER.get_or_init(|| {
            SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(opentelemetry_sdk::Resource::builder().build())
                .build()
        });
        Some(tracing_opentelemetry::layer().with_tracer(provider.tracer("apiforge")))
    }

    pub(super) fn shutdown() {
        if let Some(provider) = PROVIDER.get()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("apiforge: OpenTelemetry shutdown: {e}");
        }
    }
}

/// At most this many bytes of a logged value; a longer one is cut, with its full size noted.
pub const LOG_VALUE_MAX: usize = 512;

/// `value`'s text, safe to log when it may hold what a client sent (database errors quote
/// the offending value): control characters are escaped, so a value cannot forge log
/// lines or send terminal escapes, and the text is cut to [`LOG_VALUE_MAX`] bytes, so a
/// 20 KB cursor does not become a 20 KB log line.
///
/// ```
/// use apiforge_runtime::monitor::log_safe;
///
/// assert_eq!(log_safe(&"a\nb\u{1b}[31m"), "a\\nb\\u{1b}[31m");
/// let long = "x".repeat(20_000);
/// assert!(log_safe(&long).ends_with("… (20000 bytes in all)"));
/// assert!(log_safe(&long).len() < 600);
/// ```
pub fn log_safe(value: &dyn std::fmt::Display) -> String {
    use std::fmt::Write;
    let text = value.to_string();
    let mut out = String::with_capacity(text.len().min(LOG_VALUE_MAX) + 32);
    for c in text.chars() {
        if out.len() >= LOG_VALUE_MAX {
            let _ = write!(out, "… ({} bytes in all)", text.len());
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use tracing::Level;

    use super::filter;

    #[test]
    fn rust_log_sets_a_default_and_per_target_levels() {
        let f = filter(Some("warn,sqlx=error,shop=debug"));
        assert!(f.would_enable("tower", &Level::WARN));
        assert!(!f.would_enable("tower", &Level::INFO));
        assert!(!f.would_enable("sqlx::query", &Level::WARN));
        assert!(f.would_enable("shop::hooks", &Level::DEBUG));
        assert!(filter(None).would_enable("shop", &Level::INFO));
        assert!(!filter(Some("  ")).would_enable("shop", &Level::DEBUG));
        // Unreadable: `info`, not silence.
        let bad = filter(Some("shop=loud"));
        assert!(bad.would_enable("shop", &Level::INFO) && !bad.would_enable("shop", &Level::DEBUG));
    }
}
