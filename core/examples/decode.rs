//! Decode uTP packets given as hex, one per argument or one per line of
//! standard input, and print their fields.
//!
//! ```sh
//! cargo run -p utp-core --example decode -- 410045671603353f000000000010000023c60000
//! ```

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::io::BufRead;

use utp_core::wire::{classify, DatagramKind, Packet, PacketRepr};

fn decode(line: &str) -> Result<String, String> {
    let hex: String = line.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    if hex.len() % 2 != 0 {
        return Err("odd number of hex digits".into());
    }
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    if classify(&bytes) == DatagramKind::Foreign {
        return Ok(format!("{} bytes: not uTP (foreign datagram)", bytes.len()));
    }
    let packet = Packet::new_checked(&bytes[..]).map_err(|e| format!("malformed uTP: {e}"))?;
    let r = PacketRepr::from_packet(&packet);
    let mut out = format!(
        "{} conn_id={} seq_nr={} ack_nr={} wnd={} ts={}us ts_diff={}us payload={}B",
        r.packet_type.name(),
        r.connection_id,
        r.seq_nr,
        r.ack_nr,
        r.window_size,
        r.timestamp.0,
        r.timestamp_difference.0,
        r.payload.len()
    );
    for ext in packet.extensions() {
        out.push_str(&format!(" ext{}[{}B]", ext.kind.to_u8(), ext.data.len()));
    }
    if let Some(sack) = r.selective_ack {
        let acked: Vec<String> = sack.acked(r.ack_nr).map(|s| s.to_string()).collect();
        out.push_str(&format!(" sack_acks=[{}]", acked.join(",")));
    }
    if let Some(reason) = r.close_reason {
        out.push_str(&format!(" close_reason={}", reason.0));
    }
    Ok(out)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let lines: Vec<String> = if args.is_empty() {
        std::io::stdin()
            .lock()
            .lines()
            .map_while(Result::ok)
            .collect()
    } else {
        args
    };
    let mut failed = false;
    for line in lines.iter().filter(|l| !l.trim().is_empty()) {
        match decode(line) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                println!("error: {e}");
                failed = true;
            }
        }
    }
    std::process::exit(i32::from(failed));
}
