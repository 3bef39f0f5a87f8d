//! How the workers find each other: every rank connects to rank 0 (MASTER_ADDR,
//! MASTER_PORT) over TCP and says who it is; rank 0 checks that ranks are distinct and
//! agree on the world size and the run's configuration, then hands out what the
//! collective needs (NCCL's unique id). The connections stay open: the CPU collective
//! sums over them, and a peer that dies closes its end.
//!
//! Hand-written on `std::net` because the exchange is a few hundred bytes once per run;
//! torch's `TCPStore` plays the same part for torchrun.

use super::env::{WorkerEnv, World};
use crate::error::{Error, Result};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

const MAGIC: &[u8; 8] = b"MPOSRDV2";
/// Bytes of a greeting: magic, rank, world size, configuration fingerprint, secret digest.
const HELLO: usize = 8 + 4 + 4 + 8 + 32;
/// How long rank 0 waits for a connection's greeting: a rank sends it at once, so a client
/// that says nothing (or not enough) is dropped without holding up the others for long.
const GREETING_WAIT: Duration = Duration::from_secs(3);

/// SHA-256 of the run's secret, as a greeting carries it.
fn digest(secret: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(secret.as_bytes()).into()
}

/// Open connections between this rank and the others: rank 0 holds one per peer (index =
/// rank; its own slot empty), every other rank one to rank 0 (index 0).
pub struct Links {
    /// This process's place.
    pub world: World,
    streams: Vec<Option<TcpStream>>,
}

fn lost(what: impl std::fmt::Display) -> impl Fn(std::io::Error) -> Error {
    move |e| Error::Distributed(format!("{what}: {e}"))
}

impl Links {
    /// Links of a single process (no peers).
    pub fn solo() -> Self {
        Self {
            world: World::SOLO,
            streams: vec![None],
        }
    }

    /// Joins the other ranks of `env` within `timeout`; every rank must pass the same
    /// `fingerprint` (of the run's configuration).
    pub fn join(env: &WorkerEnv, fingerprint: [u8; 8], timeout: Duration) -> Result<Self> {
        let deadline = Instant::now() + timeout;
        if env.world.rank == 0 {
            accept_all(env, fingerprint, deadline)
        } else {
            connect(env, fingerprint, deadline)
        }
    }

    /// Rank 0's `payload`, on every rank (rank 0 sends it, the others receive it).
    pub fn broadcast(&mut self, payload: &[u8]) -> Result<Vec<u8>> {
        if self.world.rank == 0 {
            for (rank, stream) in self.peers() {
                write_frame(stream, payload).map_err(lost(format!("sending to rank {rank}")))?;
            }
            return Ok(payload.to_vec());
        }
        let (_, stream) = self.peers().next().ok_or_else(no_link)?;
        read_frame(stream).map_err(lost("receiving from rank 0"))
    }

    /// The open connections with the rank at the other end.
    pub(super) fn peers(&mut self) -> impl Iterator<Item = (usize, &mut TcpStream)> {
        self.streams
            .iter_mut()
            .enumerate()
            .filter_map(|(r, s)| s.as_mut().map(|s| (r, s)))
    }
}

fn no_link() -> Error {
    Error::Distributed("no connection to rank 0".into())
}

fn accept_all(env: &WorkerEnv, fingerprint: [u8; 8], deadline: Instant) -> Result<Links> {
    // Only on the rendezvous address (MASTER_ADDR), not on every interface of the host.
    let addr = format!("{}:{}", env.master_addr, env.master_port);
    let listener = TcpListener::bind(&addr).map_err(lost(format!(
        "rank 0 cannot listen on {addr} (port taken? set MULTIPOSE_PORT to a free one)"
    )))?;
    let secret = digest(&env.secret);
    listener.set_nonblocking(true).map_err(lost("listener"))?;
    let size = env.world.size;
    let mut streams: Vec<Option<TcpStream>> = (0..size).map(|_| None).collect();
    let mut joined = 1;
    while joined < size {
        let (mut stream, peer) = match listener.accept() {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    let missing: Vec<String> = (1..size)
                        .filter(|&r| streams[r].is_none())
                        .map(|r| r.to_string())
                        .collect();
                    return Err(Error::Distributed(format!(
                        "rank(s) {} did not join within the rendezvous timeout",
                        missing.join(", ")
                    )));
                }
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            Err(e) => return Err(lost("accepting a rank")(e)),
        };
        stream.set_nonblocking(false).map_err(lost("connection"))?;
        stream
            .set_read_timeout(Some(GREETING_WAIT))
            .map_err(lost("connection"))?;
        let hello = match read_hello(&mut stream, &secret) {
            Ok(h) => h,
            Err(why) => {
                // Not a rank of this run (a port scan, a browser, another run): drop it
                // and keep waiting for the ranks.
                eprintln!("warning: rendezvous: dropped a connection from {peer}: {why}");
                continue;
            }
        };
        let rank = hello.0;
        let taken = rank == 0 || streams.get(rank).is_none_or(Option::is_some);
        let problem = refusal(hello, size, fingerprint, taken);
        let answer = problem.clone().unwrap_or_default();
        write_frame(&mut stream, answer.as_bytes()).map_err(lost("answering a rank"))?;
        if let Some(p) = problem {
            return Err(Error::Distributed(p));
        }
        stream.set_read_timeout(None).map_err(lost("connection"))?;
        stream.set_nodelay(true).map_err(lost("connection"))?;
        streams[rank] = Some(stream);
        joined += 1;
    }
    Ok(Links {
        world: env.world,
        streams,
    })
}

/// Why rank 0 refuses a greeting `(rank, world size, fingerprint)`, if it does.
fn refusal(
    (rank, their_size, their_print): (usize, usize, [u8; 8]),
    size: usize,
    fingerprint: [u8; 8],
    taken: bool,
) -> Option<String> {
    if their_size != size {
        Some(format!(
            "rank {rank} was started with WORLD_SIZE={their_size}, rank 0 with {size}"
        ))
    } else if taken {
        Some(format!("two processes claim rank {rank}"))
    } else if their_print != fingerprint {
        Some(format!(
            "rank {rank} runs a different configuration (or multipose version) than rank 0"
        ))
    } else {
        None
    }
}

fn connect(env: &WorkerEnv, fingerprint: [u8; 8], deadline: Instant) -> Result<Links> {
    let target = format!("{}:{}", env.master_addr, env.master_port);
    let mut stream = loop {
        // Rank 0 may not be listening yet: retry until the deadline.
        let attempt = target
            .to_socket_addrs()
            .map_err(lost(format!("MASTER_ADDR {target}")))?
            .find_map(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).ok());
        match attempt {
            Some(s) => break s,
            None if Instant::now() > deadline => {
                return Err(Error::Distributed(format!(
                    "rank {} could not reach rank 0 at {target} within the rendezvous timeout",
                    env.world.rank
                )));
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    stream.set_nodelay(true).map_err(lost("connection"))?;
    let mut hello = MAGIC.to_vec();
    hello.extend((env.world.rank as u32).to_le_bytes());
    hello.extend((env.world.size as u32).to_le_bytes());
    hello.extend(fingerprint);
    hello.extend(digest(&env.secret));
    stream.write_all(&hello).map_err(lost("greeting rank 0"))?;
    let answer = read_frame(&mut stream).map_err(lost("waiting for rank 0's answer"))?;
    if !answer.is_empty() {
        return Err(Error::Distributed(format!(
            "rank 0 refused rank {}: {}",
            env.world.rank,
            String::from_utf8_lossy(&answer)
        )));
    }
    let mut streams: Vec<Option<TcpStream>> = (0..env.world.size).map(|_| None).collect();
    streams[0] = Some(stream);
    Ok(Links {
        world: env.world,
        streams,
    })
}

/// A rank's greeting `(rank, world size, fingerprint)`, or why the connection is not a
/// rank of this run (said in the warning that drops it).
fn read_hello(
    stream: &mut TcpStream,
    secret: &[u8; 32],
) -> std::result::Result<(usize, usize, [u8; 8]), String> {
    let mut buf = [0u8; HELLO];
    stream
        .read_exact(&mut buf)
        .map_err(|e| format!("no complete greeting ({e})"))?;
    if &buf[..8] != MAGIC {
        return Err("not a multipose worker of this version".into());
    }
    if buf[24..] != secret[..] {
        return Err("a multipose worker without this run's secret (MULTIPOSE_RDV_SECRET)".into());
    }
    let word = |i: usize| u32::from_le_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
    let mut print = [0u8; 8];
    print.copy_from_slice(&buf[16..24]);
    Ok((word(8) as usize, word(12) as usize, print))
}

/// Writes a length-prefixed message.
pub(super) fn write_frame(stream: &mut TcpStream, bytes: &[u8]) -> std::io::Result<()> {
    stream.write_all(&(bytes.len() as u64).to_le_bytes())?;
    stream.write_all(bytes)
}

/// Reads a length-prefixed message (at most 1 GiB).
pub(super) fn read_frame(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 8];
    stream.read_exact(&mut len)?;
    let len = u64::from_le_bytes(len);
    if len > 1 << 30 {
        return Err(std::io::Error::other(format!("a {len}-byte message")));
    }
    let mut bytes = vec![0u8; len as usize];
    stream.read_exact(&mut bytes)?;
    Ok(bytes)
}
