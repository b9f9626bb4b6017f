fn main() {
    std::process::exit(licmetric::cli::main());
}
