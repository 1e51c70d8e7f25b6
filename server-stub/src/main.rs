fn main() {
    // Before anything can create a file: users.db, audit.log, data.db and its WAL are 0600.
    twofactor_server::resources::private_files();
    std::process::exit(twofactor_server::cli::main());
}
