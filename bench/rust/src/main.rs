//! Figure 3: mmkit's Rust API against memmap2, interleaved rounds.
//!
//!     mmkit-bench FILE64K
//!     mmkit-bench FILE64K loop {anon,file}-{mmkit,memmap2} N   (for callgrind)
//!
//! * anonymous: `Region::anon(4096, READ|WRITE|PRIVATE)` + touch one byte + drop
//!   vs `MmapMut::map_anon(4096)` + touch + drop (both MAP_PRIVATE|MAP_ANONYMOUS);
//! * file: `Region::file(path, 0, 0, READ|SHARED)` + drop vs `File::open(path)` +
//!   `Mmap::map(&file)` + close + drop (memmap2 maps MAP_SHARED, PROT_READ).
//!
//! Each round runs batches mmkit, memmap2, memmap2, mmkit (A B B A); the
//! per-round ratio of the summed times goes into a `ROW` line (see
//! bench_common.h). Rounds: BENCH_ROUNDS_RUST (default 201); batch:
//! BENCH_BATCH_RUST (300).

use std::fs::File;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use memmap2::{Mmap, MmapMut};
use mmkit::{Flags, Region};

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

fn anon_mmkit(n: usize) {
    for _ in 0..n {
        let r =
            Region::anon(4096, Flags::READ | Flags::WRITE | Flags::PRIVATE).expect("Region::anon");
        // SAFETY: a fresh private writable region of 4096 bytes, ours alone.
        unsafe { r.as_ptr().write_volatile(1) };
        black_box(&r);
    }
}

fn anon_memmap2(n: usize) {
    for _ in 0..n {
        let mut m = MmapMut::map_anon(4096).expect("MmapMut::map_anon");
        // SAFETY: a fresh private writable mapping of 4096 bytes, ours alone.
        unsafe { m.as_mut_ptr().write_volatile(1) };
        black_box(&m);
    }
}

fn file_mmkit(path: &Path, n: usize) {
    for _ in 0..n {
        let r = Region::file(path, 0, 0, Flags::READ | Flags::SHARED).expect("Region::file");
        black_box(&r);
    }
}

fn file_memmap2(path: &Path, n: usize) {
    for _ in 0..n {
        let f = File::open(path).expect("open");
        // SAFETY: the benchmark's own file; nobody truncates it while mapped.
        let m = unsafe { Mmap::map(&f) }.expect("Mmap::map");
        drop(f);
        black_box(&m);
    }
}

/// `rounds` interleaved rounds of A B B A batches (after 3 warm-up rounds);
/// per round (tA1 + tA2) / (tB1 + tB2), so neither side always goes first.
fn duel(
    rounds: usize,
    batch: usize,
    mut a: impl FnMut(usize),
    mut b: impl FnMut(usize),
) -> Vec<f64> {
    let time = |f: &mut dyn FnMut(usize)| {
        let t0 = Instant::now();
        f(batch);
        t0.elapsed().as_secs_f64()
    };
    let mut ratios = Vec::with_capacity(rounds);
    for r in 0..rounds + 3 {
        let mut ta = time(&mut a);
        let mut tb = time(&mut b);
        tb += time(&mut b);
        ta += time(&mut a);
        if r >= 3 {
            ratios.push(ta / tb);
        }
    }
    ratios
}

/// One result line for report.py; `kind` is "time", or "aa" for an A/A control.
fn row(what: &str, kind: &str, target: &str, ratios: &[f64]) {
    let list: Vec<String> = ratios.iter().map(|r| format!("{r:.6}")).collect();
    println!("ROW\t3\t{what}\t{kind}\t{target}\t{}", list.join(","));
}

fn main() {
    let path = match std::env::args_os().nth(1) {
        Some(p) => PathBuf::from(p),
        None => {
            eprintln!("usage: mmkit-bench FILE64K");
            std::process::exit(2);
        }
    };
    let mut rest = std::env::args().skip(2);
    if rest.next().as_deref() == Some("loop") {
        // For callgrind: N iterations of one side only (see BENCHMARKS.md).
        let case = rest.next().unwrap_or_default();
        let n = rest.next().and_then(|v| v.parse().ok()).unwrap_or(1000);
        match case.as_str() {
            "anon-mmkit" => anon_mmkit(n),
            "anon-memmap2" => anon_memmap2(n),
            "file-mmkit" => file_mmkit(&path, n),
            "file-memmap2" => file_memmap2(&path, n),
            _ => {
                eprintln!("loop: unknown case {case:?}");
                std::process::exit(2);
            }
        }
        return;
    }
    let rounds = env_num("BENCH_ROUNDS_RUST", 201);
    let batch = env_num("BENCH_BATCH_RUST", 300);

    let r = duel(rounds, batch, anon_mmkit, anon_memmap2);
    row(
        "Rust Region::anon+touch+drop 4 KiB vs memmap2 MmapMut::map_anon",
        "time",
        "<=1.0",
        &r,
    );
    let r = duel(rounds, batch, anon_memmap2, anon_memmap2);
    row(
        "A/A control: memmap2 MmapMut::map_anon vs itself (noise band)",
        "aa",
        "-",
        &r,
    );
    let r = duel(
        rounds,
        batch,
        |n| file_mmkit(&path, n),
        |n| file_memmap2(&path, n),
    );
    row(
        "Rust Region::file+drop 64 KiB vs memmap2 File::open+Mmap::map",
        "time",
        "<=1.0",
        &r,
    );
    let r = duel(
        rounds,
        batch,
        |n| file_memmap2(&path, n),
        |n| file_memmap2(&path, n),
    );
    row(
        "A/A control: memmap2 File::open+Mmap::map vs itself (noise band)",
        "aa",
        "-",
        &r,
    );
}
