//! Process-wide thread settings for candle, applied once at the start of `main` (the CLI and the
//! benches) before any thread exists.

/// Set the thread environment variables candle reads, unless the user set them:
///
/// * `CANDLE_NUM_THREADS=1`: candle's element-wise worker pool spin-waits; on a 2-core machine
///   it halved training throughput (3.8k vs 7.6k flows/s). Matrix multiplies still use every
///   core through gemm's rayon pool.
/// * `RAYON_NUM_THREADS` = the cores this process may use (`available_parallelism`, which is
///   also rayon's own default). candle 0.11.1 asks for the thread count on *every* matrix
///   multiply, and without this variable it re-reads `/proc/cpuinfo` each time (through
///   `num_cpus::get_physical`): about 5 % of a training profile here.
///
/// # Safety
/// Must run before any other thread is started (it calls `std::env::set_var`).
pub unsafe fn init_thread_env() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // SAFETY: the caller guarantees that no other thread exists yet.
        unsafe { std::env::set_var("CANDLE_NUM_THREADS", "1") };
    }
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        // SAFETY: as above.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", n.to_string()) };
    }
}
