//! `kontakt`: see `kontakt --help`.

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    kontakt::cli::run(kontakt::cli::Cli::parse())
}
