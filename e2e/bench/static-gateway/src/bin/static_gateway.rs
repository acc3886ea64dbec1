//! The codegen ceiling of the head-to-head benchmark: kitegate's job for the
//! hello service (`examples/idl/hello.thrift`), compiled instead of driven by
//! the IDL at run time.
//!
//! `static_gateway LISTEN BACKEND` (e.g. `127.0.0.1:18080 127.0.0.1:8899`);
//! prints `READY <addr>` once listening. Routes, as kitegate exposes them:
//! `GET /hello?message=…`, `POST /echo`, `POST /add`, `POST /items`.
//!
//! Per request: axum reads the body, serde_json fills the pilota-generated
//! struct, pilota's binary protocol writes the message envelope and the
//! `{Method}ArgsSend` struct behind a TTHeader written by kitegate's framing
//! code, kitegate's client stack over its pooled connections does the round trip, pilota decodes the
//! reply (zero-copy strings) and serde_json writes the JSON answer. The
//! TTHeader carries the same keys kitegate sends, so the backend sees the
//! same bytes apart from the `FromService` value.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::{get, post};
use codecs::framing::{self, DEFAULT_MAX_FRAME_SIZE, Transport, ttheader};
use codecs::thrift::Protocol;
use gateway::config::BackendConfig;
use gateway::pipeline::{self, CallMeta, CallPolicy, Client, Traffic};
use gateway::transport::EndpointCache;
use gateway::transport::pool::{Exchange, PoolConfig, PoolEndpoint, Reply};
use pilota::thrift::binary::TBinaryProtocol;
use pilota::thrift::{
    ApplicationException, Message, TInputProtocol, TMessageIdentifier, TMessageType,
    TOutputProtocol, ThriftException,
};
use pilota::{Bytes, BytesMut, FastStr};
use serde::Serialize;
use serde::de::DeserializeOwned;
use static_gateway::{
    AddRequest, HelloAddArgsSend, HelloAddResultRecv, HelloEchoArgsSend, HelloEchoItemsArgsSend,
    HelloEchoItemsResultRecv, HelloEchoResultRecv, ItemList, Request, SERVICE,
};

/// Backend timeout, as kitegate's default.
const TIMEOUT: Duration = Duration::from_millis(3000);
/// Idle connections kept to the backend, as kitegate keeps per endpoint.
const MAX_IDLE: usize = 256;

/// One method: its name and TTHeader info block, computed once.
struct Method {
    name: &'static str,
    block: Vec<u8>,
}

impl Method {
    fn new(name: &'static str) -> Method {
        let block = ttheader::header_block(&ttheader::TTHeaderMeta {
            protocol: ttheader::PROTOCOL_BINARY,
            strs: vec![(
                Cow::Borrowed(ttheader::str_key::IDL_SERVICE_NAME),
                Cow::Borrowed(SERVICE),
            )],
            ints: vec![
                (ttheader::int_key::TRANSPORT_TYPE, Cow::Borrowed("unframed")),
                (ttheader::int_key::FROM_SERVICE, Cow::Borrowed("static_gw")),
                (ttheader::int_key::TO_SERVICE, Cow::Borrowed("hello")),
                (ttheader::int_key::TO_METHOD, Cow::Borrowed(name)),
                (ttheader::int_key::MSG_TYPE, Cow::Borrowed("1")),
                (
                    ttheader::int_key::RPC_TIMEOUT,
                    Cow::Owned(TIMEOUT.as_millis().to_string()),
                ),
            ],
        });
        Method { name, block }
    }
}

struct Upstream {
    client: Client<Exchange, Option<Reply>>,
    policy: Arc<CallPolicy>,
    seq: AtomicI32,
    echo: Method,
    add: Method,
    items: Method,
}

/// A failed request: HTTP status, error code, message.
struct Fail(StatusCode, &'static str, String);

impl IntoResponse for Fail {
    fn into_response(self) -> HttpResponse {
        let body = serde_json::json!({ "error": { "code": self.1, "message": self.2 } });
        (self.0, axum::Json(body)).into_response()
    }
}

fn protocol_error(e: ThriftException) -> Fail {
    Fail(StatusCode::BAD_GATEWAY, "bad_gateway", e.to_string())
}

impl Upstream {
    fn next_seqid(&self) -> i32 {
        let s = self.seq.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        if s == 0 { self.next_seqid() } else { s }
    }

    /// Encodes `args` as a CALL of `m`, sends it in TTHeader and decodes the
    /// `{Method}ResultRecv` of the reply. `hint`: expected encoded size.
    async fn call<A: Message, R: Message>(
        &self,
        m: &Method,
        args: &A,
        hint: usize,
    ) -> Result<R, Fail> {
        let seqid = self.next_seqid();
        // The TTHeader fixed part and info block (lengths patched below).
        let mut head = Vec::with_capacity(16 + m.block.len());
        let mark = framing::begin_frame(Transport::TTHeader, &mut head, seqid, &m.block);
        let mut req = BytesMut::with_capacity(head.len() + hint + 64);
        req.extend_from_slice(&head);
        {
            let mut p = TBinaryProtocol::new(&mut req, false);
            p.write_message_begin(&TMessageIdentifier::new(
                FastStr::from_static_str(m.name),
                TMessageType::Call,
                seqid,
            ))
            .map_err(protocol_error)?;
            args.encode(&mut p).map_err(protocol_error)?;
            p.write_message_end().map_err(protocol_error)?;
        }
        framing::finish_frame(Transport::TTHeader, &mut req, mark);

        let exchange = Exchange {
            frame: Bytes::from(req),
            oneway: false,
            idempotent: false,
            trace_at: None,
        };
        let meta = CallMeta::after(TIMEOUT);
        let resp = match pipeline::send(&self.client, exchange, &self.policy, meta).await {
            Err(e) => return Err(Fail(e.status(), e.code(), e.message().to_string())),
            Ok(None) => unreachable!("not oneway"),
            Ok(Some(r)) => r,
        };
        let range = resp.frame.payload.clone();
        let mut payload = Bytes::from(resp.data).slice(range);
        let mut p = TBinaryProtocol::new(&mut payload, true);
        let id = p.read_message_begin().map_err(protocol_error)?;
        match id.message_type {
            TMessageType::Reply if id.name == m.name && id.sequence_number == seqid => {
                R::decode(&mut p).map_err(protocol_error)
            }
            TMessageType::Exception => {
                let e = ApplicationException::decode(&mut p).map_err(protocol_error)?;
                Err(Fail(
                    StatusCode::BAD_GATEWAY,
                    "application_exception",
                    e.to_string(),
                ))
            }
            other => Err(Fail(
                StatusCode::BAD_GATEWAY,
                "bad_gateway",
                format!(
                    "unexpected reply {other:?} `{}` seqid {} (expected `{}` seqid {seqid})",
                    id.name, id.sequence_number, m.name
                ),
            )),
        }
    }
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Fail> {
    serde_json::from_slice(body)
        .map_err(|e| Fail(StatusCode::BAD_REQUEST, "invalid_request", e.to_string()))
}

/// A 200 JSON answer; `hint`: expected size.
fn json<T: Serialize>(value: &T, hint: usize) -> HttpResponse {
    let mut out = Vec::with_capacity(hint);
    match serde_json::to_writer(&mut out, value) {
        Ok(()) => ([(header::CONTENT_TYPE, "application/json")], out).into_response(),
        Err(e) => {
            Fail(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()).into_response()
        }
    }
}

#[derive(serde::Deserialize)]
struct HelloQuery {
    message: Option<String>,
}

type Shared = State<Arc<Upstream>>;

async fn echo_call(up: &Upstream, req: Request) -> Result<HttpResponse, Fail> {
    let reply: HelloEchoResultRecv = up.call(&up.echo, &HelloEchoArgsSend { req }, 64).await?;
    let HelloEchoResultRecv::Ok(r) = reply;
    Ok(json(&r, 64))
}

async fn hello(State(up): Shared, Query(q): Query<HelloQuery>) -> Result<HttpResponse, Fail> {
    let mut req = Request::default();
    if let Some(m) = q.message {
        req.message = Some(m.into());
    }
    echo_call(&up, req).await
}

async fn echo(State(up): Shared, body: Bytes) -> Result<HttpResponse, Fail> {
    echo_call(&up, parse(&body)?).await
}

async fn add(State(up): Shared, body: Bytes) -> Result<HttpResponse, Fail> {
    let req: AddRequest = parse(&body)?;
    match up.call(&up.add, &HelloAddArgsSend { req }, 64).await? {
        HelloAddResultRecv::Ok(r) => Ok(json(&r, 32)),
        HelloAddResultRecv::Err(e) => {
            let body = serde_json::json!({
                "error": { "code": "exception", "exception": "HelloError", "field": "err", "value": e }
            });
            Ok((StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response())
        }
    }
}

async fn items(State(up): Shared, body: Bytes) -> Result<HttpResponse, Fail> {
    let req: ItemList = parse(&body)?;
    // The Thrift form is about as large as the JSON; the echo is the same size.
    let reply: HelloEchoItemsResultRecv = up
        .call(&up.items, &HelloEchoItemsArgsSend { req }, body.len())
        .await?;
    let HelloEchoItemsResultRecv::Ok(r) = reply;
    Ok(json(&r, body.len() + 64))
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(backend)) = (args.next(), args.next()) else {
        eprintln!("usage: static_gateway LISTEN BACKEND   (e.g. 127.0.0.1:18080 127.0.0.1:8899)");
        std::process::exit(2);
    };
    let endpoint = PoolEndpoint::shared(
        &EndpointCache::default(),
        &backend,
        PoolConfig {
            transport: Transport::TTHeader,
            protocol: Protocol::Binary,
            connect_timeout: Duration::from_millis(1000),
            max_frame: DEFAULT_MAX_FRAME_SIZE,
            max_idle: MAX_IDLE,
            tls: None,
        },
    );
    let settings = BackendConfig {
        name: "hello".into(),
        endpoints: vec![backend.as_str().into()],
        ..Default::default()
    };
    let traffic = Traffic::new(&settings, TIMEOUT, Duration::from_millis(1000));
    let client = pipeline::client(&traffic, vec![endpoint]);
    let up = Arc::new(Upstream {
        client,
        policy: CallPolicy::plain("Hello.call", TIMEOUT, false),
        seq: AtomicI32::new(0),
        echo: Method::new("echo"),
        add: Method::new("add"),
        items: Method::new("echoItems"),
    });
    let app = Router::new()
        .route("/hello", get(hello))
        .route("/echo", post(echo))
        .route("/add", post(add))
        .route("/items", post(items))
        // kitegate's body limit (axum's default is 2 MiB).
        .layer(axum::extract::DefaultBodyLimit::max(4 << 20))
        .with_state(up);
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .unwrap_or_else(|e| {
            eprintln!("static_gateway: cannot listen on {listen}: {e}");
            std::process::exit(2);
        });
    println!("READY {}", listener.local_addr().expect("local addr"));
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("static_gateway: {e}");
        std::process::exit(1);
    }
}
