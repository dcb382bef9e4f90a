use clap::{CommandFactory, Parser};

fn main() {
    // Die quietly on a closed pipe (`netlab up --dry-run x.toml | head`), like other Unix tools.
    // SAFETY: resetting a signal disposition to its default before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // `COMPLETE=bash netlab` prints the shell's registration script, and the shell calls back
    // with COMPLETE set to complete a command line with live names (labs, nodes, networks).
    clap_complete::CompleteEnv::with_factory(netlab::cli::Cli::command).complete();
    let cli = netlab::cli::Cli::parse();
    std::process::exit(netlab::app::run(cli));
}
