//! The memory the process can still get: a tile whose estimate
//! ([`estimate_memory`](crate::estimate_memory)) exceeds it is refused up front (a 2048 x 2048 unit cell of
//! 256 devices takes 20 GB), with the estimate in the message, instead of failing half way or
//! being killed by the system when its pages are touched.

use crate::error::{Error, Result};

/// Refuses an `out_size x in_size` tile whose estimate (`estimate` bytes,
/// [`estimate_memory`](crate::estimate_memory)) is more than the process can allocate
/// ([`available_memory`]).
pub(crate) fn check_fits(out_size: usize, in_size: usize, estimate: u64) -> Result<()> {
    match available_memory() {
        Some(available) if estimate > available => Err(Error::OutOfMemory {
            what: format!(
                "a {out_size} x {in_size} tile of this configuration takes an estimated \
                 {} ({estimate} bytes), more than the {} this process can allocate",
                gib(estimate),
                gib(available)
            ),
            bytes: estimate,
        }),
        _ => Ok(()),
    }
}

/// `e`, when it is a failed allocation of an `out_size x in_size` tile, with the tile's
/// `estimate` in its message.
pub(crate) fn with_estimate(e: Error, out_size: usize, in_size: usize, estimate: u64) -> Error {
    match e {
        Error::OutOfMemory { what, bytes } => Error::OutOfMemory {
            what: format!(
                "{what} (a {out_size} x {in_size} tile takes an estimated {} in all)",
                gib(estimate)
            ),
            bytes,
        },
        e => e,
    }
}

/// `bytes` in GiB, for messages.
fn gib(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / f64::from(1u32 << 30))
}

/// What the process can still allocate, where the system says it (Linux): the memory the
/// system has available (`MemAvailable` and free swap in `/proc/meminfo`), and no more than
/// the address space its limit (`RLIMIT_AS`, `/proc/self/limits`) leaves beside what it maps
/// already (`VmSize`, `/proc/self/status`). `None` where it is not known.
pub fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let system = kib_field(&meminfo, "MemAvailable:")? + kib_field(&meminfo, "SwapFree:")?;
    let limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| address_space_limit(&limits));
    let mapped = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| kib_field(&status, "VmSize:"));
    Some(match (limit, mapped) {
        (Some(limit), Some(mapped)) => system.min(limit.saturating_sub(mapped)),
        _ => system,
    })
}

/// The value of the line `name  123 kB` of a `/proc` file, in bytes.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line[name.len()..].split_whitespace().next()?.parse().ok()?;
    Some(kib * 1024)
}

/// The soft limit of the line `Max address space  <soft> <hard> bytes` of
/// `/proc/self/limits` (`None` when unlimited).
fn address_space_limit(limits: &str) -> Option<u64> {
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max address space"))?;
    line["Max address space".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_fields_are_read_in_bytes() {
        let meminfo = "MemTotal:       24000000 kB\nMemAvailable:   1000 kB\nSwapFree: 0 kB\n";
        assert_eq!(kib_field(meminfo, "MemAvailable:"), Some(1_024_000));
        assert_eq!(kib_field(meminfo, "Missing:"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max address space         3221225472           unlimited            bytes\n";
        assert_eq!(address_space_limit(limits), Some(3 << 30));
        let unlimited =
            "Max address space         unlimited            unlimited            bytes\n";
        assert_eq!(address_space_limit(unlimited), None);
    }

    #[test]
    fn a_tile_beyond_the_memory_is_refused_with_its_estimate() {
        if let Some(available) = available_memory() {
            let e = check_fits(7, 9, available + 1).unwrap_err().to_string();
            assert!(
                e.contains("a 7 x 9 tile") && e.contains(&(available + 1).to_string()),
                "{e}"
            );
        }
        assert!(check_fits(7, 9, 1024).is_ok());
        let e = with_estimate(
            Error::OutOfMemory {
                what: "weights".into(),
                bytes: 8,
            },
            2,
            3,
            1 << 30,
        );
        assert_eq!(
            e.to_string(),
            "weights (a 2 x 3 tile takes an estimated 1.00 GiB in all): cannot allocate 8 bytes"
        );
    }
}
