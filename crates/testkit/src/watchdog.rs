//! The exit watchdog: cleanup that runs however this process ends.
//!
//! [`spawn`] starts `sh -c SCRIPT` in its own process group (so a Ctrl-C
//! aimed at the test run does not kill it first) with its stdin a pipe whose
//! write end only this process holds (Rust opens pipes close-on-exec, so no
//! other child inherits it). The script blocks reading stdin; EOF comes when
//! [`Watchdog`] is dropped or when this process dies in any way, and then the
//! script's cleanup runs.

use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};

use crate::{Result, io};

/// A running watchdog; dropping it fires the cleanup and waits for it.
#[derive(Debug)]
pub(crate) struct Watchdog {
    pipe: Option<ChildStdin>,
    child: Child,
}

/// Starts `script` under `sh -c`, with `args` as `$1…`. The script must read
/// stdin to EOF before cleaning up (`cat >/dev/null; cleanup`).
pub(crate) fn spawn(script: &str, args: &[&str]) -> Result<Watchdog> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sealpost-testkit-watchdog")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(io("spawn watchdog sh"))?;
    let pipe = child.stdin.take();
    Ok(Watchdog { pipe, child })
}

impl Watchdog {
    /// Whether the script has ended (for scripts that end on their own when
    /// the server they run dies).
    pub(crate) fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.pipe.take());
        let _ = self.child.wait();
    }
}
