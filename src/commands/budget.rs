//! `apiforge budget`: exit 0 when every budgeted route is within budget and error-free,
//! 1 when any is over budget or errors, 2 on bad input (spec, arguments, unreachable URL).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::budget::{self, Options, client::Http, report};
use crate::cli::BudgetArgs;
use crate::commands::new::load_spec;
use crate::commands::shell;
use crate::spec::Duration;

pub fn run(args: BudgetArgs) -> anyhow::Result<ExitCode> {
    let path = args.spec.unwrap_or_else(|| PathBuf::from("apiforge.yaml"));
    let spec = match load_spec(&path) {
        Ok((spec, _)) => spec,
        Err(code) => return Ok(code),
    };
    let duration: Duration = args
        .duration
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--duration: {e}"))?;
    if duration.0.is_zero() {
        bail!("--duration must be more than zero");
    }
    if args.concurrency == 0 || args.concurrency > 1024 {
        bail!("--concurrency must be between 1 and 1024");
    }
    if spec.resources.values().all(|r| r.budgets.is_empty()) {
        bail!(
            "{} declares no budgets: add `budgets:` to a resource (see docs/budget.md)",
            path.display()
        );
    }
    let http =
        Http::new(&args.url)?.with_credentials(args.token.as_deref(), args.api_key.as_deref())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let routes: usize = spec
        .resources
        .values()
        .map(|r| r.budgets.iter().count())
        .sum();
    let results = rt.block_on(async {
        http.check_reachable().await?;
        println!(
            "loading {routes} budgeted routes of {}: {duration} each, {} requests in flight",
            http.base(),
            args.concurrency
        );
        let opts = Options {
            duration: duration.0,
            concurrency: args.concurrency,
        };
        // A full run takes routes × duration: a bar on a terminal, a status line per route
        // elsewhere (CI logs), nothing with -q.
        let bar = shell::progress(routes as u64, "routes");
        let results = budget::run(&spec, &http, opts, |i, route| {
            bar.set_position(i as u64);
            bar.set_message(route.to_string());
            if bar.is_hidden() {
                shell::status("Loading", route);
            }
        })
        .await;
        bar.finish_and_clear();
        anyhow::Ok(results)
    })?;
    print!("{}", report::render(&results));
    let failed = results.iter().filter(|r| !r.passed()).count();
    if failed == 0 {
        println!("all {} budgeted routes within budget", results.len());
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{failed} of {} budgeted routes failed", results.len());
        Ok(ExitCode::from(1))
    }
}
