//! The dashboard's chart of the last 24 h, one bar pair per hour: the calls started in that
//! hour (from the call records, one query: `Store::calls_per_hour`) and the extensions
//! registered (the most seen in that hour). Registrations have no history in the store, so
//! the daemon samples the registered count every [`EVERY`] into a fixed ring of 24 h of
//! samples in memory ([`Samples`], a `heapless::HistoryBuf`): lost at a restart, which the
//! chart shows as hours without a registration bar. The current hour also counts the figure
//! of the moment the page is rendered.
//!
//! Drawn on the server as inline SVG (elements and classes only: the CSP allows no inline
//! style), once per page load.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use heapless::HistoryBuf;
use maud::{html, Markup};

use crate::store::Store;

/// How often the daemon samples the registered count.
pub const EVERY: Duration = Duration::from_secs(300);
/// 24 h of samples, one every [`EVERY`].
const CAPACITY: usize = 24 * 12;
pub const HOURS: usize = 24;

/// The registered count over time: (Unix seconds, extensions registered).
#[derive(Clone, Default)]
pub struct Samples(Arc<Mutex<HistoryBuf<(i64, u32), CAPACITY>>>);

impl Samples {
    pub fn record(&self, at: i64, registered: u32) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).write((at, registered));
    }

    /// Oldest first.
    pub fn all(&self) -> Vec<(i64, u32)> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).oldest_ordered().copied().collect()
    }
}

/// Samples the registered count now and every [`EVERY`], until cancelled.
pub async fn sample(store: Store, samples: Samples, cancel: tokio_util::sync::CancellationToken) {
    let mut every = tokio::time::interval(EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = every.tick() => {}
        }
        let now = crate::store::unix_now();
        let counted = store
            .call(move |s| {
                let rows = super::dashboard::extension_rows(&s.export_site()?, &s.bindings(now)?);
                Ok(rows.iter().filter(|x| x.registered).count())
            })
            .await;
        match counted {
            Ok(n) => samples.record(now, u32::try_from(n).unwrap_or(u32::MAX)),
            Err(e) => tracing::warn!(error = %e, "cannot sample the registered phones"),
        }
    }
}

/// One hour of the chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hour {
    /// Unix seconds, on the hour.
    pub start: i64,
    pub calls: u32,
    /// The most extensions registered in a sample of that hour; `None` without a sample.
    pub registered: Option<u32>,
}

/// The last [`HOURS`] hours, oldest first, the last one the hour of `now`.
pub fn hours(now: i64, calls: &[(i64, u32)], samples: &[(i64, u32)], registered_now: u32) -> Vec<Hour> {
    let current = now - now.rem_euclid(3600);
    (0..HOURS as i64)
        .rev()
        .map(|back| {
            let start = current - back * 3600;
            let in_hour = |at: i64| at >= start && at < start + 3600;
            let calls = calls.iter().filter(|(h, _)| in_hour(*h)).map(|(_, n)| n).sum();
            let mut registered = samples.iter().filter(|(at, _)| in_hour(*at)).map(|(_, n)| *n).max();
            if back == 0 {
                registered = Some(registered.map_or(registered_now, |r| r.max(registered_now)));
            }
            Hour { start, calls, registered }
        })
        .collect()
}

/// Since when the chart's calls are counted.
pub fn since(now: i64) -> i64 {
    now - now.rem_euclid(3600) - (HOURS as i64 - 1) * 3600
}

const BAR: i64 = 8;
const SLOT: i64 = 20;
const HEIGHT: i64 = 100;

/// The chart as SVG: per hour a `g.hour` with `data-hour` (`HH` UTC), `data-calls` and
/// `data-registered` (empty without a sample), a calls bar and a registrations bar scaled to
/// the largest figure, and a `title` for the tooltip; hour labels every 6 h.
pub fn svg(hours: &[Hour]) -> Markup {
    let top = hours.iter().map(|h| h.calls.max(h.registered.unwrap_or(0))).max().unwrap_or(0).max(1);
    let scale = |n: u32| i64::from(n) * HEIGHT / i64::from(top);
    let label = |start: i64| {
        jiff::Timestamp::from_second(start).map_or_else(|_| String::new(), |t| t.strftime("%H").to_string())
    };
    let width = SLOT * hours.len() as i64;
    html! {
        svg #chart-svg viewBox=(format!("0 0 {width} {}", HEIGHT + 16)) role="img"
            aria-label="Calls and registered extensions per hour, last 24 hours" {
            line.axis x1="0" y1=(HEIGHT) x2=(width) y2=(HEIGHT) {}
            @for (i, h) in hours.iter().enumerate() {
                @let x = i as i64 * SLOT;
                @let reg = h.registered.map(|r| r.to_string()).unwrap_or_default();
                g.hour data-hour=(label(h.start)) data-calls=(h.calls) data-registered=(reg) {
                    title { (format!("{}:00 UTC: {} calls, {} registered", label(h.start), h.calls,
                        if reg.is_empty() { "?" } else { reg.as_str() })) }
                    rect.calls x=(x + 2) y=(HEIGHT - scale(h.calls)) width=(BAR) height=(scale(h.calls)) {}
                    @if let Some(r) = h.registered {
                        rect.registered x=(x + 2 + BAR) y=(HEIGHT - scale(r)) width=(BAR) height=(scale(r)) {}
                    }
                    @if i % 6 == 0 || i + 1 == hours.len() {
                        text x=(x + 2) y=(HEIGHT + 13) { (label(h.start)) }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000; // 22:13:20 UTC; the hour began at 1_699_999_200

    #[test]
    fn hours_end_with_the_current_one_and_count_calls_and_the_most_registered() {
        let current = 1_699_999_200;
        let calls = [(current - 23 * 3600, 1), (current - 24 * 3600, 9), (current - 3600, 2), (current, 3)];
        let samples = [(current - 3600 + 60, 4), (current - 3600 + 900, 6), (current + 10, 1)];
        let h = hours(NOW, &calls, &samples, 2);
        assert_eq!(h.len(), 24);
        assert_eq!(h[23], Hour { start: current, calls: 3, registered: Some(2) }, "now counts");
        assert_eq!(h[22], Hour { start: current - 3600, calls: 2, registered: Some(6) });
        assert_eq!(h[0], Hour { start: current - 23 * 3600, calls: 1, registered: None }, "24 h ago is out");
        assert_eq!(h.iter().map(|x| x.calls).sum::<u32>(), 6);
        assert_eq!(since(NOW), current - 23 * 3600);
    }

    #[test]
    fn samples_keep_the_last_24_hours() {
        let s = Samples::default();
        for i in 0..300 {
            s.record(i, u32::try_from(i).unwrap_or(0));
        }
        let all = s.all();
        assert_eq!(all.len(), CAPACITY);
        assert_eq!(all.first(), Some(&(12, 12)));
        assert_eq!(all.last(), Some(&(299, 299)));
    }

    #[test]
    fn the_svg_carries_each_hours_figures_and_scales_to_the_largest() {
        let h = hours(NOW, &[(1_699_999_200, 4)], &[], 2);
        let out = svg(&h).into_string();
        assert!(out.contains(r#"data-hour="22" data-calls="4" data-registered="2""#), "{out}");
        assert!(out.contains(r#"data-hour="21" data-calls="0" data-registered="""#), "{out}");
        assert!(out.contains(r#"<rect class="calls" x="462" y="0" width="8" height="100">"#), "{out}");
        assert!(out.contains(r#"<rect class="registered" x="470" y="50" width="8" height="50">"#), "{out}");
        assert!(!out.contains("style"), "no inline style");
    }
}
