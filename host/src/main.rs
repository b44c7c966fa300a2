//! The `weft` binary: parses arguments and calls the library.

fn main() -> std::process::ExitCode {
    weft::cli::main()
}
