//! `apiforge validate FILE…`.

use std::process::ExitCode;

use crate::cli::ValidateArgs;

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
    Ok(if failed { ExitCode::from(2) } else { ExitCode::SUCCESS })
}
