//! Process accounting from `/proc` (proc(5)): CPU time of a process, its resident memory, the CPU
//! time of the calling thread, and a description of the machine.

use std::process::Command;

use serde::Serialize;

/// `utime + stime` in clock ticks: fields 14 and 15 of `/proc/<pid>/stat`. The command name
/// (field 2) may contain spaces and parentheses, so fields are counted after its last `)`.
pub fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    parse_stat_cpu_split(stat).map(|(utime, stime)| utime + stime)
}

/// `(utime, stime)` in clock ticks, from the text of `/proc/<pid>/stat`.
fn parse_stat_cpu_split(stat: &str) -> Option<(u64, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11); // field 3 is the first after ')'
    Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
}

/// `(utime, stime)` of a process in clock ticks.
pub fn cpu_split(pid: u32) -> anyhow::Result<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_stat_cpu_split(&stat).ok_or_else(|| anyhow::anyhow!("cannot parse /proc/{pid}/stat"))
}

/// A `kB` value of `/proc/<pid>/status` such as `VmRSS` or `VmHWM`, in KiB.
pub fn parse_status_kib(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix(':')?;
        value.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on every Linux we know of).
pub fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|t| *t > 0)
        .unwrap_or(100)
}

/// CPU time and memory of one process at one moment.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Sample {
    pub cpu_ticks: u64,
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

/// Reads `/proc/<pid>/stat` and `/proc/<pid>/status`; `pid` `None` means this process.
pub fn sample(pid: Option<u32>) -> anyhow::Result<Sample> {
    let base = pid.map_or_else(|| "/proc/self".to_owned(), |p| format!("/proc/{p}"));
    let stat = std::fs::read_to_string(format!("{base}/stat"))?;
    let status = std::fs::read_to_string(format!("{base}/status"))?;
    let cpu_ticks = parse_stat_cpu_ticks(&stat).ok_or_else(|| anyhow::anyhow!("cannot parse {base}/stat"))?;
    Ok(Sample {
        cpu_ticks,
        rss_kib: parse_status_kib(&status, "VmRSS").unwrap_or(0),
        hwm_kib: parse_status_kib(&status, "VmHWM").unwrap_or(0),
    })
}

/// CPU time of the calling thread in nanoseconds (first field of `/proc/thread-self/schedstat`):
/// nanosecond resolution, and unaffected by time the thread spends waiting for a CPU while other
/// work (a compiler next door) runs.
pub fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu_model: String,
    pub kernel: String,
    pub memory_mib: u64,
    /// `/proc/loadavg` when the run started and when it ended: other work on the machine
    /// (compilers) shows up here and makes latencies noisier than CPU-per-request figures.
    pub loadavg_start: String,
    pub loadavg_end: String,
}

impl Machine {
    pub fn describe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Self {
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model: cpu_model(&cpuinfo).unwrap_or_else(|| "unknown".into()),
            kernel: read_trimmed("/proc/sys/kernel/osrelease"),
            memory_mib: parse_status_kib(&meminfo, "MemTotal").unwrap_or(0) / 1024,
            loadavg_start: loadavg(),
            loadavg_end: String::new(),
        }
    }
}

pub fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == "model name").then(|| v.trim().to_owned())
    })
}

pub fn loadavg() -> String {
    read_trimmed("/proc/loadavg").split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path).map(|s| s.trim().to_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_a_tricky_command_name() {
        let stat = "4242 (we ird) name)) S 1 4242 4242 0 -1 4194560 500 0 0 0 731 269 0 0 20 0 9 0 100 0 0";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(1000));
        assert_eq!(parse_stat_cpu_ticks("garbage"), None);
        assert_eq!(parse_stat_cpu_ticks("1 (x) S 1 2"), None);
    }

    #[test]
    fn status_values() {
        let status = "Name:\tgatehouse\nVmPeak:\t  900 kB\nVmHWM:\t   20480 kB\nVmRSS:\t   12345 kB\n";
        assert_eq!(parse_status_kib(status, "VmRSS"), Some(12345));
        assert_eq!(parse_status_kib(status, "VmHWM"), Some(20480));
        assert_eq!(parse_status_kib(status, "VmSwap"), None);
        assert_eq!(parse_status_kib("MemTotal:       24684000 kB\n", "MemTotal"), Some(24_684_000));
    }

    #[test]
    fn own_process_and_thread_are_readable() {
        let s = sample(None).unwrap();
        assert!(s.rss_kib > 0 && s.hwm_kib >= s.rss_kib);
        assert!(thread_cpu_ns().is_some());
        assert!(clock_ticks() > 0);
    }

    #[test]
    fn cpu_model_line() {
        assert_eq!(cpu_model("processor\t: 0\nmodel name\t: AMD EPYC 7B13\n").as_deref(), Some("AMD EPYC 7B13"));
        assert_eq!(cpu_model(""), None);
    }
}
