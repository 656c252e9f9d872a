//! `licet-seat-demo`: the `seat` example (`examples/seat.rs`) built as a binary, so that
//! the end-to-end test can run it against a real server (`CARGO_BIN_EXE_licet-seat-demo`;
//! Cargo gives tests no such path for examples). See the example for its commands.

#[path = "../../examples/seat.rs"]
mod seat;

fn main() -> std::process::ExitCode {
    seat::main()
}
