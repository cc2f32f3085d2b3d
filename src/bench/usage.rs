//! CPU time and memory of the load generator itself and of the server it drives,
//! so that figures can be given per operation, independent of throughput.

use std::time::Duration;

use super::shared::round2;

/// CPU time of this process, from getrusage (microsecond resolution).
#[derive(Debug, Clone, Copy)]
pub struct SelfSample {
    cpu: Duration,
}

impl SelfSample {
    pub fn now() -> Self {
        // SAFETY: getrusage only writes the struct we pass.
        let usage = unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            libc::getrusage(libc::RUSAGE_SELF, &mut usage);
            usage
        };
        let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        Self {
            cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        }
    }

    pub fn cpu_since(&self, earlier: &SelfSample) -> Duration {
        self.cpu.saturating_sub(earlier.cpu)
    }
}

/// CPU time (utime + stime) and resident memory of another process, from /proc.
#[derive(Debug, Clone, Copy)]
pub struct ProcessSample {
    pub cpu: Duration,
    pub rss_kib: u64,
}

impl ProcessSample {
    pub fn read(pid: u32) -> std::io::Result<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let bad = || {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("unexpected /proc/{pid} format"),
            )
        };
        let ticks = parse_cpu_ticks(&stat).ok_or_else(bad)?;
        let rss_kib = parse_rss_kib(&status).ok_or_else(bad)?;
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Ok(Self {
            cpu: Duration::from_secs_f64(ticks as f64 / hz as f64),
            rss_kib,
        })
    }
}

/// Several processes taken as one server (the nodes of a cluster): CPU time and
/// resident memory add up.
impl<'a> std::iter::Sum<&'a ProcessSample> for ProcessSample {
    fn sum<I: Iterator<Item = &'a ProcessSample>>(samples: I) -> Self {
        samples.fold(
            ProcessSample {
                cpu: Duration::ZERO,
                rss_kib: 0,
            },
            |total, sample| ProcessSample {
                cpu: total.cpu + sample.cpu,
                rss_kib: total.rss_kib + sample.rss_kib,
            },
        )
    }
}

impl ProcessSample {
    /// Idle figures: bytes of resident memory grown since `before` per item held
    /// (a connection, a client), to 2 decimals; None without items.
    pub fn rss_growth_per(&self, before: &ProcessSample, items: u64) -> Option<f64> {
        (items > 0).then(|| {
            round2(self.rss_kib.saturating_sub(before.rss_kib) as f64 * 1024.0 / items as f64)
        })
    }
}

/// utime + stime, in clock ticks, from the text of /proc/PID/stat. The command
/// name in field 2 may hold spaces and parentheses, so fields count from the last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn parse_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let stat = "1234 (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
    }

    #[test]
    fn rss_from_status() {
        let status = "Name:\tnetkit\nVmPeak:\t  9000 kB\nVmRSS:\t    5120 kB\nThreads:\t3\n";
        assert_eq!(parse_rss_kib(status), Some(5120));
    }

    #[test]
    fn rss_growth_per_item() {
        let at = |rss_kib| ProcessSample {
            cpu: Duration::ZERO,
            rss_kib,
        };
        assert_eq!(at(1300).rss_growth_per(&at(1000), 100), Some(3072.0));
        assert_eq!(at(900).rss_growth_per(&at(1000), 100), Some(0.0));
        assert_eq!(at(1300).rss_growth_per(&at(1000), 0), None);
    }

    #[test]
    fn samples_of_several_processes_add_up() {
        let at = |ms, rss_kib| ProcessSample {
            cpu: Duration::from_millis(ms),
            rss_kib,
        };
        let total: ProcessSample = [at(250, 1000), at(750, 3000)].iter().sum();
        assert_eq!(total.cpu, Duration::from_secs(1));
        assert_eq!(total.rss_kib, 4000);
        let none: ProcessSample = [].iter().sum();
        assert_eq!((none.cpu, none.rss_kib), (Duration::ZERO, 0));
    }

    #[test]
    fn reads_this_process() {
        let sample = ProcessSample::read(std::process::id()).unwrap();
        assert!(sample.rss_kib > 0);
    }
}
