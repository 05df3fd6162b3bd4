//! `airstream info`: one device's capabilities and what airstream would do with it (the audio
//! route and the play_url route, or why there is none).

use crate::report::{DeviceReport, RouteReport, row};
use crate::target::TargetArgs;
use std::io::Write;

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    target: TargetArgs,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let target = args.target.resolve(None).await?;
    let report = DeviceReport::new(&target.device);
    let mut stdout = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut stdout, &report)?;
        writeln!(stdout)?;
        return Ok(());
    }
    let [
        name,
        model,
        address,
        protocols,
        codecs,
        encryption,
        password,
        pairing,
    ] = row(&target.device);
    writeln!(stdout, "{name}")?;
    writeln!(stdout, "  model:       {model}")?;
    writeln!(stdout, "  address:     {address}")?;
    writeln!(stdout, "  protocols:   {protocols}")?;
    writeln!(stdout, "  codecs:      {codecs}")?;
    writeln!(stdout, "  encryption:  {encryption}")?;
    writeln!(stdout, "  password:    {password}")?;
    writeln!(stdout, "  pairing:     {pairing}")?;
    match &report.audio_route {
        RouteReport::Ok(route) => writeln!(
            stdout,
            "  audio:       RAOP, {:?}, encryption {:?}{}",
            route.codec,
            route.encryption,
            if route.auth_setup { ", auth-setup" } else { "" }
        )?,
        RouteReport::Unsupported(why) => writeln!(stdout, "  audio:       unsupported, {why}")?,
    }
    match &report.play_url_route {
        RouteReport::Ok(route) => writeln!(stdout, "  play_url:    {route:?}")?,
        RouteReport::Unsupported(why) => writeln!(stdout, "  play_url:    unsupported, {why}")?,
    }
    for warning in &target.capabilities().warnings {
        writeln!(stdout, "  warning:     {warning}")?;
    }
    Ok(())
}
