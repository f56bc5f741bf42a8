fn main() {
    std::process::exit(wc_command::run());
}
