//! A native Thrift load client: calls the hello service's `add` directly over
//! its own protocol, the floor a gateway in front of it is compared with.
//!
//! `thrift_load ADDR [--transport T] [--connections N] [--seconds S]`;
//! prints one JSON line: requests, rps, p50_ms, p99_ms, errors.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use codecs::framing::{self, Transport, ttheader};
use codecs::thrift::{self, Protocol};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr = args
        .get(1)
        .cloned()
        .expect("usage: thrift_load ADDR [--transport T] [--connections N] [--seconds S]");
    let opt = |name: &str, default: &str| -> String {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .unwrap_or_else(|| default.to_string())
    };
    let transport = Transport::parse(&opt("--transport", "ttheader")).expect("transport");
    let conns: usize = opt("--connections", "32").parse().expect("connections");
    let seconds: u64 = opt("--seconds", "10").parse().expect("seconds");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let addr = addr.clone();
        tasks.push(tokio::spawn(async move {
            worker(&addr, transport, deadline).await
        }));
    }
    let mut lat = Vec::new();
    let mut errors = 0u64;
    for t in tasks {
        let (l, e) = t.await.expect("worker");
        lat.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    println!(
        "{{\"requests\":{},\"rps\":{:.0},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"errors\":{}}}",
        lat.len(),
        lat.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        errors
    );
}

async fn worker(addr: &str, transport: Transport, deadline: Instant) -> (Vec<u32>, u64) {
    let schema = examples::hello_schema();
    let method = schema
        .service(examples::HELLO_SERVICE)
        .unwrap()
        .methods
        .iter()
        .find(|m| m.name == "add")
        .unwrap()
        .clone();
    let block = ttheader::header_block(&ttheader::TTHeaderMeta {
        protocol: 0,
        strs: vec![(Cow::Borrowed("isn"), Cow::Borrowed("Hello"))],
        ints: vec![(ttheader::int_key::TO_METHOD, Cow::Borrowed("add"))],
    });
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).ok();
    let (mut lat, mut errors) = (Vec::new(), 0u64);
    let (mut req, mut buf, mut out) = (Vec::new(), Vec::with_capacity(8192), Vec::new());
    let mut seq = 0i32;
    while Instant::now() < deadline {
        seq = seq.wrapping_add(1);
        req.clear();
        let mark = framing::begin_frame(transport, &mut req, seq, &block);
        thrift::encode_call(
            Protocol::Binary,
            &schema,
            &method,
            seq,
            br#"{"first":512,"second":512}"#,
            &[],
            &Default::default(),
            &mut req,
        )
        .unwrap();
        framing::finish_frame(transport, &mut req, mark);
        let t0 = Instant::now();
        stream.write_all(&req).await.expect("write");
        buf.clear();
        let frame = loop {
            if let Some(f) =
                framing::decode_frame(transport, Protocol::Binary, &buf, 1 << 24).expect("frame")
            {
                break f;
            }
            if stream.read_buf(&mut buf).await.expect("read") == 0 {
                return (lat, errors + 1);
            }
        };
        out.clear();
        let ok = thrift::decode_reply(
            Protocol::Binary,
            &schema,
            &method,
            &buf[frame.payload],
            seq,
            &Default::default(),
            &mut out,
            &mut Default::default(),
        );
        if ok.is_err() || out != br#"{"sum":1024}"# {
            errors += 1;
        }
        lat.push(t0.elapsed().as_micros() as u32);
    }
    (lat, errors)
}
