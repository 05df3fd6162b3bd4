//! `airstream stream a.flac b.mp3 c.ogg`: several inputs as one gapless stream (an
//! [`airstream_audio::Queue`]), in order or shuffled, once or repeated.

use crate::ipc::TrackAt;
use airstream_audio::{
    Metadata, PcmFormat, PcmSource, Queue, QueueItem, QueueTimeline, RawFormat, Source,
};
use std::sync::Arc;
use std::time::Duration;

/// Audio decoded ahead of what is sent: the next item is opened while this much of the
/// current one is still buffered.
pub(crate) const PREFETCH: Duration = Duration::from_secs(5);

/// How the inputs are played (`stream --repeat --shuffle`).
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub(crate) struct Order {
    /// Play the inputs again and again, until stopped.
    #[arg(long)]
    pub(crate) repeat: bool,
    /// Play the inputs in random order (a new order each round with --repeat).
    #[arg(long)]
    pub(crate) shuffle: bool,
}

/// Checks what cannot work before anything is opened: stdin twice, or stdin repeated.
pub(crate) fn check(inputs: &[String], order: Order) -> Result<(), airstream::Error> {
    let stdin = inputs.iter().filter(|i| *i == "-").count();
    if stdin > 1 {
        return Err(airstream::Error::InvalidInput(
            "`-` (stdin) can be given only once: it can be read only once".into(),
        ));
    }
    if stdin == 1 && order.repeat {
        return Err(airstream::Error::InvalidInput(
            "--repeat cannot play `-` (stdin) again: give files or URLs".into(),
        ));
    }
    Ok(())
}

/// The order of the inputs' indices, round after round (one round without `repeat`).
pub(crate) fn rounds(count: usize, order: Order) -> impl Iterator<Item = usize> + Send {
    let mut rng = fastrand::Rng::new();
    let rounds = if order.repeat { usize::MAX } else { 1 };
    (0..rounds).flat_map(move |_| {
        let mut round: Vec<usize> = (0..count).collect();
        if order.shuffle {
            rng.shuffle(&mut round);
        }
        round
    })
}

/// Opens the queue (off the async threads: the first item is opened before it returns).
/// `tags` replace each item's own where set (`--title` and the like).
pub(crate) async fn open(
    inputs: Vec<String>,
    raw: Option<RawFormat>,
    tags: Metadata,
    order: Order,
) -> anyhow::Result<(Box<dyn PcmSource>, QueueTimeline)> {
    check(&inputs, order)?;
    let items = rounds(inputs.len(), order).map(move |i| {
        let mut source = Source::from_arg(&inputs[i]);
        if let Some(format) = raw {
            source = source.raw(format);
        }
        QueueItem::source(source).with_tags(tags.clone())
    });
    let queue = tokio::task::spawn_blocking(move || Queue::new(PcmFormat::RAOP, items, PREFETCH))
        .await
        .map_err(|e| airstream::Error::internal("the queue could not be opened", e))?
        .map_err(airstream::Error::from)?;
    let timeline = queue.timeline();
    Ok((Box::new(queue), timeline))
}

/// Which track plays at a frame, for `status`.
pub(crate) fn track_at(timeline: QueueTimeline) -> TrackAt {
    Arc::new(move |frame| {
        timeline.track_at(frame).map_or_else(
            || (0, 0, Metadata::default()),
            |t| {
                let mut tags = t.metadata;
                tags.artwork = None;
                (t.index, t.start_frame, tags)
            },
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_is_read_once_and_never_repeated() {
        let inputs = |list: &[&str]| list.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
        assert!(check(&inputs(&["a.flac", "-", "b.mp3"]), Order::default()).is_ok());
        assert!(check(&inputs(&["-", "-"]), Order::default()).is_err());
        let repeat = Order {
            repeat: true,
            shuffle: false,
        };
        assert!(check(&inputs(&["a.flac", "-"]), repeat).is_err());
        assert!(check(&inputs(&["a.flac"]), repeat).is_ok());
    }

    #[test]
    fn rounds_play_each_input_once_per_round() {
        assert_eq!(
            rounds(3, Order::default()).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        let order = Order {
            repeat: true,
            shuffle: true,
        };
        let played: Vec<usize> = rounds(4, order).take(12).collect();
        for round in played.chunks(4) {
            let mut sorted = round.to_vec();
            sorted.sort_unstable();
            assert_eq!(sorted, vec![0, 1, 2, 3], "{played:?}");
        }
    }
}
