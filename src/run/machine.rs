//! The machine a run computed on, as far as it decides the bits of the figures.
//!
//! Why: `metrics.csv` is byte-identical for one spec and seed only on one arithmetic path. The
//! matrix-multiply crate under candle (gemm) picks its kernels from the CPU's SIMD features
//! (FMA or scalar; its AVX-512 kernels are not compiled into this build) and its k-blocking
//! from the L1 data cache's size and associativity, which it reads from sysfs. Two machines
//! that differ in either train other STAN weights from the same seed; across machines the
//! reproducible quantity is the distribution over seeds (README, "Reproducibility").

use serde::{Deserialize, Serialize};

/// What the manifest records of the machine (`machine`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Machine {
    /// `model name` of the first CPU in /proc/cpuinfo ("unknown" elsewhere).
    pub cpu_model: String,
    /// The kernels gemm runs: `fma` (AVX2 + FMA) or `scalar`; `native` off x86-64.
    pub gemm_kernels: String,
    /// Whether the CPU has AVX-512F (unused by this build's gemm; recorded because it tells
    /// CPU generations apart).
    pub avx512f: bool,
    /// L1 data cache size (KiB) and associativity as gemm reads them (0 when unknown).
    pub l1d_kib: usize,
    pub l1d_ways: usize,
    /// Threads of the global rayon pool (gemm's and the generators' parallelism). The bits do
    /// not depend on it.
    pub threads: usize,
}

impl Machine {
    /// The current machine.
    pub fn detect() -> Machine {
        let (l1d_kib, l1d_ways) = l1d();
        Machine {
            cpu_model: cpu_model().unwrap_or_else(|| "unknown".into()),
            gemm_kernels: gemm_kernels().into(),
            avx512f: avx512f(),
            l1d_kib,
            l1d_ways,
            threads: rayon::current_num_threads(),
        }
    }
}

fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

#[cfg(target_arch = "x86_64")]
fn gemm_kernels() -> &'static str {
    if std::arch::is_x86_feature_detected!("fma") {
        "fma"
    } else {
        "scalar"
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn gemm_kernels() -> &'static str {
    "native"
}

#[cfg(target_arch = "x86_64")]
fn avx512f() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
}

#[cfg(not(target_arch = "x86_64"))]
fn avx512f() -> bool {
    false
}

/// Size (KiB) and ways of CPU 0's level-1 data cache from sysfs, where gemm reads them.
fn l1d() -> (usize, usize) {
    let base = std::path::Path::new("/sys/devices/system/cpu/cpu0/cache");
    let read = |p: std::path::PathBuf| std::fs::read_to_string(p).map(|s| s.trim().to_string());
    let Ok(dir) = std::fs::read_dir(base) else {
        return (0, 0);
    };
    for e in dir.flatten() {
        let p = e.path();
        let is_l1d = read(p.join("level")).is_ok_and(|l| l == "1")
            && read(p.join("type")).is_ok_and(|t| t == "Data");
        if is_l1d {
            let kib = read(p.join("size"))
                .ok()
                .and_then(|s| s.trim_end_matches('K').parse().ok())
                .unwrap_or(0);
            let ways = read(p.join("ways_of_associativity"))
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            return (kib, ways);
        }
    }
    (0, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On the Linux x86-64 machines this project runs on, every field is filled in.
    #[test]
    fn detects_this_machine() {
        let m = Machine::detect();
        assert!(m.threads >= 1);
        if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
            assert_ne!(m.cpu_model, "unknown");
            assert!(m.gemm_kernels == "fma" || m.gemm_kernels == "scalar");
            assert!(m.l1d_kib >= 16 && m.l1d_ways >= 2, "{m:?}");
        }
        let v = serde_json::to_value(&m).unwrap();
        for key in [
            "cpu_model",
            "gemm_kernels",
            "avx512f",
            "l1d_kib",
            "l1d_ways",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
    }
}
