//! Process and connection-pool gauges, sampled by a background task.
//!
//! Process (Linux `/proc/self`; elsewhere these are simply not reported):
//! `process_resident_memory_bytes`, `process_virtual_memory_bytes`,
//! `process_threads`, `process_open_fds`; and `process_cpu_seconds_total` (user + system),
//! a counter read at each scrape by [`cpu_seconds_text`] (a `metrics` counter holds only
//! whole numbers, a gauge would be the wrong type).
//! Pool: `apiforge_db_pool_connections` (open), `apiforge_db_pool_idle_connections`,
//! `apiforge_db_pool_max_connections`. sqlx does not expose the number of waiters.
//! Heap statistics are not reported (they depend on the allocator).

use std::time::Duration;

use tokio::task::JoinHandle;

/// One reading of the process's resources.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcessSample {
    /// Resident set size.
    pub resident_bytes: u64,
    /// Virtual memory size.
    pub virtual_bytes: u64,
    /// User + system CPU time since start.
    pub cpu_seconds: f64,
    /// Threads.
    pub threads: u64,
}

/// Reads `/proc/self/stat` and `/proc/self/statm`; `None` where they don't exist.
pub fn sample_process() -> Option<ProcessSample> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    // The command name (field 2) may hold spaces: count fields after its closing paren.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // fields[0] is field 3 (state): utime = field 14, stime = 15, num_threads = 20.
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    let ticks = rustix::param::clock_ticks_per_second() as f64;
    let page = rustix::param::page_size() as u64;
    let mut statm = statm.split_whitespace().map(|v| v.parse::<u64>().ok());
    let virtual_pages = statm.next()??;
    let resident_pages = statm.next()??;
    Some(ProcessSample {
        resident_bytes: resident_pages * page,
        virtual_bytes: virtual_pages * page,
        cpu_seconds: (field(14)? + field(15)?) as f64 / ticks,
        threads: field(20)?,
    })
}

/// `process_cpu_seconds_total` as Prometheus text (HELP, TYPE counter, the value in
/// fractional seconds), read now; empty where `/proc` does not exist. Appended to the
/// metrics page at each scrape.
pub fn cpu_seconds_text() -> String {
    match sample_process() {
        Some(s) => format!(
            "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n\
             # TYPE process_cpu_seconds_total counter\n\
             process_cpu_seconds_total {}\n",
            s.cpu_seconds
        ),
        None => String::new(),
    }
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
    if let Some(s) = sample_process() {
        metrics::gauge!("process_resident_memory_bytes").set(s.resident_bytes as f64);
        metrics::gauge!("process_virtual_memory_bytes").set(s.virtual_bytes as f64);
        metrics::gauge!("process_threads").set(s.threads as f64);
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        metrics::gauge!("process_open_fds").set(fds.count() as f64);
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
        assert!(
            lines
                .next()
                .unwrap()
                .starts_with("# HELP process_cpu_seconds_total ")
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
        assert!(page.contains("# TYPE process_threads gauge\n"), "{page}");
    }
}
