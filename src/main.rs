//! The `monban` binary: parse the command line, then hand over to the CLI.

fn main() -> std::process::ExitCode {
    monban::cli::main()
}
