//! One worker process per device on this host: the same command line again, with the
//! torchrun variables set, supervised so that one rank's failure stops them all.
//!
//! Workers run in their own process group: a Ctrl-C at the terminal reaches only the
//! launcher, which passes it on once to every rank; the ranks agree at their next
//! optimiser step to stop, and rank 0 keeps the last complete epoch.

use crate::error::{Error, Result};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What to start.
#[derive(Debug, Clone)]
pub struct Launch {
    /// One worker per entry (named in messages); rank r gets LOCAL_RANK r.
    pub devices: Vec<String>,
    /// The program (normally this executable).
    pub program: PathBuf,
    /// Its arguments, the same for every rank.
    pub args: Vec<OsString>,
    /// How long the other ranks get to stop by themselves after one fails or after an
    /// interrupt, before they are killed.
    pub grace: Duration,
}

/// A started worker.
struct Worker {
    child: Child,
    status: Option<ExitStatus>,
}

/// Starts the workers and waits for all of them. `Ok` when every rank succeeded;
/// [`Error::Interrupted`] after `interrupt` was set; otherwise [`Error::Distributed`]
/// naming the first rank that failed and how.
pub fn launch(launch: &Launch, interrupt: &Arc<AtomicBool>) -> Result<()> {
    let port = free_port()?;
    let secret = new_secret();
    let mut workers: Vec<Worker> = Vec::new();
    for rank in 0..launch.devices.len() {
        match spawn(launch, rank, (port, &secret)) {
            Ok(child) => workers.push(Worker {
                child,
                status: None,
            }),
            Err(e) => {
                stop_all(&mut workers);
                return Err(e);
            }
        }
    }
    let mut first_failure: Option<usize> = None;
    let (mut forwarded, mut stopping_since) = (false, None::<Instant>);
    while workers.iter().any(|w| w.status.is_none()) {
        let mut failed = Vec::new();
        for (rank, w) in workers.iter_mut().enumerate() {
            if w.status.is_none()
                && let Ok(Some(s)) = w.child.try_wait()
            {
                w.status = Some(s);
                if !s.success() {
                    failed.push((rank, s));
                }
            }
        }
        if first_failure.is_none() && !failed.is_empty() {
            // Ranks that lose a peer exit with an error right after it: among failures
            // seen at once, one killed by a signal is the cause.
            let killed = failed.iter().find(|(_, s)| s.code().is_none());
            first_failure = killed.or(failed.first()).map(|(r, _)| *r);
            stopping_since.get_or_insert_with(Instant::now);
            // Said at once, and the others asked to stop now (they are killed after the
            // grace period): a rank that failed alone, say on a busy port before the
            // rendezvous, must not leave the user waiting in silence.
            if let Some(rank) = first_failure {
                eprintln!(
                    "rank {rank} ({}) failed; stopping the other ranks",
                    launch.devices[rank]
                );
            }
            for w in workers.iter().filter(|w| w.status.is_none()) {
                signal_interrupt(&w.child);
            }
            // Without rank 0 (the rendezvous, the collective's hub, the only writer of the
            // run folder) the others can neither go on nor save anything: stop them now,
            // even one still waiting at the rendezvous, where an interrupt does not reach.
            if first_failure == Some(0) {
                stop_all(&mut workers);
            }
        }
        if interrupt.load(Ordering::SeqCst) && !forwarded {
            forwarded = true;
            stopping_since.get_or_insert_with(Instant::now);
            for w in workers.iter().filter(|w| w.status.is_none()) {
                signal_interrupt(&w.child);
            }
        }
        if stopping_since.is_some_and(|t| t.elapsed() > launch.grace) {
            stop_all(&mut workers);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    outcome(launch, &workers, first_failure, forwarded)
}

fn outcome(
    launch: &Launch,
    workers: &[Worker],
    first_failure: Option<usize>,
    interrupted: bool,
) -> Result<()> {
    if interrupted {
        return Err(Error::Interrupted(format!(
            "all {} ranks stopped; the last complete epoch is kept",
            workers.len()
        )));
    }
    let Some(rank) = first_failure else {
        return Ok(());
    };
    let how = workers[rank]
        .status
        .map_or_else(|| "stopped".to_string(), describe);
    let others = workers.len() - 1;
    Err(Error::Distributed(format!(
        "rank {rank} ({}) {how}; the other {others} rank(s) were stopped, and nothing of the unfinished epoch was written",
        launch.devices[rank]
    )))
}

fn describe(status: ExitStatus) -> String {
    #[cfg(unix)]
    if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&status) {
        return format!("was killed by signal {signal}");
    }
    match status.code() {
        Some(code) => format!("exited with status {code} (its message is above)"),
        None => "ended abnormally".into(),
    }
}

/// A secret for one run's rendezvous, known only to the launcher and its workers.
fn new_secret() -> String {
    use sha2::{Digest, Sha256};
    let mut seed = Vec::new();
    // The kernel's random bytes where there are some; the clock and the process otherwise.
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let mut b = [0u8; 32];
        if std::io::Read::read_exact(&mut f, &mut b).is_ok() {
            seed.extend(b);
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    seed.extend(now.to_le_bytes());
    seed.extend(std::process::id().to_le_bytes());
    format!("{:x}", Sha256::digest(&seed))
}

fn spawn(launch: &Launch, rank: usize, (port, secret): (u16, &str)) -> Result<Child> {
    let mut command = Command::new(&launch.program);
    command
        .args(&launch.args)
        .env("WORLD_SIZE", launch.devices.len().to_string())
        .env("RANK", rank.to_string())
        .env("LOCAL_RANK", rank.to_string())
        .env("MASTER_ADDR", "127.0.0.1")
        .env("MASTER_PORT", port.to_string())
        .env("MULTIPOSE_RDV_SECRET", secret)
        .stdin(Stdio::null());
    // Each rank keeps a thread pool over all cores (no RAYON_NUM_THREADS share, unlike
    // torchrun's OMP_NUM_THREADS=1): measured on 2 H200s of a 32-core host, a 16-thread
    // share per rank cut the 2-GPU speed-up from 1.91 to 1.47.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    die_with_launcher(&mut command);
    command.spawn().map_err(|e| {
        Error::Distributed(format!(
            "starting rank {rank} ({}) as {}: {e}",
            launch.devices[rank],
            launch.program.display()
        ))
    })
}

/// Workers die with their launcher, `kill -9` included: the kernel sends each SIGTERM
/// when the launcher exits (its own process group keeps a terminal's Ctrl-C from reaching
/// the workers twice, so nothing else would stop them). A launcher gone before the
/// worker set this up means the worker exits at once.
#[cfg(target_os = "linux")]
fn die_with_launcher(command: &mut Command) {
    let launcher = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs between fork and exec and calls only async-signal-safe
    // functions (prctl, getppid, _exit).
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(command, move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != launcher {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

/// Elsewhere workers are stopped only by the launcher's own signals.
#[cfg(not(target_os = "linux"))]
fn die_with_launcher(_: &mut Command) {}

/// A port free now on this host, for the rendezvous (the OS picks it).
fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::Distributed(format!("finding a free port: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::Distributed(format!("finding a free port: {e}")))?
        .port();
    Ok(port)
}

fn stop_all(workers: &mut [Worker]) {
    for w in workers.iter_mut().filter(|w| w.status.is_none()) {
        let _ = w.child.kill();
        w.status = w.child.wait().ok();
    }
}

fn signal_interrupt(child: &Child) {
    #[cfg(unix)]
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) on a pid this process started and has not yet reaped.
        unsafe {
            libc::kill(pid, libc::SIGINT);
        }
    }
    #[cfg(not(unix))]
    let _ = child;
}
