//! Counters and gauges for Prometheus (`GET /metrics`), in its text exposition format.
//!
//! Deliberately tiny: a map from (name, labels) to a value behind one mutex. Hot paths (RTP)
//! keep their own atomics and are read at scrape time instead of counting here.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

type Key = (&'static str, Vec<(&'static str, String)>);

#[derive(Clone, Default)]
pub struct Metrics {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    help: BTreeMap<&'static str, (Kind, &'static str)>,
    values: BTreeMap<Key, f64>,
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Declares a metric so that it shows (at 0) before anything happened.
    pub fn describe(&self, name: &'static str, kind: Kind, help: &'static str) {
        let mut inner = self.lock();
        inner.help.insert(name, (kind, help));
        inner.values.entry((name, Vec::new())).or_insert(0.0);
    }

    pub fn inc(&self, name: &'static str, labels: &[(&'static str, &str)]) {
        self.add(name, labels, 1.0);
    }

    pub fn add(&self, name: &'static str, labels: &[(&'static str, &str)], by: f64) {
        let key = (name, labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect());
        *self.lock().values.entry(key).or_insert(0.0) += by;
    }

    pub fn set(&self, name: &'static str, labels: &[(&'static str, &str)], value: f64) {
        let key = (name, labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect());
        self.lock().values.insert(key, value);
    }

    /// The sum of a metric over all its labels; `None` when nothing ever set or described it
    /// (its service does not run on this box).
    pub fn total(&self, name: &str) -> Option<f64> {
        let inner = self.lock();
        let mut values = inner.values.iter().filter(|((n, _), _)| *n == name).map(|(_, v)| *v).peekable();
        values.peek()?;
        Some(values.sum())
    }

    /// The values of a metric by the value of one of its labels (unlabelled samples left out).
    pub fn by_label(&self, name: &str, label: &str) -> Vec<(String, f64)> {
        let inner = self.lock();
        let labelled = inner.values.iter().filter(|((n, _), _)| *n == name);
        labelled
            .filter_map(|((_, labels), v)| labels.iter().find(|(k, _)| *k == label).map(|(_, l)| (l.clone(), *v)))
            .collect()
    }

    pub fn render(&self) -> String {
        let inner = self.lock();
        let mut out = String::new();
        let mut last = "";
        // A labelled series makes the unlabelled placeholder from `describe` redundant.
        let labelled: std::collections::BTreeSet<&str> =
            inner.values.keys().filter(|(_, l)| !l.is_empty()).map(|(n, _)| *n).collect();
        for ((name, labels), value) in &inner.values {
            if labels.is_empty() && labelled.contains(name) {
                continue;
            }
            if *name != last {
                if let Some((kind, help)) = inner.help.get(name) {
                    let kind = if *kind == Kind::Counter { "counter" } else { "gauge" };
                    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
                }
                last = name;
            }
            let _ = write!(out, "{name}");
            if !labels.is_empty() {
                let parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
                let _ = write!(out, "{{{}}}", parts.join(","));
            }
            let _ = writeln!(out, " {value}");
        }
        out
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::new();
        m.describe("outpost_logins_total", Kind::Counter, "API logins by result.");
        m.describe("outpost_site_revision", Kind::Gauge, "Revision of the site config.");
        m.inc("outpost_logins_total", &[("result", "ok")]);
        m.inc("outpost_logins_total", &[("result", "ok")]);
        m.inc("outpost_logins_total", &[("result", "fail\"ed")]);
        m.set("outpost_site_revision", &[], 4.0);
        let text = m.render();
        assert!(text.contains("# TYPE outpost_logins_total counter\n"), "{text}");
        assert!(text.contains("outpost_logins_total{result=\"ok\"} 2\n"), "{text}");
        assert!(text.contains("outpost_logins_total{result=\"fail\\\"ed\"} 1\n"), "{text}");
        assert!(!text.contains("outpost_logins_total 0"), "placeholder hidden once labelled: {text}");
        assert!(text.contains("outpost_site_revision 4\n"), "{text}");
    }
}
