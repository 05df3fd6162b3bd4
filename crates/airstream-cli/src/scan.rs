//! `airstream scan`: list the AirPlay devices on the network and what each can do.

use crate::report::{DeviceReport, table};
use crate::target::seconds;
use airstream::discovery;
use std::io::Write;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// How long to listen for answers, in seconds (more than 0, at most 3600).
    // The name every command uses; `--timeout`, its old name, still works unlisted.
    #[arg(
        long = "discovery-timeout",
        alias = "timeout",
        value_name = "SECONDS",
        default_value_t = 3.0
    )]
    timeout: f64,
    /// Print a JSON array (devices, parsed capabilities, chosen routes) instead of a table.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let timeout = seconds("--discovery-timeout", args.timeout)?;
    let devices = discovery::scan(timeout).await?;
    let mut stdout = std::io::stdout().lock();
    if args.json {
        let reports: Vec<DeviceReport<'_>> = devices.iter().map(DeviceReport::new).collect();
        serde_json::to_writer_pretty(&mut stdout, &reports)?;
        writeln!(stdout)?;
    } else if devices.is_empty() {
        crate::failure::note(&format!(
            "no AirPlay device answered within {:.1} s",
            timeout.as_secs_f64()
        ));
    } else {
        stdout.write_all(table(&devices).as_bytes())?;
    }
    Ok(())
}
