//! A toxic TCP proxy for fault injection: it sits between the gateway and
//! a real peer and, per chunk of bytes, does what its current [`Fault`]
//! says. The fault can be changed at any time and applies to connections
//! already open (pooled ones included). Blocking threads, 127.0.0.1 only;
//! everything stops when the proxy is dropped.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy does to the bytes it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Carries bytes both ways as they come.
    None,
    /// Holds each chunk of the reply this long.
    Latency(Duration),
    /// Resets the client's connection when its request arrives: the request
    /// never reaches the peer.
    ResetBefore,
    /// Passes the request to the peer, then resets the client's connection:
    /// the peer ran the call, the client gets no reply.
    ResetAfter,
    /// Passes the request, drops the reply, and leaves the client's
    /// connection open and silent (a peer gone without a FIN).
    HalfOpen,
    /// Accepts and reads, never passes anything on, never answers.
    Blackhole,
    /// Answers the request with bytes that are no protocol's, then closes.
    Garbage,
    /// Passes the reply one byte per this long.
    SlowDrip(Duration),
}

struct Shared {
    fault: Mutex<Fault>,
    stop: AtomicBool,
    conns: AtomicUsize,
}

/// A proxy listening on 127.0.0.1 in front of `upstream`.
pub struct Toxic {
    addr: String,
    shared: Arc<Shared>,
}

impl Toxic {
    pub fn start(upstream: &str) -> Toxic {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = l.local_addr().unwrap().to_string();
        let shared = Arc::new(Shared {
            fault: Mutex::new(Fault::None),
            stop: AtomicBool::new(false),
            conns: AtomicUsize::new(0),
        });
        let s = shared.clone();
        let upstream = upstream.to_string();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = conn else { continue };
                s.conns.fetch_add(1, Ordering::SeqCst);
                let s = s.clone();
                let upstream = upstream.clone();
                std::thread::spawn(move || serve(client, &upstream, s));
            }
        });
        Toxic { addr, shared }
    }

    /// Where the gateway should connect.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn set(&self, f: Fault) {
        *self.shared.fault.lock().unwrap() = f;
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.conns.load(Ordering::SeqCst)
    }
}

impl Drop for Toxic {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the stop.
        let _ = TcpStream::connect(&self.addr);
    }
}

fn fault(s: &Shared) -> Fault {
    *s.fault.lock().unwrap()
}

/// Closes with a reset (SO_LINGER 0) rather than a FIN.
fn reset(c: &TcpStream) {
    let _ = socket2::SockRef::from(c).set_linger(Some(Duration::ZERO));
    let _ = c.shutdown(Shutdown::Both);
}

fn serve(client: TcpStream, upstream: &str, s: Arc<Shared>) {
    let Ok(server) = TcpStream::connect(upstream) else {
        reset(&client);
        return;
    };
    client.set_nodelay(true).ok();
    server.set_nodelay(true).ok();
    // Reads wake up now and then to see a stop or a fault change.
    let tick = Some(Duration::from_millis(50));
    client.set_read_timeout(tick).ok();
    server.set_read_timeout(tick).ok();
    let mute = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let (sh, mute2, done2) = (s.clone(), mute.clone(), done.clone());
    let back = std::thread::spawn(move || replies(s2, c2, &sh, &mute2, &done2));
    requests(client, server, &s, &mute, &done);
    let _ = back.join();
}

/// Reads chunks from `from` until it closes or fails, the proxy stops or
/// the connection is done; hands each to `each`, which says whether to go on.
fn pump(mut from: &TcpStream, s: &Shared, done: &AtomicBool, mut each: impl FnMut(&[u8]) -> bool) {
    let mut buf = vec![0u8; 64 * 1024];
    while !s.stop.load(Ordering::SeqCst) && !done.load(Ordering::SeqCst) {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(_) => break,
        };
        if !each(&buf[..n]) {
            break;
        }
    }
}

/// Client to peer.
fn requests(
    client: TcpStream,
    mut server: TcpStream,
    s: &Shared,
    mute: &AtomicBool,
    done: &AtomicBool,
) {
    pump(&client, s, done, |chunk| match fault(s) {
        Fault::None | Fault::Latency(_) | Fault::SlowDrip(_) => server.write_all(chunk).is_ok(),
        Fault::ResetBefore => {
            reset(&client);
            false
        }
        Fault::ResetAfter => {
            // Muted first: a fast peer's reply must not slip through.
            mute.store(true, Ordering::SeqCst);
            let _ = server.write_all(chunk);
            // Let the peer read it before the client's side goes.
            std::thread::sleep(Duration::from_millis(20));
            reset(&client);
            false
        }
        Fault::HalfOpen => {
            mute.store(true, Ordering::SeqCst);
            let _ = server.write_all(chunk);
            true
        }
        Fault::Blackhole => true,
        Fault::Garbage => {
            let _ = (&client).write_all(b"\xde\xad\xbe\xefnot a reply of any protocol\r\n");
            let _ = client.shutdown(Shutdown::Both);
            false
        }
    });
    done.store(true, Ordering::SeqCst);
    let _ = server.shutdown(Shutdown::Both);
}

/// Peer to client.
fn replies(
    server: TcpStream,
    mut client: TcpStream,
    s: &Shared,
    mute: &AtomicBool,
    done: &AtomicBool,
) {
    pump(&server, s, done, |chunk| {
        if mute.load(Ordering::SeqCst) {
            return true;
        }
        match fault(s) {
            Fault::HalfOpen | Fault::Blackhole => {
                mute.store(true, Ordering::SeqCst);
                true
            }
            Fault::Latency(d) => {
                std::thread::sleep(d);
                client.write_all(chunk).is_ok()
            }
            Fault::SlowDrip(d) => chunk.iter().all(|b| {
                std::thread::sleep(d);
                client.write_all(std::slice::from_ref(b)).is_ok()
            }),
            _ => client.write_all(chunk).is_ok(),
        }
    });
    if !mute.load(Ordering::SeqCst) {
        done.store(true, Ordering::SeqCst);
        let _ = client.shutdown(Shutdown::Both);
    }
}
