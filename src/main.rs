use clap::Parser;

fn main() {
    // Die quietly on a closed pipe (`netlab up --dry-run x.toml | head`), like other Unix tools.
    // SAFETY: resetting a signal disposition to its default before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = netlab::cli::Cli::parse();
    std::process::exit(netlab::app::run(cli));
}
