//! The `multipose` command; everything it does is in the library.

mod cli;

fn main() {
    if let Err(e) = cli::run() {
        // A data-parallel worker names itself: every rank may report. An interruption is
        // reported once, by rank 0.
        let world = multipose::distributed::WorkerEnv::from_env()
            .ok()
            .flatten()
            .map(|w| w.world);
        let follower = world.is_some_and(|w| !w.is_leader());
        if !(follower && exit_code(&e) == 130) {
            let name = world.map_or(String::new(), |w| format!(" (rank {})", w.rank));
            eprintln!("error{name}: {}", report(&e));
        }
        std::process::exit(exit_code(&e));
    }
}

/// The error and its causes, each said once: a cause whose text its parent's message
/// already holds (an I/O error inside "path: error") is not repeated.
fn report(e: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !message.contains(&text) {
            if !message.is_empty() {
                message.push_str(": ");
            }
            message.push_str(&text);
        }
    }
    message
}

/// 130 for an interruption (as a shell reports Ctrl-C), 1 for everything else.
fn exit_code(e: &anyhow::Error) -> i32 {
    let interrupted = e
        .chain()
        .any(|c| matches!(c.downcast_ref(), Some(multipose::Error::Interrupted(_))));
    if interrupted { 130 } else { 1 }
}
