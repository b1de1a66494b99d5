//! What the `tracing` feature reports for a transfer: the connection span
//! with its fields, the lifecycle events, and one `utp::packet` event per
//! packet sent or received, with its fields. (That nothing is done without
//! a subscriber shows in `alloc.rs`: these tests build the core with the
//! feature, and it counts no allocation per packet.)
//!
//! One test only: tracing caches per call site whether anyone listens, and
//! a scoped subscriber on one test thread races with others.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod common;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{pattern, transfer, Pair};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use utp_core::wire::PacketType;

/// An event as recorded: its target, its fields (as text), and the fields
/// of the span it happened in.
#[derive(Debug, Clone)]
struct Seen {
    target: String,
    fields: BTreeMap<String, String>,
    span: BTreeMap<String, String>,
}

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

struct SpanFields(BTreeMap<String, String>);

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Seen>>>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields.0));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let span = ctx
            .event_span(event)
            .and_then(|s| s.extensions().get::<SpanFields>().map(|f| f.0.clone()))
            .unwrap_or_default();
        self.0.lock().unwrap().push(Seen {
            target: event.metadata().target().to_string(),
            fields: fields.0,
            span,
        });
    }
}

#[test]
fn a_transfer_is_reported_packet_by_packet() {
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    let mut p = Pair::default_pair();
    let data = pattern(20_000, 3);
    let (ha, hb) = tracing::subscriber::with_default(subscriber, || {
        let (ha, hb) = p.connect();
        assert_eq!(
            transfer(&mut p, ha, hb, &data, Duration::from_secs(10)),
            data
        );
        p.b.conn(hb).unwrap().shutdown();
        p.run_until(p.now + Duration::from_secs(2));
        (ha, hb)
    });
    let seen = recorder.0.lock().unwrap().clone();

    // One `utp::packet` event per datagram on the wire, each way: A's tx
    // are B's rx.
    let packets: Vec<&Seen> = seen.iter().filter(|e| e.target == "utp::packet").collect();
    let tx = packets.iter().filter(|e| e.fields["dir"] == "tx").count();
    let rx = packets.iter().filter(|e| e.fields["dir"] == "rx").count();
    let kinds: Vec<String> = packets
        .iter()
        .filter(|e| e.fields["dir"] == "tx")
        .map(|e| e.fields["kind"].clone())
        .collect();
    let wire: Vec<String> = p
        .log
        .iter()
        .map(|w| format!("{:?}", w.ty()).to_lowercase())
        .collect();
    assert_eq!(kinds, wire, "the kinds, in order");
    assert_eq!(tx, p.log.len(), "every datagram sent");
    // Every datagram is received (no loss), but the last acknowledgement
    // may reach a connection the endpoint has forgotten already.
    assert!(
        rx == p.log.len() || rx + 1 == p.log.len(),
        "{rx} received of {}",
        p.log.len()
    );
    // The fields of the first packet: A's SYN, seen leaving A.
    let syn = packets[0];
    let first = p.log[0].packet();
    assert_eq!(first.packet_type, PacketType::Syn);
    assert_eq!(syn.fields["dir"], "tx");
    assert_eq!(syn.fields["kind"], "syn");
    assert_eq!(syn.fields["seq"], first.seq_nr.get().to_string());
    assert_eq!(syn.fields["len"], "0");
    for key in ["t_us", "ack", "cwnd", "in_flight", "rtt_us", "delay_us"] {
        assert!(syn.fields.contains_key(key), "{key}");
    }
    // In A's span: its receive id and its peer.
    assert_eq!(syn.span["local_id"], first.connection_id.to_string());
    assert_eq!(syn.span["peer"], "10.0.0.2:2000");
    let data_bytes: usize = packets
        .iter()
        .filter(|e| e.fields["dir"] == "tx" && e.fields["kind"] == "data")
        .map(|e| e.fields["len"].parse::<usize>().unwrap())
        .sum();
    assert_eq!(data_bytes, data.len(), "no loss: each byte sent once");

    // The lifecycle, once per side.
    let conn: Vec<&str> = seen
        .iter()
        .filter(|e| e.target == "utp::conn")
        .map(|e| e.fields["message"].as_str())
        .collect();
    let count = |m: &str| conn.iter().filter(|&&c| c == m).count();
    assert_eq!(count("handshake complete"), 1, "{conn:?}");
    assert_eq!(
        count("handshake complete: the initiator proved its address"),
        1
    );
    assert_eq!(count("the peer finished sending"), 2);
    let closed: Vec<&Seen> = seen
        .iter()
        .filter(|e| e.target == "utp::conn" && e.fields["message"] == "closed")
        .collect();
    assert_eq!(closed.len(), 2, "{conn:?}");
    assert!(closed
        .iter()
        .all(|e| e.fields["reason"] == "connection finished"));
    let _ = (ha, hb);
}
