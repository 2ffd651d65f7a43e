//! The cluster's processes: started in a process group of their own with their output in a
//! log file, so that they outlive the command that started them and a Ctrl-C in its
//! terminal does not reach them; and signalled by PID only while that PID still names the
//! process that was started (its start time in `/proc` must match), never a stranger that
//! was given a recycled PID after a reboot or a long pause.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rustix::process::{kill_process, Pid, Signal};
use serde::{Deserialize, Serialize};

/// One started process: its PID and when the kernel says it began.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessId {
    pub pid: u32,
    /// Field 22 of `/proc/PID/stat`: clock ticks after boot at which the process started.
    pub start_ticks: u64,
}

impl ProcessId {
    /// Whether this process still runs (a zombie, exited but not reaped, does not).
    pub fn running(self) -> bool {
        alive(self)
    }
}

/// Runs `program` with `args` in `cwd`, in a new process group, stdin from /dev/null and
/// stdout and stderr appended to `log`.
pub fn spawn(program: &Path, args: &[String], cwd: &Path, log: &Path) -> anyhow::Result<Child> {
    spawn_with(program, args, cwd, log, &[])
}

/// [`spawn`] with more environment variables.
pub fn spawn_with(
    program: &Path,
    args: &[String],
    cwd: &Path,
    log: &Path,
    env: &[(String, String)],
) -> anyhow::Result<Child> {
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let err = out
        .try_clone()
        .with_context(|| format!("opening {}", log.display()))?;
    Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {}", program.display()))
}

/// The id of a child this process just started.
pub fn id_of(child: &Child) -> anyhow::Result<ProcessId> {
    let pid = child.id();
    let start_ticks = stat(pid)
        .map(|s| s.start_ticks)
        .with_context(|| format!("reading /proc/{pid}/stat of a process just started"))?;
    Ok(ProcessId { pid, start_ticks })
}

/// What `/proc/PID/stat` tells about a process.
struct Stat {
    /// `R`, `S`, `T` (stopped), `Z` (exited, not reaped yet), ...
    state: char,
    start_ticks: u64,
}

fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces and ')': the
    // fields after the last ')' start with the state (field 3).
    let (_, rest) = text.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // Field 22 is the 20th after the state.
    let start_ticks = fields.nth(18)?.parse().ok()?;
    Some(Stat { state, start_ticks })
}

/// Whether `id` still runs (a zombie, exited but not reaped, does not).
pub fn alive(id: ProcessId) -> bool {
    stat(id.pid).is_some_and(|s| s.start_ticks == id.start_ticks && s.state != 'Z')
}

/// Sends `signal` to `id`; false when the process is gone (nothing was sent).
pub fn signal(id: ProcessId, signal: Signal) -> anyhow::Result<bool> {
    if !alive(id) {
        return Ok(false);
    }
    let Some(pid) = i32::try_from(id.pid).ok().and_then(Pid::from_raw) else {
        return Ok(false);
    };
    match kill_process(pid, signal) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::SRCH) => Ok(false),
        Err(error) => Err(error).with_context(|| format!("signalling PID {}", id.pid)),
    }
}

/// The processes this process started, so that they are reaped when they end: a child
/// that is not waited for stays a zombie, and its PID seems to run.
#[derive(Default)]
pub struct Children {
    children: HashMap<u32, Child>,
}

impl Children {
    pub fn adopt(&mut self, child: Child) {
        self.children.insert(child.id(), child);
    }

    /// Forgets every child: they go on running after this process ends.
    pub fn release(&mut self) {
        self.children.clear();
    }

    /// Whether `id` still runs, reaping it when it has ended.
    pub fn alive(&mut self, id: ProcessId) -> bool {
        if let Some(child) = self.children.get_mut(&id.pid) {
            if !matches!(child.try_wait(), Ok(None)) {
                self.children.remove(&id.pid);
            }
        }
        alive(id)
    }

    /// How a child of this process ended, when it has.
    pub fn exit_status(&mut self, id: ProcessId) -> Option<std::process::ExitStatus> {
        let child = self.children.get_mut(&id.pid)?;
        child.try_wait().ok().flatten()
    }

    /// SIGTERM to each of `ids`, then SIGKILL to those still running after `grace`;
    /// returns once all are gone. A stopped process also gets SIGCONT, or it would act on
    /// SIGTERM only once something else woke it.
    pub fn terminate(&mut self, ids: &[ProcessId], grace: Duration) -> anyhow::Result<()> {
        for id in ids {
            if signal(*id, Signal::TERM)? {
                signal(*id, Signal::CONT)?;
            }
        }
        if self.wait_gone(ids, grace) {
            return Ok(());
        }
        self.kill(ids)
    }

    /// SIGKILL to each of `ids`; returns once all are gone.
    pub fn kill(&mut self, ids: &[ProcessId]) -> anyhow::Result<()> {
        for id in ids {
            signal(*id, Signal::KILL)?;
        }
        // A process in uninterruptible sleep (a disk that hangs) outlives SIGKILL a while.
        if self.wait_gone(ids, Duration::from_secs(10)) {
            return Ok(());
        }
        let left: Vec<u32> = ids
            .iter()
            .filter(|id| alive(**id))
            .map(|id| id.pid)
            .collect();
        anyhow::bail!("still running 10 s after SIGKILL: PID {left:?}")
    }

    /// Polls until every one of `ids` is gone or `limit` passes; true when all are gone.
    fn wait_gone(&mut self, ids: &[ProcessId], limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if !ids.iter().any(|id| self.alive(*id)) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_started_process_is_alive_until_killed_and_then_never_signalled() {
        let dir = std::env::temp_dir();
        let log = dir.join(format!("tern-chaos-process-{}.log", std::process::id()));
        let child = spawn(Path::new("sleep"), &["30".to_owned()], &dir, &log).unwrap();
        let id = id_of(&child).unwrap();
        let mut children = Children::default();
        children.adopt(child);
        assert!(children.alive(id));
        // Another start time is another process, whatever the PID.
        let stranger = ProcessId {
            start_ticks: id.start_ticks + 1,
            ..id
        };
        assert!(!alive(stranger));
        assert!(!signal(stranger, Signal::KILL).unwrap());
        assert!(signal(id, Signal::STOP).unwrap());
        // Stopped, it still ends on SIGTERM.
        children.terminate(&[id], Duration::from_secs(5)).unwrap();
        assert!(!children.alive(id));
        assert!(children.exit_status(id).is_none(), "reaped and forgotten");
        assert!(!signal(id, Signal::TERM).unwrap());
        let _ = std::fs::remove_file(log);
    }
}
