//! `apiforge validate FILE…`: every problem of every file on stderr (a located first line,
//! then the source line with a caret), and one summary line per valid file on stdout.

use std::process::ExitCode;
use std::time::Instant;

use crate::cli::ValidateArgs;
use crate::commands::shell;
use crate::spec::Spec;

/// Check each file; exit 2 when any has an error (or a warning, with `--deny-warnings`).
/// A valid file prints its warnings and `FILE: ok (…)` (the latter not with `-q`).
pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for file in &args.files {
        let started = Instant::now();
        match crate::spec::load(file) {
            Ok(loaded) => {
                shell::diagnostics(&loaded.warnings);
                if args.deny_warnings && !loaded.warnings.is_empty() {
                    failed = true;
                }
                shell::info(format!(
                    "{}: ok ({}; {} warning{})",
                    file.display(),
                    summary(&loaded.spec),
                    loaded.warnings.len(),
                    plural(loaded.warnings.len())
                ));
            }
            Err(report) => {
                shell::diagnostics(&report.diagnostics);
                failed = true;
            }
        }
        shell::verbose(format!(
            "checked {} in {:.1?}",
            file.display(),
            started.elapsed()
        ));
    }
    Ok(if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// `4 resources, 23 fields, 9 indexes`: what was checked (indexes as declared in the spec).
pub fn summary(spec: &Spec) -> String {
    let resources = spec.resources.len();
    let fields: usize = spec.resources.values().map(|r| r.fields.len()).sum();
    let indexes: usize = spec.resources.values().map(|r| r.indexes.len()).sum();
    format!(
        "{resources} resource{}, {fields} field{}, {indexes} index{}",
        plural(resources),
        plural(fields),
        if indexes == 1 { "" } else { "es" }
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_the_shop_example() {
        let spec: Spec =
            serde_yaml::from_str(include_str!("../../examples/shop.yaml")).expect("shop.yaml");
        // 22 fields; 6 + 2 + 1 declared indexes (products, orders, reviews).
        assert_eq!(summary(&spec), "4 resources, 22 fields, 9 indexes");
    }
}
