//! `apiforge completions SHELL`: a completion script on stdout (clap_complete).

use std::process::ExitCode;

use clap_complete::{Shell as Target, generate};

use crate::cli::{CompletionsArgs, Shell};

pub fn run(args: CompletionsArgs, command: &mut clap::Command) -> anyhow::Result<ExitCode> {
    let mut out = Vec::new();
    write_script(args.shell, command, &mut out);
    use std::io::Write;
    std::io::stdout().write_all(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// The completion script of `command` for `shell`.
pub fn write_script(shell: Shell, command: &mut clap::Command, out: &mut impl std::io::Write) {
    let target = match shell {
        Shell::Bash => Target::Bash,
        Shell::Zsh => Target::Zsh,
        Shell::Fish => Target::Fish,
    };
    let name = command.get_name().to_string();
    generate(target, command, name, out);
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::cli::Cli;

    #[test]
    fn every_shell_gets_a_script_naming_the_subcommands() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut out = Vec::new();
            write_script(shell, &mut Cli::command(), &mut out);
            let script = String::from_utf8(out).expect("utf-8 script");
            assert!(!script.is_empty(), "{shell:?}");
            for sub in [
                "new",
                "generate",
                "validate",
                "plan",
                "budget",
                "explain",
                "completions",
            ] {
                assert!(script.contains(sub), "{shell:?} script lacks `{sub}`");
            }
            // bash and zsh spell flags `--manifest`, fish `-l manifest`.
            assert!(script.contains("manifest"), "{shell:?}: flags complete too");
        }
    }
}
