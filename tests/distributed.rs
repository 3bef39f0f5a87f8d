//! Data-parallel training without a GPU: the TCP collective and rendezvous between
//! threads, the launcher's failure paths with stand-in workers, and `multipose train
//! --engine.devices cpu,cpu` against one process on real data (same losses to f32
//! rounding, Ctrl-C and resume). The NCCL path is exercised on the GPU machine
//! (docs/distributed.md).

mod common;

use candle_core::{Device, Tensor};
use multipose::distributed::{Collective, Launch, WorkerEnv, World, launch};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn env(rank: usize, size: usize, port: u16, timeout_s: u64) -> WorkerEnv {
    WorkerEnv {
        world: World { rank, size },
        local_rank: rank,
        master_addr: "127.0.0.1".into(),
        master_port: port,
        timeout: Duration::from_secs(timeout_s),
        secret: "test secret".into(),
    }
}

/// Runs `f(rank)` on `size` threads joined as one world; results by rank.
fn ranks<T: Send + 'static>(
    size: usize,
    configs: &[&'static str],
    f: impl Fn(multipose::Result<Collective>) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let (port, f) = (free_port(), Arc::new(f));
    let handles: Vec<_> = (0..size)
        .map(|r| {
            let (f, config) = (f.clone(), configs[r.min(configs.len() - 1)]);
            std::thread::spawn(move || {
                f(Collective::join(
                    Some(&env(r, size, port, 20)),
                    &Device::Cpu,
                    config,
                ))
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn tcp_ranks_receive_the_same_sum() {
    let sums = ranks(3, &["config"], |c| {
        let c = c.unwrap();
        let r = c.world().rank as f64;
        let mut host = vec![r + 0.1, r * 1e-17, -r];
        c.all_reduce(&mut host).unwrap();
        let t = Tensor::new(&[[r, 2.0 * r], [1.0, 0.5]], &Device::Cpu).unwrap();
        let summed = c.all_reduce_tensors(&[t]).unwrap();
        (host, summed[0].to_vec2::<f64>().unwrap(), c.world())
    });
    for (r, (host, tensor, world)) in sums.iter().enumerate() {
        assert_eq!(*world, World { rank: r, size: 3 });
        assert_eq!(host, &sums[0].0, "identical bits on every rank");
        assert!((host[0] - 3.3).abs() < 1e-12 && (host[2] + 3.0).abs() < 1e-12);
        assert_eq!(tensor, &vec![vec![3.0, 6.0], vec![3.0, 1.5]]);
    }
}

#[test]
fn rendezvous_refuses_a_rank_with_another_configuration() {
    let results = ranks(2, &["config a", "config b"], |c| {
        c.err().map(|e| e.to_string())
    });
    let leader = results[0].clone().expect("rank 0 refuses");
    assert!(leader.contains("different configuration"), "{leader}");
    let follower = results[1].clone().expect("rank 1 is told");
    assert!(follower.contains("rank 0 refused rank 1"), "{follower}");
}

#[test]
fn rendezvous_names_the_ranks_that_never_came() {
    let port = free_port();
    let lonely = std::thread::spawn(move || {
        Collective::join(Some(&env(0, 3, port, 1)), &Device::Cpu, "c").map(|_| ())
    });
    let one = std::thread::spawn(move || {
        Collective::join(Some(&env(1, 3, port, 1)), &Device::Cpu, "c").map(|_| ())
    });
    let e = lonely.join().unwrap().unwrap_err().to_string();
    assert!(e.contains("rank(s) 2 did not join"), "{e}");
    assert!(one.join().unwrap().is_err(), "rank 1 learns rank 0 gave up");
}

fn stand_ins(script: &str, ranks: usize, grace_s: u64) -> Launch {
    Launch {
        devices: (0..ranks).map(|r| format!("dev{r}")).collect(),
        program: PathBuf::from("sh"),
        args: vec!["-c".into(), script.into()],
        grace: Duration::from_secs(grace_s),
    }
}

#[test]
fn launcher_sets_the_worker_environment_and_waits_for_all() {
    let script = r#"test "$WORLD_SIZE" = 3 && test "$LOCAL_RANK" = "$RANK" && test -n "$MASTER_PORT" && test "$MASTER_ADDR" = 127.0.0.1"#;
    launch(&stand_ins(script, 3, 5), &Arc::new(AtomicBool::new(false))).unwrap();
}

#[test]
fn launcher_names_the_first_failed_rank_and_stops_the_others() {
    let start = Instant::now();
    let script = r#"if [ "$RANK" = 1 ]; then exit 3; fi; sleep 60"#;
    let e = launch(&stand_ins(script, 3, 1), &Arc::new(AtomicBool::new(false)))
        .unwrap_err()
        .to_string();
    assert!(e.contains("rank 1 (dev1) exited with status 3"), "{e}");
    assert!(e.contains("other 2 rank(s) were stopped"), "{e}");
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "the sleepers were killed"
    );
    let script = r#"if [ "$RANK" = 0 ]; then kill -9 $$; fi; sleep 60"#;
    let e = launch(&stand_ins(script, 2, 1), &Arc::new(AtomicBool::new(false)))
        .unwrap_err()
        .to_string();
    assert!(e.contains("rank 0 (dev0) was killed by signal 9"), "{e}");
}

#[test]
fn launcher_reports_a_program_it_cannot_start() {
    let mut l = stand_ins("true", 2, 1);
    l.program = PathBuf::from("/nonexistent/multipose");
    let e = launch(&l, &Arc::new(AtomicBool::new(false)))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("starting rank 0 (dev0) as /nonexistent/multipose"),
        "{e}"
    );
}

#[test]
fn launcher_passes_an_interrupt_to_every_rank() {
    let flag = Arc::new(AtomicBool::new(false));
    let setter = flag.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        setter.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let start = Instant::now();
    let script = r#"trap 'exit 130' INT; sleep 60 & wait"#;
    let e = launch(&stand_ins(script, 2, 30), &flag).unwrap_err();
    assert!(matches!(e, multipose::Error::Interrupted(_)), "{e}");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "ranks stopped on the signal"
    );
}

/// `multipose train` of a small model on `data` into `dir`.
fn command(dir: &Path, data: &Path, extra: &[&str]) -> Command {
    let path = format!("{}", data.display());
    let mut args = vec![
        "train",
        "--quiet",
        "--out",
        dir.to_str().unwrap(),
        "--data.path",
        &path,
        "--data.pocket_radius",
        "5",
        "--model.hidden_channels",
        "16",
        "--model.num_filters",
        "16",
        "--model.num_interactions",
        "2",
        "--model.num_gaussians",
        "10",
        "--model.cutoff",
        "5",
        "--model.max_num_neighbors",
        "8",
        "--optim.batch_size",
        "3",
        "--optim.lr",
        "0.01",
        "--split.train",
        "0.6",
        "--split.val",
        "0.2",
        "--split.test",
        "0.2",
        "--early_stopping.kind",
        "none",
    ];
    args.extend_from_slice(extra);
    let mut command = Command::new(env!("CARGO_BIN_EXE_multipose"));
    command.args(&args);
    command
}

fn train(dir: &Path, data: &Path, extra: &[&str]) -> std::process::Output {
    command(dir, data, extra).output().unwrap()
}

fn metrics(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("multipose-dp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn two_cpu_ranks_train_as_one_process_and_resume() {
    let base = scratch("e2e");
    let data = base.join("data");
    common::tyk2_slice(&data);
    let one = train(&base.join("one"), &data, &["--optim.epochs", "3"]);
    assert!(
        one.status.success(),
        "{}",
        String::from_utf8_lossy(&one.stderr)
    );
    let (two_dir, epochs) = (base.join("two"), ["--optim.epochs", "3"]);
    let devices = ["--engine.devices", "cpu,cpu"];
    let two = train(&two_dir, &data, &[&epochs[..], &devices[..]].concat());
    assert!(
        two.status.success(),
        "{}",
        String::from_utf8_lossy(&two.stderr)
    );
    let stdout = String::from_utf8_lossy(&two.stdout);
    assert_eq!(
        stdout.matches("epochs (best").count(),
        1,
        "rank 0 alone reports: {stdout}"
    );
    let (a, b) = (metrics(&base.join("one")), metrics(&two_dir));
    assert_eq!(a.len(), 3);
    for (x, y) in a.iter().zip(&b) {
        for key in ["train_loss", "val_loss"] {
            let (x, y) = (x[key].as_f64().unwrap(), y[key].as_f64().unwrap());
            assert!(
                (x - y).abs() <= 1e-4 * x.abs().max(1.0),
                "{key}: {x} vs {y}"
            );
        }
        assert_eq!(y["parallel"]["ranks"], 2, "{y}");
        assert!(x.get("parallel").is_none());
    }
    // Resume relaunches the same two ranks from the saved config.
    resume_one_more(&two_dir);
    assert_eq!(metrics(&two_dir)[3]["parallel"]["ranks"], 2);
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn a_rank_with_no_compound_in_a_batch_still_steps_with_the_others() {
    let base = scratch("empty-share");
    let data = base.join("data");
    common::tyk2_slice(&data);
    // One compound per batch: every step, one of the two ranks computes nothing.
    let single = ["--optim.epochs", "2", "--optim.batch_size", "1"];
    let one = train(&base.join("one"), &data, &single);
    assert!(
        one.status.success(),
        "{}",
        String::from_utf8_lossy(&one.stderr)
    );
    let two = train(
        &base.join("two"),
        &data,
        &[&single[..], &["--engine.devices", "cpu,cpu"]].concat(),
    );
    assert!(
        two.status.success(),
        "{}",
        String::from_utf8_lossy(&two.stderr)
    );
    for (x, y) in metrics(&base.join("one"))
        .iter()
        .zip(&metrics(&base.join("two")))
    {
        let (x, y) = (
            x["train_loss"].as_f64().unwrap(),
            y["train_loss"].as_f64().unwrap(),
        );
        assert!((x - y).abs() <= 1e-4 * x.abs().max(1.0), "{x} vs {y}");
    }
    let _ = std::fs::remove_dir_all(&base);
}

/// A two-rank CPU run that would go on for ever, once its first epoch is saved.
fn long_run(base: &Path) -> (std::process::Child, PathBuf) {
    let data = base.join("data");
    common::tyk2_slice(&data);
    let dir = base.join("run");
    let forever = ["--optim.epochs", "100000", "--engine.devices", "cpu,cpu"];
    let child = command(&dir, &data, &forever)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !dir.join("metrics.jsonl").is_file() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    (child, dir)
}

/// Resumes the stopped run for one more epoch; its epochs are whole and in order.
fn resume_one_more(dir: &Path) {
    let done = metrics(dir).len();
    let next = (done + 1).to_string();
    let more = Command::new(env!("CARGO_BIN_EXE_multipose"))
        .args([
            "train",
            "--quiet",
            "--resume",
            dir.to_str().unwrap(),
            "--optim.epochs",
            &next,
        ])
        .output()
        .unwrap();
    assert!(
        more.status.success(),
        "{}",
        String::from_utf8_lossy(&more.stderr)
    );
    let lines = metrics(dir);
    assert_eq!(lines.len(), done + 1, "whole epochs only, then one more");
    for (k, l) in lines.iter().enumerate() {
        assert_eq!(l["epoch"], k + 1);
    }
}

#[test]
fn ctrl_c_stops_every_rank_and_the_run_resumes() {
    let base = scratch("sigint");
    let (child, dir) = long_run(&base);
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("multipose train --resume"), "{stderr}");
    assert!(
        !stderr.contains("(rank 1)"),
        "rank 1 stops silently: {stderr}"
    );
    resume_one_more(&dir);
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn conflicting_device_settings_are_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_multipose"))
        .args([
            "train",
            "--engine.gpus",
            "2",
            "--engine.devices",
            "cuda:0,cuda:1",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("engine.gpus"),
        "{stderr}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_multipose"))
        .args(["train", "--engine.devices", "tpu:0,tpu:1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("engine.devices"),
        "{stderr}"
    );
}

/// Child processes of `pid` (Linux).
fn children(pid: u32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

#[test]
fn a_killed_rank_stops_the_run_which_then_resumes() {
    let base = scratch("kill");
    let (child, dir) = long_run(&base);
    let ranks = children(child.id());
    assert_eq!(ranks.len(), 2, "two workers: {ranks:?}");
    // SAFETY: kill(2) on a worker our child started.
    unsafe {
        libc::kill(ranks[1], libc::SIGKILL);
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("rank 1 (cpu) was killed by signal 9"),
        "{stderr}"
    );
    assert!(stderr.contains("multipose train --resume"), "{stderr}");
    resume_one_more(&dir);
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn workers_die_with_a_launcher_killed_by_signal_9() {
    let base = scratch("orphans");
    let (mut child, _dir) = long_run(&base);
    let launcher = child.id().to_string();
    let listed = Command::new("pgrep")
        .args(["-P", &launcher])
        .output()
        .unwrap();
    let workers: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(
        workers.len(),
        2,
        "two ranks under the launcher: {workers:?}"
    );
    Command::new("kill")
        .args(["-9", &launcher])
        .status()
        .unwrap();
    child.wait().unwrap();
    let alive = |pid: &str| {
        // A zombie (dead, not yet reaped by init) counts as gone.
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.split_whitespace().nth(2).is_none_or(|st| st != "Z"))
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while workers.iter().any(|w| alive(w)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        workers.iter().all(|w| !alive(w)),
        "workers {workers:?} outlived their launcher"
    );
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn strangers_at_the_rendezvous_are_dropped_and_the_ranks_still_meet() {
    let port = free_port();
    let rank0 = std::thread::spawn(move || {
        Collective::join(Some(&env(0, 2, port, 20)), &Device::Cpu, "config").map(|c| c.world())
    });
    let connect = || loop {
        if let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            break s;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // A browser, a client that says nothing, and a worker of another run (its secret).
    let mut http = connect();
    std::io::Write::write_all(&mut http, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let _idle = connect();
    let other_run = std::thread::spawn(move || {
        let mut e = env(1, 2, port, 5);
        e.secret = "another run".into();
        Collective::join(Some(&e), &Device::Cpu, "config").is_err()
    });
    let started = Instant::now();
    let rank1 = Collective::join(Some(&env(1, 2, port, 20)), &Device::Cpu, "config").unwrap();
    assert_eq!(rank1.world(), World { rank: 1, size: 2 });
    assert_eq!(rank0.join().unwrap().unwrap(), World { rank: 0, size: 2 });
    assert!(
        other_run.join().unwrap(),
        "a rank without the secret joined"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the strangers held the rendezvous up for {:?}",
        started.elapsed()
    );
}

#[test]
fn a_rank_that_fails_alone_stops_the_others_at_once_not_after_the_grace_period() {
    let start = Instant::now();
    // Rank 0 fails at once; the others would wait (as at the rendezvous) but stop on SIGINT.
    let script = r#"if [ "$RANK" = 0 ]; then exit 2; fi; trap 'exit 130' INT; sleep 60 & wait"#;
    let e = launch(&stand_ins(script, 3, 30), &Arc::new(AtomicBool::new(false)))
        .unwrap_err()
        .to_string();
    assert!(e.contains("rank 0 (dev0) exited with status 2"), "{e}");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}: the others waited out the 30 s grace period",
        start.elapsed()
    );
}
