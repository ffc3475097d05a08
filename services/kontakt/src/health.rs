//! `kontakt health URL`: asks a service's `grpc.health.v1` whether it is SERVING and exits 0 only
//! if so. For scripts, CI's image check, and exec probes where native gRPC probes are missing
//! (the image has no shell and no grpcurl).

use std::time::Duration;

use clap::Args;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// The service's URL, e.g. `http://127.0.0.1:50051`.
    pub url: String,
    /// The health service to ask: "" (the default) is SERVING while the database answers and
    /// the schema is current; `liveness` is SERVING while the process runs.
    #[arg(long, default_value = "")]
    pub service: String,
    /// Ask again until SERVING or this much time has passed (e.g. `60s`); `0s` asks once.
    #[arg(long, default_value = "0s", value_parser = kontakt_platform::duration::parse)]
    pub wait: Duration,
}

pub async fn run(args: HealthArgs) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + args.wait;
    let channel = crate::client::channel(&args.url)?;
    let mut client = HealthClient::new(channel);
    loop {
        let request = HealthCheckRequest {
            service: args.service.clone(),
        };
        let answer = tokio::time::timeout(Duration::from_secs(5), client.check(request)).await;
        let status = match answer {
            Ok(Ok(response)) => describe(response.into_inner().status),
            Ok(Err(status)) => format!("{:?}: {}", status.code(), status.message()),
            Err(_) => "no answer within 5s".to_owned(),
        };
        if status == "SERVING" {
            println!("{} SERVING", args.url);
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("{} is not serving: {status}", args.url);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn describe(status: i32) -> String {
    ServingStatus::try_from(status)
        .map(|s| s.as_str_name().to_owned())
        .unwrap_or_else(|_| format!("unknown status {status}"))
}
