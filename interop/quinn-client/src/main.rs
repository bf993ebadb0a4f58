// SPDX-License-Identifier: GPL-2.0
//! quinn-client: downloads files over HTTP/0.9 on QUIC (ALPN "hq-interop")
//! with quinn, rustls and ring: a QUIC stack, TLS library and crypto that
//! share no code with interop/h3server (ngtcp2, GnuTLS), whose 1-RTT
//! packets the kernel encrypts. What it receives is checked by the test
//! (tests/vm/interop-quinn) against what the server says it sent.
//!
//!   quinn-client [options] ADDR PORT PATH...
//!
//! Every PATH is requested on its own bidirectional stream, all at once on
//! one connection ("GET PATH\r\n", the response is the body up to the
//! stream's FIN), and saved in the output directory under the path with
//! its slashes turned into '_' (without the leading one).

use std::fs::File;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use std::{env, fs, process};

use rustls::client::{ClientSessionMemoryCache, StoresClientSessions};
use rustls::{CipherSuite, SupportedCipherSuite};

const USAGE: &str = "usage: quinn-client [options] ADDR PORT PATH...
  -o DIR             save the files in DIR (default: .)
  --ca FILE          PEM certificate(s) to trust (required)
  --server-name NAME name the server's certificate must have (default h3server)
  --cipher NAME      offer only this TLS 1.3 cipher suite (TLS13_AES_128_GCM_SHA256,
                     TLS13_AES_256_GCM_SHA384, TLS13_CHACHA20_POLY1305_SHA256);
                     default: all three
  --key-update BYTES initiate a key update each time BYTES more body bytes arrived,
                     if the last one is at least max(2 s, 12 RTT) old
  --resume           then connect again with the session ticket of the first
                     connection and fetch the same paths
  --zero-rtt         with --resume: send the second connection's requests in 0-RTT
  --timeout SECS     idle timeout (default 120)";

struct Options {
    addr: SocketAddr,
    paths: Vec<String>,
    out: PathBuf,
    ca: Option<PathBuf>,
    server_name: String,
    suites: Vec<SupportedCipherSuite>,
    key_update: u64,
    resume: bool,
    zero_rtt: bool,
    timeout: u64,
}

fn die(msg: &str) -> ! {
    eprintln!("quinn-client: {}", msg);
    process::exit(2);
}

fn suite_name(suite: CipherSuite) -> String {
    format!("{:?}", suite)
}

fn suite_by_name(name: &str) -> Option<SupportedCipherSuite> {
    rustls::ALL_CIPHER_SUITES
        .iter()
        .copied()
        .find(|s| s.version() == &rustls::version::TLS13 && suite_name(s.suite()) == name)
}

fn parse_args() -> Options {
    let mut args = env::args().skip(1);
    let mut pos = Vec::new();
    let mut o = Options {
        addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        paths: Vec::new(),
        out: PathBuf::from("."),
        ca: None,
        server_name: "h3server".into(),
        suites: Vec::new(),
        key_update: 0,
        resume: false,
        zero_rtt: false,
        timeout: 120,
    };
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| die(USAGE));
        match a.as_str() {
            "-o" => o.out = PathBuf::from(value()),
            "--ca" => o.ca = Some(PathBuf::from(value())),
            "--server-name" => o.server_name = value(),
            "--cipher" => {
                let name = value();
                let suite = suite_by_name(&name)
                    .unwrap_or_else(|| die(&format!("unknown cipher suite {}", name)));
                o.suites.push(suite);
            }
            "--key-update" => {
                o.key_update = value().parse().unwrap_or_else(|_| die(USAGE));
            }
            "--resume" => o.resume = true,
            "--zero-rtt" => o.zero_rtt = true,
            "--timeout" => o.timeout = value().parse().unwrap_or_else(|_| die(USAGE)),
            "-h" | "--help" => {
                println!("{}", USAGE);
                process::exit(0);
            }
            _ if a.starts_with('-') && a.len() > 1 => die(USAGE),
            _ => pos.push(a),
        }
    }
    if pos.len() < 3 || o.ca.is_none() || (o.zero_rtt && !o.resume) {
        die(USAGE);
    }
    let ip: IpAddr = pos[0]
        .parse()
        .unwrap_or_else(|_| die(&format!("bad address {}", pos[0])));
    let port: u16 = pos[1]
        .parse()
        .unwrap_or_else(|_| die(&format!("bad port {}", pos[1])));
    o.addr = SocketAddr::new(ip, port);
    o.paths = pos.split_off(2);
    if o.suites.is_empty() {
        o.suites = ["TLS13_AES_128_GCM_SHA256", "TLS13_AES_256_GCM_SHA384",
                    "TLS13_CHACHA20_POLY1305_SHA256"]
            .iter()
            .map(|n| suite_by_name(n).expect("rustls has the three TLS 1.3 suites"))
            .collect();
    }
    o
}

/// rustls' session cache, watched: a session ("ticket") stored means the
/// server sent a NewSessionTicket; its value starts with the cipher suite
/// the connection negotiated, which quinn has no other way to tell. A hit
/// on lookup means the next ClientHello offers the ticket.
struct Tickets {
    cache: Arc<ClientSessionMemoryCache>,
    stored: AtomicUsize,
    found: AtomicUsize,
    suite: Mutex<Option<u16>>,
    stored_at: Mutex<Option<Duration>>,
}

const SESSION_KEY: &[u8] = b"session";

impl StoresClientSessions for Tickets {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        if key.starts_with(SESSION_KEY) && value.len() >= 2 {
            self.stored.fetch_add(1, Ordering::SeqCst);
            *self.suite.lock().unwrap() = Some(u16::from_be_bytes([value[0], value[1]]));
            *self.stored_at.lock().unwrap() = SystemTime::now().duration_since(UNIX_EPOCH).ok();
        }
        self.cache.put(key, value)
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let value = self.cache.get(key);
        if value.is_some() && key.starts_with(SESSION_KEY) {
            self.found.fetch_add(1, Ordering::SeqCst);
        }
        value
    }
}

fn tls_config(o: &Options, tickets: Arc<Tickets>) -> rustls::ClientConfig {
    let ca = o.ca.as_ref().unwrap();
    let pem = fs::read(ca).unwrap_or_else(|e| die(&format!("{}: {}", ca.display(), e)));
    let mut roots = rustls::RootCertStore::empty();
    let certs = rustls_pemfile::certs(&mut &pem[..])
        .unwrap_or_else(|e| die(&format!("{}: {}", ca.display(), e)));
    for der in certs {
        roots
            .add(&rustls::Certificate(der))
            .unwrap_or_else(|e| die(&format!("{}: {}", ca.display(), e)));
    }
    if roots.is_empty() {
        die(&format!("{}: no certificate", ca.display()));
    }
    let mut cfg = rustls::ClientConfig::builder()
        .with_cipher_suites(&o.suites)
        .with_safe_default_kx_groups()
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap_or_else(|e| die(&format!("TLS configuration: {}", e)))
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"hq-interop".to_vec()];
    cfg.enable_early_data = o.zero_rtt;
    cfg.session_storage = tickets;
    cfg
}

/// What the streams of one connection share.
struct Shared {
    conn: quinn::Connection,
    id: usize,
    start: Instant,
    received: AtomicU64,
    key_update: u64,
    next_update: AtomicU64,
    updates: AtomicU64,
    last_update: Mutex<Option<Instant>>,
}

impl Shared {
    /// Counts body bytes and starts a key update every key_update bytes.
    /// quinn does not check that the previous update is complete: the
    /// peer may still be waiting to discard its old keys (three PTOs after
    /// it saw the update, RFC 9001 6.5), and drops what it cannot decrypt
    /// meanwhile. So an update waits until the last one is old enough.
    fn got(&self, n: usize) {
        let total = self.received.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
        if self.key_update == 0 || total < self.next_update.load(Ordering::SeqCst) {
            return;
        }
        let gap = std::cmp::max(Duration::from_secs(2), self.conn.rtt() * 12);
        let mut last = self.last_update.lock().unwrap();
        if matches!(*last, Some(t) if t.elapsed() < gap) {
            return;
        }
        *last = Some(Instant::now());
        self.next_update.store(total + self.key_update, Ordering::SeqCst);
        self.conn.force_key_update();
        let k = self.updates.fetch_add(1, Ordering::SeqCst) + 1;
        println!("quinn-client: conn {}: key update {} initiated after {} bytes",
                 self.id, k, total);
    }
}

fn file_name(path: &str) -> String {
    let name: String = path
        .trim_start_matches('/')
        .chars()
        .map(|c| if c == '/' { '_' } else { c })
        .collect();
    if name.is_empty() {
        "index".into()
    } else {
        name
    }
}

enum FetchError {
    ZeroRttRejected,
    Other(String),
}

/// One request: GET on a new stream, the body saved and hashed as it
/// arrives. Returns the number of bytes.
async fn fetch(sh: &Shared, path: &str, out: &PathBuf) -> Result<u64, FetchError> {
    let started = Instant::now();
    let (mut send, mut recv) = match sh.conn.open_bi().await {
        Ok(s) => s,
        Err(e) => return Err(FetchError::Other(format!("open stream: {}", e))),
    };
    let stream = send.id();
    let req = format!("GET {}\r\n", path);
    match send.write_all(req.as_bytes()).await {
        Ok(()) => {}
        Err(quinn::WriteError::ZeroRttRejected) => return Err(FetchError::ZeroRttRejected),
        Err(e) => return Err(FetchError::Other(format!("request: {}", e))),
    }
    // Dropped, the stream is finished: the FIN goes out, nothing waits
    // for its acknowledgement (finish() would, and quinn 0.9 panics in it
    // when the server refuses 0-RTT).
    drop(send);
    let early = recv.is_0rtt();
    let file_path = out.join(file_name(path));
    let mut file = File::create(&file_path)
        .map_err(|e| FetchError::Other(format!("{}: {}", file_path.display(), e)))?;
    let mut sha = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 64 * 1024];
    let mut len = 0u64;
    loop {
        match recv.read(&mut buf).await {
            Ok(Some(n)) => {
                sha.update(&buf[..n]);
                file.write_all(&buf[..n])
                    .map_err(|e| FetchError::Other(format!("{}: {}", file_path.display(), e)))?;
                len += n as u64;
                sh.got(n);
            }
            Ok(None) => break,
            Err(quinn::ReadError::ZeroRttRejected) => return Err(FetchError::ZeroRttRejected),
            Err(e) => return Err(FetchError::Other(format!("response: {}", e))),
        }
    }
    let hex: String = sha
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{:02x}", b))
        .collect();
    println!("quinn-client: conn {}: stream {}: {}: {} bytes sha256 {}{} in {:.3} s",
             sh.id, stream.index() * 4, path, len, hex, if early { " (0-RTT request)" } else { "" },
             started.elapsed().as_secs_f64());
    Ok(len)
}

struct Outcome {
    ok: bool,
    early: &'static str,
}

/// One connection fetching every path at once.
async fn connection(o: &Options, id: usize, endpoint: &quinn::Endpoint,
                    cfg: quinn::ClientConfig, tickets: &Tickets) -> Outcome {
    let start = Instant::now();
    let stored0 = tickets.stored.load(Ordering::SeqCst);
    let found0 = tickets.found.load(Ordering::SeqCst);
    let connecting = match endpoint.connect_with(cfg, o.addr, &o.server_name) {
        Ok(c) => c,
        Err(e) => die(&format!("connect: {}", e)),
    };
    let mut early = "not tried";
    let mut accepted = None;
    let conn = if o.zero_rtt && id > 1 {
        match connecting.into_0rtt() {
            Ok((conn, acc)) => {
                early = "sent";
                accepted = Some(acc);
                conn
            }
            Err(connecting) => {
                early = "impossible (no ticket with early data)";
                match connecting.await {
                    Ok(c) => c,
                    Err(e) => {
                        println!("quinn-client: conn {}: handshake failed: {}", id, e);
                        return Outcome { ok: false, early };
                    }
                }
            }
        }
    } else {
        match connecting.await {
            Ok(c) => c,
            Err(e) => {
                println!("quinn-client: conn {}: handshake failed: {}", id, e);
                return Outcome { ok: false, early };
            }
        }
    };
    let sh = Arc::new(Shared {
        conn: conn.clone(),
        id,
        start,
        received: AtomicU64::new(0),
        key_update: o.key_update,
        next_update: AtomicU64::new(o.key_update),
        updates: AtomicU64::new(0),
        last_update: Mutex::new(None),
    });
    let spawn_all = || {
        o.paths
            .iter()
            .map(|path| {
                let sh = sh.clone();
                let path = path.clone();
                let out = o.out.clone();
                tokio::spawn(async move {
                    let r = fetch(&sh, &path, &out).await;
                    (path, r)
                })
            })
            .collect::<Vec<_>>()
    };
    let mut tasks = spawn_all();
    if let Some(acc) = accepted {
        early = if acc.await { "accepted" } else { "rejected" };
        if early == "rejected" {
            // A stream reader that waits for 0-RTT data is not woken
            // when the server refuses it: ask again, in 1-RTT.
            for t in &tasks {
                t.abort();
            }
            println!("quinn-client: conn {}: 0-RTT rejected, requests sent again", id);
            tasks = spawn_all();
        }
    }
    let handshake = start.elapsed();
    let mut ok = true;
    let mut files = 0;
    for t in tasks {
        match t.await {
            Ok((_, Ok(_))) => files += 1,
            Ok((path, Err(FetchError::ZeroRttRejected))) => {
                println!("quinn-client: conn {}: {}: 0-RTT rejected", id, path);
                ok = false;
            }
            Ok((path, Err(FetchError::Other(e)))) => {
                println!("quinn-client: conn {}: {}: {}", id, path, e);
                ok = false;
            }
            Err(e) => {
                println!("quinn-client: conn {}: task: {}", id, e);
                ok = false;
            }
        }
    }
    let elapsed = sh.start.elapsed();
    let stats = conn.stats();
    conn.close(0u32.into(), b"done");
    let hs = conn
        .handshake_data()
        .and_then(|h| h.downcast::<quinn::crypto::rustls::HandshakeData>().ok());
    let alpn = hs
        .and_then(|h| h.protocol)
        .map(|p| String::from_utf8_lossy(&p).into_owned())
        .unwrap_or_else(|| "none".into());
    // quinn does not say which suite the handshake chose: the session
    // ticket does; with a single suite offered, it can only be that one
    let cipher = match *tickets.suite.lock().unwrap() {
        Some(v) if tickets.stored.load(Ordering::SeqCst) > stored0 => {
            format!("{} (from the session ticket)", suite_name(CipherSuite::from(v)))
        }
        _ if o.suites.len() == 1 => {
            format!("{} (the only one offered)", suite_name(o.suites[0].suite()))
        }
        _ => "unknown (several offered, no session ticket)".into(),
    };
    println!("quinn-client: conn {}: {}: cipher {}, ALPN {}, handshake {:.3} s, {} of {} files, {} bytes in {:.3} s, {} key updates initiated, session ticket {}, {} tickets received, 0-RTT {}, {} packets sent, {} received",
             id, if ok { "done" } else { "FAILED" }, cipher, alpn, handshake.as_secs_f64(),
             files, o.paths.len(), sh.received.load(Ordering::SeqCst), elapsed.as_secs_f64(),
             sh.updates.load(Ordering::SeqCst),
             if tickets.found.load(Ordering::SeqCst) > found0 { "offered" } else { "not offered" },
             tickets.stored.load(Ordering::SeqCst) - stored0, early,
             stats.udp_tx.datagrams, stats.udp_rx.datagrams);
    Outcome { ok, early }
}

/// rustls tells the ticket's age in whole seconds (the clock's seconds at
/// the ClientHello less those when the ticket came), GnuTLS measures it in
/// milliseconds and refuses the early data of a ClientHello that claims
/// an age above its own measure. Starting at a sub-second past the one
/// at which the ticket came keeps the claim at or below the real age.
async fn ticket_age_wait(tickets: &Tickets) {
    let got = match *tickets.stored_at.lock().unwrap() {
        Some(t) => t.subsec_millis() as i64,
        None => return,
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_millis() as i64)
        .unwrap_or(0);
    // aim 20 ms past it, but never at the last 20 ms of a second, where
    // the ClientHello could fall into the next one
    let target = std::cmp::min(got + 20, 980);
    let wait = if now >= target && now <= 980 { 0 } else { (target - now).rem_euclid(1000) };
    if wait > 0 {
        println!("quinn-client: waiting {} ms for a whole-second ticket age GnuTLS accepts", wait);
        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    }
}

async fn run(o: Options) -> bool {
    let tickets = Arc::new(Tickets {
        cache: ClientSessionMemoryCache::new(16),
        stored: AtomicUsize::new(0),
        found: AtomicUsize::new(0),
        suite: Mutex::new(None),
        stored_at: Mutex::new(None),
    });
    let tls = Arc::new(tls_config(&o, tickets.clone()));
    let mut transport = quinn::TransportConfig::default();
    let idle = quinn::VarInt::from_u64(o.timeout * 1000).unwrap_or_else(|_| die(USAGE));
    transport.max_idle_timeout(Some(idle.into()));
    // a guest under emulation can stall for seconds: keep the path alive
    transport.keep_alive_interval(Some(Duration::from_secs(5)));
    let transport = Arc::new(transport);
    let mut cfg = quinn::ClientConfig::new(tls);
    cfg.transport_config(transport);

    let local = match o.addr {
        SocketAddr::V4(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        SocketAddr::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    };
    let endpoint = quinn::Endpoint::client(local).unwrap_or_else(|e| die(&format!("bind: {}", e)));
    let mut ok = connection(&o, 1, &endpoint, cfg.clone(), &tickets).await.ok;
    if ok && o.resume {
        if o.zero_rtt {
            ticket_age_wait(&tickets).await;
        }
        let second = connection(&o, 2, &endpoint, cfg, &tickets).await;
        ok = second.ok;
        if o.zero_rtt && second.early != "accepted" {
            println!("quinn-client: 0-RTT was asked for and is {}", second.early);
            ok = false;
        }
    }
    // The CONNECTION_CLOSE must go out before the process ends; it does
    // on the endpoint's next turn, the rest of the wait is the closing
    // period (three PTOs, seconds in an emulated guest) that nobody needs.
    let _ = tokio::time::timeout(Duration::from_millis(500), endpoint.wait_idle()).await;
    ok
}

fn main() {
    let o = parse_args();
    if let Err(e) = fs::create_dir_all(&o.out) {
        die(&format!("{}: {}", o.out.display(), e));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| die(&format!("runtime: {}", e)));
    let start = Instant::now();
    let ok = rt.block_on(run(o));
    println!("quinn-client: {} after {:.3} s", if ok { "ok" } else { "FAILED" },
             start.elapsed().as_secs_f64());
    process::exit(if ok { 0 } else { 1 });
}
