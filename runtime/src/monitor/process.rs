//! Process and connection-pool metrics, sampled by a background task.
//!
//! Process (read by the [`metrics_process`] crate: Linux, macOS, Windows, FreeBSD,
//! OpenBSD; a value the platform does not give is simply not reported), with the standard
//! Prometheus names: the gauges `process_resident_memory_bytes`,
//! `process_virtual_memory_bytes`, `process_threads`, `process_open_fds`,
//! `process_max_fds` (0: unlimited) and `process_start_time_seconds`, sampled by
//! [`record_once`]; and the counter `process_cpu_seconds_total` (user + system), read at
//! each scrape by [`cpu_seconds_text`].
//! Pool: `apiforge_db_pool_connections` (open), `apiforge_db_pool_idle_connections`,
//! `apiforge_db_pool_max_connections`. sqlx does not expose the number of waiters.
//! Heap statistics are not reported (they depend on the allocator).
//!
//! `metrics_process::Collector` (which records everything through the `metrics` macros)
//! is not used, only its snapshot [`metrics_process::collector::collect`]: the Collector
//! records the CPU time with `Counter::absolute(seconds as u64)`, since a `metrics` counter
//! (and so the Prometheus recorder's) holds whole numbers only, which truncates it to whole
//! seconds (a `rate()` over a minute of a lightly loaded server reads 0 or 1/60), and its
//! `use-gauge-on-cpu-seconds-total` feature makes it a gauge (the wrong type for a
//! `_total`). So the counter is rendered here, with its fractions, in the exposition text.

use std::time::Duration;

use tokio::task::JoinHandle;

use super::recorder::FAMILIES;

/// `process_cpu_seconds_total` as Prometheus text (HELP, TYPE counter, the value in
/// fractional seconds), read now; empty where the platform does not give it. Appended to
/// the metrics page at each scrape.
pub fn cpu_seconds_text() -> String {
    const NAME: &str = "process_cpu_seconds_total";
    let Some(seconds) = metrics_process::collector::collect().cpu_seconds_total else {
        return String::new();
    };
    let help = FAMILIES
        .iter()
        .find(|(name, ..)| *name == NAME)
        .map_or("", |(.., help)| help);
    format!("# HELP {NAME} {help}\n# TYPE {NAME} counter\n{NAME} {seconds}\n")
}

/// Samples the process (and `pool`, if given) every `interval` into the gauges above,
/// starting now. Abort the returned handle to stop.
pub fn spawn_resource_sampler(interval: Duration, pool: Option<sqlx::PgPool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            record_once(pool.as_ref());
        }
    })
}

/// Records one sample of the process and `pool` into the gauges.
pub fn record_once(pool: Option<&sqlx::PgPool>) {
    let p = metrics_process::collector::collect();
    let gauges = [
        ("process_resident_memory_bytes", p.resident_memory_bytes),
        ("process_virtual_memory_bytes", p.virtual_memory_bytes),
        ("process_threads", p.threads),
        ("process_open_fds", p.open_fds),
        ("process_max_fds", p.max_fds),
        ("process_start_time_seconds", p.start_time_seconds),
    ];
    for (name, value) in gauges {
        if let Some(value) = value {
            metrics::gauge!(name).set(value as f64);
        }
    }
    if let Some(pool) = pool {
        metrics::gauge!("apiforge_db_pool_connections").set(f64::from(pool.size()));
        metrics::gauge!("apiforge_db_pool_idle_connections").set(pool.num_idle() as f64);
        metrics::gauge!("apiforge_db_pool_max_connections")
            .set(f64::from(pool.options().get_max_connections()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn cpu_seconds_is_a_counter_with_fractions() {
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_millis(30) {
            std::hint::black_box(0u64.wrapping_add(1));
        }
        let text = cpu_seconds_text();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some(
                "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds."
            )
        );
        assert_eq!(
            lines.next(),
            Some("# TYPE process_cpu_seconds_total counter")
        );
        let value: f64 = lines
            .next()
            .unwrap()
            .strip_prefix("process_cpu_seconds_total ")
            .unwrap()
            .parse()
            .unwrap();
        assert!(value > 0.0, "{text}");
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || record_once(None));
        let page = handle.render();
        assert!(!page.contains("process_cpu_seconds_total"), "{page}");
        for gauge in [
            "process_resident_memory_bytes",
            "process_virtual_memory_bytes",
            "process_threads",
            "process_open_fds",
            "process_max_fds",
            "process_start_time_seconds",
        ] {
            assert!(page.contains(&format!("# TYPE {gauge} gauge\n")), "{page}");
        }
    }
}
