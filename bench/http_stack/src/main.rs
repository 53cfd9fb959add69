//! A minimal hyper 1.x reverse proxy with fastlb's thread-per-core shape, so that a benchmark
//! against `fastlb serve` (mode: http) measures the HTTP stack and nothing else
//! (docs/http-stack.md).
//!
//! Shape, as fastlb's workers: N threads, each with its own current-thread tokio runtime and
//! its own SO_REUSEPORT listener on the same address (the kernel spreads connections), and
//! its own pool of server connections (a hyper-util legacy `Client` per thread). Per
//! request: round robin over the upstreams (an address repeated `weight` times, so 3:1 like
//! the benchmark's config), hop-by-hop headers removed both ways (RFC 9110 §7.6.1),
//! `X-Forwarded-For` appended (HAProxy's `option forwardfor`), bodies streamed through.
//!
//! Usage: `hyper-proxy-bench [--preserve-case] LISTEN THREADS UPSTREAM[=WEIGHT]...`
//!
//! hyper lower-cases header names by default; `--preserve-case` turns on its
//! `preserve_header_case` on both sides (a `HeaderCaseMap` carried in the request's and
//! response's extensions), which is what fastlb does by construction.

use std::cell::Cell;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::rc::Rc;

use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONNECTION};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

type Body = UnsyncBoxBody<Bytes, hyper::Error>;

/// Hop-by-hop fields (RFC 9110 §7.6.1, plus the historical Keep-Alive and Proxy-Connection
/// that HAProxy and nginx also drop); fields named in `Connection` are dropped as well.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authenticate",
];

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let preserve_case = args.first().is_some_and(|a| a == "--preserve-case");
    if preserve_case {
        args.remove(0);
    }
    if args.len() < 3 {
        eprintln!("usage: hyper-proxy-bench [--preserve-case] LISTEN THREADS UPSTREAM[=WEIGHT]...");
        std::process::exit(2);
    }
    let listen: SocketAddr = args[0].parse().expect("LISTEN: an ip:port");
    let threads: usize = args[1].parse().expect("THREADS: a number");
    let mut upstreams: Vec<String> = Vec::new();
    for spec in &args[2..] {
        let (addr, weight) = spec.split_once('=').unwrap_or((spec, "1"));
        let weight: usize = weight.parse().expect("WEIGHT: a number");
        upstreams.extend(std::iter::repeat_n(format!("http://{addr}"), weight));
    }
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let upstreams = upstreams.clone();
            std::thread::spawn(move || worker(listen, upstreams, preserve_case))
        })
        .collect();
    for worker in workers {
        worker.join().expect("worker panicked");
    }
}

/// One worker thread: its runtime, its listener, its client (= its server-connection pool).
fn worker(listen: SocketAddr, upstreams: Vec<String>, preserve_case: bool) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let listener = reuseport_listener(listen);
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        // Pool as fastlb's bench config: up to 1024 idle per server, kept 30 s.
        let client: Client<HttpConnector, Incoming> = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(1024)
            .pool_idle_timeout(std::time::Duration::from_secs(30))
            .pool_timer(TokioTimer::new())
            .http1_preserve_header_case(preserve_case)
            .build(connector);
        let state = Rc::new(State {
            client,
            upstreams,
            next: Cell::new(0),
        });
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let state = state.clone();
            tokio::task::spawn_local(async move {
                let service = service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(state.proxy(req, peer).await) }
                });
                // Keep-alive on (hyper's default, made explicit), 10 s to read a head as
                // fastlb's and HAProxy's `timeout http-request` in the benchmark.
                let _ = http1::Builder::new()
                    .preserve_header_case(preserve_case)
                    .keep_alive(true)
                    .timer(TokioTimer::new())
                    .header_read_timeout(std::time::Duration::from_secs(10))
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

/// A worker's shared state (one thread: `Rc` + `Cell`, no atomics).
struct State {
    client: Client<HttpConnector, Incoming>,
    upstreams: Vec<String>,
    next: Cell<usize>,
}

impl State {
    /// Forward one request to the next upstream and stream its response back.
    async fn proxy(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let index = self.next.get();
        self.next.set((index + 1) % self.upstreams.len());
        let (mut parts, body) = req.into_parts();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        // The legacy client picks the pool by the URI's authority and sends origin-form.
        let uri: Uri = match format!("{}{path}", self.upstreams[index]).parse() {
            Ok(uri) => uri,
            Err(_) => return status(StatusCode::BAD_REQUEST),
        };
        parts.uri = uri;
        remove_hop_by_hop(&mut parts.headers);
        let xff = HeaderValue::from_str(&peer.ip().to_string()).expect("an IP is a header value");
        parts
            .headers
            .append(HeaderName::from_static("x-forwarded-for"), xff);
        match self.client.request(Request::from_parts(parts, body)).await {
            Ok(response) => {
                let (mut parts, body) = response.into_parts();
                remove_hop_by_hop(&mut parts.headers);
                Response::from_parts(parts, body.boxed_unsync())
            }
            Err(error) => {
                eprintln!("upstream error: {error:?}");
                status(StatusCode::BAD_GATEWAY)
            }
        }
    }
}

/// Drop the fields named in `Connection`, then the fixed hop-by-hop set.
fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

fn status(code: StatusCode) -> Response<Body> {
    let mut response = Response::new(Empty::new().map_err(|e| match e {}).boxed_unsync());
    *response.status_mut() = code;
    response
}

/// A listener with SO_REUSEPORT, so every worker binds the same address (as fastlb's).
fn reuseport_listener(addr: SocketAddr) -> tokio::net::TcpListener {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )
    .expect("socket");
    socket.set_reuse_address(true).expect("SO_REUSEADDR");
    socket.set_reuse_port(true).expect("SO_REUSEPORT");
    socket.set_nonblocking(true).expect("non-blocking");
    socket.bind(&addr.into()).expect("bind");
    socket.listen(4096).expect("listen");
    tokio::net::TcpListener::from_std(socket.into()).expect("tokio listener")
}
