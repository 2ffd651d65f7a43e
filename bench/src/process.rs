//! CPU time and peak memory of a process, read from Linux's `/proc`: what one message costs
//! the system under test (CPU µs per message) is the figure that stays comparable across
//! machines, where msg/s does not.

use serde::Serialize;

/// `/proc/PID/stat` counts CPU time in USER_HZ ticks, which Linux fixes at 100 on every
/// architecture it exports to user space (`sysconf(_SC_CLK_TCK)`), so 10 ms a tick.
const TICK_MICROS: u64 = 10_000;

/// User plus system CPU time of `pid`, in microseconds.
pub fn cpu_micros(pid: u32) -> std::io::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_cpu_ticks(&stat)
        .map(|ticks| ticks * TICK_MICROS)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "unreadable stat"))
}

/// utime + stime (fields 14 and 15) of a stat line. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted after its last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    // After the name: state is field 3, so utime (14) is the 12th from here.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Peak resident memory of `pid` (VmHWM) in KiB.
pub fn peak_rss_kib(pid: u32) -> std::io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "no VmHWM"))
}

/// What the processes of the system under test spent during a run (a gateway may be one
/// process, or a broker, a store and workers).
#[derive(Debug, Clone, Serialize)]
pub struct ProcessUsage {
    pub pids: Vec<u32>,
    /// CPU time (user + system) of all of them during the run, in µs; 10 ms resolution.
    pub cpu_micros: u64,
    /// `cpu_micros` divided by the messages accepted.
    pub cpu_micros_per_message: f64,
    /// CPU cores kept busy on average: CPU time over wall time.
    pub cores: f64,
    /// Peak resident set of each since it started (VmHWM), added up, KiB.
    pub peak_rss_kib: u64,
}

/// CPU time of a set of processes at the start of a run.
#[derive(Debug, Clone)]
pub struct CpuMark {
    pids: Vec<u32>,
    micros: u64,
}

fn total_cpu_micros(pids: &[u32]) -> std::io::Result<u64> {
    pids.iter().map(|&pid| cpu_micros(pid)).sum()
}

impl CpuMark {
    pub fn now(pid: u32) -> std::io::Result<Self> {
        Self::of(&[pid])
    }

    pub fn of(pids: &[u32]) -> std::io::Result<Self> {
        Ok(Self {
            pids: pids.to_vec(),
            micros: total_cpu_micros(pids)?,
        })
    }

    /// What the processes spent since the mark, over `messages` and `wall_secs`.
    pub fn usage(&self, messages: u64, wall_secs: f64) -> std::io::Result<ProcessUsage> {
        let spent = total_cpu_micros(&self.pids)?.saturating_sub(self.micros);
        Ok(ProcessUsage {
            pids: self.pids.clone(),
            cpu_micros: spent,
            cpu_micros_per_message: if messages == 0 {
                0.0
            } else {
                spent as f64 / messages as f64
            },
            cores: if wall_secs > 0.0 {
                spent as f64 / 1e6 / wall_secs
            } else {
                0.0
            },
            peak_rss_kib: self
                .pids
                .iter()
                .map(|&pid| peak_rss_kib(pid))
                .sum::<std::io::Result<u64>>()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_name() {
        let stat = "4242 (tern (node) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 \
                    250 75 0 0 20 0 9 0 100 1000 200 0";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn own_process_is_readable() {
        let pid = std::process::id();
        assert!(peak_rss_kib(pid).unwrap() > 0);
        let mark = CpuMark::now(pid).unwrap();
        let usage = mark.usage(10, 1.0).unwrap();
        assert_eq!(usage.pids, vec![pid]);
    }
}
