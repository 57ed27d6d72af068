use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    teamtailor_scim::telemetry::init();
    teamtailor_scim::cli::run().await
}
