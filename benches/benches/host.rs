//! One host and container sample (`osprey::host::HostSampler::sample`, what
//! the collector thread does once a second with `host.metrics=true`): with
//! the top-processes scan off and listing 5 by CPU and by memory. At one
//! sample a second, the time per sample divided by 1 s is the share of one
//! core. `host_cost` measures the same in a running process with export.
//!
//! `cargo bench -p osprey-benches --bench host`

use std::hint::black_box;

use divan::{AllocProfiler, Bencher};
use osprey::host::HostSampler;

#[global_allocator]
static ALLOC: AllocProfiler = AllocProfiler::system();

fn main() {
    divan::main();
}

#[divan::bench(args = [0, 5])]
fn sample(bencher: Bencher, top_processes: usize) {
    let mut sampler = HostSampler::at("/", top_processes, Some("bench-host"), None);
    black_box(sampler.sample());
    bencher.bench_local(|| black_box(sampler.sample()).len());
}
