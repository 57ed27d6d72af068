use std::process::ExitCode;

// mimalloc: fewer cycles per allocation than glibc's malloc under many
// threads, and memory returned to the system rather than kept per arena.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    teamtailor_scim::telemetry::init();
    teamtailor_scim::cli::run().await
}
