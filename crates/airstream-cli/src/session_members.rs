//! The session's `add` and `remove` commands, and its `receiver` events: each receiver's
//! state (`connecting`, `streaming`, `paused`, `ended`, `dropped`, `removed`, `finished`)
//! as it changes, with its volume and counters.

use crate::ipc::{Control, Member, Status};
use crate::session::{emit, error_event, kind_name};
use crate::stream::{self, CodecArg};
use crate::target::TargetArgs;
use airstream::discovery::ServiceKind;
use airstream_proto::route::Protocol;
use serde_json::{Value, json};
use std::net::SocketAddr;

/// How a receiver added to the session is set up (as those given at the start).
pub(crate) struct JoinSettings {
    pub(crate) codec: Option<CodecArg>,
    pub(crate) password: Option<String>,
    pub(crate) volume: Option<u8>,
}

/// The target an `add` names: `HOST:PORT` directly, anything else found with mDNS.
fn target_args(receiver: &str) -> TargetArgs {
    let direct = receiver.parse::<SocketAddr>().is_ok();
    TargetArgs {
        device: if direct {
            Vec::new()
        } else {
            vec![receiver.to_string()]
        },
        address: if direct {
            vec![receiver.to_string()]
        } else {
            Vec::new()
        },
        discovery_timeout: 5.0,
    }
}

fn failed(command: &str, error: &anyhow::Error) {
    let kind = error
        .chain()
        .find_map(|e| e.downcast_ref::<airstream::Error>())
        .map_or_else(|| "internal".to_string(), |e| kind_name(e.kind()));
    emit(&error_event(
        &kind,
        &crate::failure::message(error),
        None,
        Some(command),
    ));
}

/// `add`: finds the receiver and joins it to the running stream (on a task: the session
/// goes on meanwhile). Its `receiver` events tell how it goes; a failure is an `error`.
pub(crate) fn add(control: &Control, settings: &JoinSettings, receiver: Option<&Value>) {
    let Some(name) = receiver.and_then(Value::as_str).map(str::to_string) else {
        emit(&error_event(
            "input",
            "add needs a receiver: a name, id or address found with mDNS, or HOST:PORT",
            None,
            Some("add"),
        ));
        return;
    };
    let control = control.clone();
    let (codec, password, volume) = (settings.codec, settings.password.clone(), settings.volume);
    tokio::spawn(async move {
        let joined = async {
            let target = target_args(&name).resolve(Some(ServiceKind::Raop)).await?;
            // AirPlay 1 only: the library refuses AirPlay 2 joiners (its PTP master's
            // followers are fixed at the start).
            let forced = (Some(Protocol::AirPlay1), None);
            let route = stream::route(&target, codec, false, forced)?;
            let settings = stream::ReceiverSettings {
                volume,
                password,
                legacy: None,
                hap: None,
            };
            let receiver = stream::receiver_for(&target, &route, &settings)?;
            control.handle.add_receiver(receiver).await?;
            control.add_member(Member::of(&target), volume);
            anyhow::Ok(())
        };
        if let Err(e) = joined.await {
            failed("add", &e);
        }
    });
}

/// `remove`: takes the receiver at `address` out of the stream (TEARDOWN to it alone).
pub(crate) fn remove(control: &Control, address: SocketAddr, asked: Option<Value>) {
    let handle = control.handle.clone();
    tokio::spawn(async move {
        match handle.remove_receiver(address).await {
            Ok(()) => emit(&json!({"event": "removed", "receiver": asked})),
            Err(e) => failed("remove", &e.into()),
        }
    });
}

/// A `receiver` event for each receiver whose state changed since `last`.
pub(crate) fn receiver_events(status: &Status, last: &mut Vec<String>) {
    for receiver in &status.receivers {
        let index = receiver.index;
        if last.get(index) == Some(&receiver.state) {
            continue;
        }
        let message = match receiver.state.as_str() {
            "ended" => Some(format!(
                "{} ended its session while paused (its idle timeout); it rejoins on resume",
                receiver.member.label
            )),
            "dropped" => Some(format!(
                "{} dropped out: {}",
                receiver.member.label,
                receiver.failure.as_deref().unwrap_or("it failed")
            )),
            _ => None,
        };
        emit(&json!({
            "event": "receiver",
            "index": index,
            "label": receiver.member.label,
            "address": receiver.member.address,
            "state": receiver.state,
            "volume": receiver.volume,
            "packets_sent": receiver.packets_sent,
            "resent": receiver.resent,
            "message": message,
        }));
        if last.len() <= index {
            last.resize(index + 1, String::new());
        }
        last[index].clone_from(&receiver.state);
    }
}
