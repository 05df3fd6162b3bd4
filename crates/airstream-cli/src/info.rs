//! `airstream info`: one device's capabilities and what airstream would do with it (the audio
//! route and the play_url route, or why there is none). A device given by `--address` is
//! asked first: an address nobody answers on is an error, not a list of assumptions.

use crate::report::{DeviceReport, RouteReport, row};
use crate::target::TargetArgs;
use airstream_proto::rtsp::{self, Request, Version};
use bytes::BytesMut;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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
    // Discovery heard the device just now; an --address has to be asked, or `info` would
    // describe a receiver that may not exist.
    let answer = if target.discovered {
        None
    } else {
        Some(probe(target.addr).await?)
    };
    let report = DeviceReport::new(&target.device);
    let mut stdout = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut stdout, &report)?;
        writeln!(stdout)?;
        return Ok(());
    }
    let [
        name,
        id,
        model,
        address,
        protocols,
        // The audio route line below names the protocol and its timing.
        _stream,
        codecs,
        encryption,
        password,
        pairing,
    ] = row(&target.device);
    writeln!(stdout, "{name}")?;
    if target.discovered {
        writeln!(stdout, "  id:            {id}")?;
        writeln!(stdout, "  model:         {model}")?;
    }
    writeln!(stdout, "  address:       {address}")?;
    if let Some(answer) = answer {
        writeln!(stdout, "  answers:       {answer}")?;
        writeln!(
            stdout,
            "  capabilities:  assumed (given by --address, not discovered)"
        )?;
    }
    writeln!(stdout, "  protocols:     {protocols}")?;
    writeln!(stdout, "  codecs:        {codecs}")?;
    writeln!(stdout, "  encryption:    {encryption}")?;
    writeln!(stdout, "  password:      {password}")?;
    writeln!(stdout, "  pairing:       {pairing}")?;
    match &report.audio_route {
        RouteReport::Ok(route) => writeln!(stdout, "  stream audio:  {route}")?,
        RouteReport::Unsupported(why) => writeln!(stdout, "  stream audio:  not possible, {why}")?,
    }
    match &report.play_url_route {
        RouteReport::Ok(route) => writeln!(stdout, "  play URLs:     {route}")?,
        RouteReport::Unsupported(why) => writeln!(stdout, "  play URLs:     not possible, {why}")?,
    }
    for warning in &target.capabilities().warnings {
        writeln!(stdout, "  warning:       {warning}")?;
    }
    Ok(())
}

/// How long the device may take to accept the connection and to answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Asks the device `OPTIONS *` over RTSP (every RAOP and AirPlay receiver answers it) and
/// says what it answered: `RTSP 200 OK`, with the methods it lists.
async fn probe(addr: SocketAddr) -> Result<String, airstream::Error> {
    let timeout = |what: &str| {
        airstream::Error::Timeout(format!(
            "{addr} did not {what} within {} s",
            PROBE_TIMEOUT.as_secs()
        ))
    };
    let mut stream = tokio::time::timeout(PROBE_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| timeout("accept the connection"))?
        .map_err(|source| airstream::Error::Network {
            context: format!("cannot connect to {addr}"),
            source,
        })?;
    let request = Request::new("OPTIONS", "*", Version::Rtsp10).with_header("CSeq", "1");
    let lost = |source| airstream::Error::Network {
        context: format!("{addr} closed the connection"),
        source,
    };
    let exchange = async {
        stream.write_all(&request.to_bytes()).await.map_err(lost)?;
        let mut buf = BytesMut::with_capacity(1024);
        loop {
            match rtsp::parse_response(&mut buf) {
                Ok(Some(response)) => return Ok(response),
                Ok(None) => {}
                Err(e) => {
                    return Err(airstream::Error::BadMessage {
                        device: addr.to_string(),
                        detail: e.to_string(),
                    });
                }
            }
            if stream.read_buf(&mut buf).await.map_err(lost)? == 0 {
                return Err(airstream::Error::ConnectionLost(format!(
                    "{addr} closed the connection without answering OPTIONS"
                )));
            }
        }
    };
    let response = tokio::time::timeout(PROBE_TIMEOUT, exchange)
        .await
        .map_err(|_| timeout("answer OPTIONS"))??;
    let answer = format!("RTSP {} {}", response.status, response.reason);
    Ok(match response.headers.get("Public") {
        Some(methods) => format!("{answer} (methods: {})", methods.trim()),
        None => answer,
    })
}
