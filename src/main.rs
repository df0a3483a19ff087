use std::process::ExitCode;

fn main() -> ExitCode {
    apiforge::cli::run()
}
