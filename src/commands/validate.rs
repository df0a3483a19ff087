//! `apiforge validate FILE…`: every problem of every file on stderr, one located line each.

use std::process::ExitCode;

use crate::cli::ValidateArgs;

/// Check each file; exit 2 when any has an error (or a warning, with `--deny-warnings`).
/// Valid files print nothing but their warnings.
pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for file in &args.files {
        match crate::spec::load(file) {
            Ok(loaded) => {
                for w in &loaded.warnings {
                    eprintln!("{w}");
                }
                if args.deny_warnings && !loaded.warnings.is_empty() {
                    failed = true;
                }
            }
            Err(report) => {
                eprint!("{report}");
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
