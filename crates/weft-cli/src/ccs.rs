//! `weft ccs ...`: the CCS tool on the command line (issue 5; under construction).

use std::process::ExitCode;

use clap::Args;

/// Arguments of `weft ccs`.
#[derive(Debug, Clone, Args)]
pub struct CcsArgs {
    /// The rest of the command line.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub rest: Vec<String>,
}

/// Runs `weft ccs ...`.
pub fn run(_args: &CcsArgs) -> ExitCode {
    eprintln!("error: `weft ccs` is not built yet");
    ExitCode::from(2)
}
