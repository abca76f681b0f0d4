//! Prometheus metrics (OpenMetrics text at `GET /metrics`): requests by
//! endpoint and status, decisions by outcome and rule, refusals by rule,
//! cosigns, and request latency.

use std::sync::Mutex;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::server::Outcome;

type Labels = Vec<(String, String)>;

pub(crate) struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<Labels, Counter>,
    decisions: Family<Labels, Counter>,
    refusals: Family<Labels, Counter>,
    cosigns: Counter,
    latency: Family<Labels, Histogram>,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 8 s.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.0005, 2.0, 15,
    ))
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let requests = Family::<Labels, Counter>::default();
        let decisions = Family::<Labels, Counter>::default();
        let refusals = Family::<Labels, Counter>::default();
        let cosigns = Counter::default();
        let latency = Family::<Labels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let mut registry = Registry::with_prefix("kinko_cosignd");
        registry.register(
            "requests",
            "Requests by endpoint and HTTP status",
            requests.clone(),
        );
        registry.register(
            "decisions",
            "Decisions recorded, by outcome and denial rule",
            decisions.clone(),
        );
        registry.register("refusals", "Requests refused, by rule", refusals.clone());
        registry.register("cosigns", "Transactions cosigned", cosigns.clone());
        registry.register(
            "request_duration_seconds",
            "Request latency by endpoint",
            latency.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            requests,
            decisions,
            refusals,
            cosigns,
            latency,
        }
    }

    pub(crate) fn observe(
        &self,
        endpoint: &str,
        status: u16,
        secs: f64,
        rule: Option<&str>,
        outcome: Option<&Outcome>,
    ) {
        let ep = ("endpoint".to_owned(), endpoint.to_owned());
        self.requests
            .get_or_create(&vec![ep.clone(), ("status".into(), status.to_string())])
            .inc();
        self.latency.get_or_create(&vec![ep]).observe(secs);
        if let Some(r) = rule {
            self.refusals
                .get_or_create(&vec![("rule".into(), r.to_owned())])
                .inc();
        }
        match outcome {
            Some(Outcome("cosigned", _)) => {
                self.cosigns.inc();
            }
            Some(Outcome(o, rule)) => {
                self.decisions
                    .get_or_create(&vec![
                        ("outcome".into(), (*o).to_owned()),
                        ("rule".into(), rule.clone().unwrap_or_default()),
                    ])
                    .inc();
            }
            None => {}
        }
    }

    pub(crate) fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut s = String::new();
        let reg = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        encode(&mut s, &reg)?;
        Ok(s)
    }
}
