fn main() {
    std::process::exit(twofactor_server::cli::main());
}
