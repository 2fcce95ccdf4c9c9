//! The cost of one argon2id verification with monban's parameters (OWASP:
//! m=19456 KiB, t=2, p=1), as process CPU time: the yardstick for the login
//! benchmark in bench/run.py. Measured as the argon2 crate's own
//! `verify_password` does it (a fresh allocation each time).
//! Run with `cargo bench --bench argon2`.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime (fields 14 and 15 of stat(5)), in clock ticks of 1/100 s.
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let argon2 = Argon2::default();
    let hash = argon2
        .hash_password(b"correct horse battery staple")
        .map(|h| h.to_string())
        .unwrap_or_default();
    let rounds = 100;
    for _ in 0..5 {
        let _ = argon2.verify_password(b"correct horse battery staple", hash.as_str());
    }
    let (cpu, wall) = (cpu_seconds(), std::time::Instant::now());
    for _ in 0..rounds {
        let _ = argon2.verify_password(b"correct horse battery staple", hash.as_str());
    }
    let cpu_us = (cpu_seconds() - cpu) / f64::from(rounds) * 1e6;
    let wall_us = wall.elapsed().as_secs_f64() / f64::from(rounds) * 1e6;
    println!("{{\"argon2_verify_cpu_us\": {cpu_us:.1}, \"argon2_verify_wall_us\": {wall_us:.1}}}");
}
