//! The `multipose` command; everything it does is in the library.

mod cli;

fn main() {
    if let Err(e) = cli::run() {
        // A data-parallel worker names itself: every rank may report. An interruption is
        // reported once, by rank 0.
        let rank = std::env::var("WORLD_SIZE")
            .ok()
            .and(std::env::var("RANK").ok());
        let follower = rank.as_deref().is_some_and(|r| r != "0");
        if !(follower && exit_code(&e) == 130) {
            let name = rank.map_or(String::new(), |r| format!(" (rank {r})"));
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
