//! Point designs in the unit cube `[0, 1)^k`: independent uniform points,
//! Latin hypercube samples and Owen-scrambled Sobol points, drawn until
//! enough of them are accepted (rejection onto a domain or its boundary).
//! Every design is a function of the seeded generator it is handed.

use super::config::Sampling;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// Most candidates per wanted point before giving up.
const MAX_TRIES_PER_POINT: usize = 1000;

/// Points of one Sobol scramble (`sobol_burley`'s longest sequence).
const SOBOL_BLOCK: u64 = 1 << 16;

/// `[lo, hi)` of stratum `s` of `n`, and a point in it at fraction `t`
/// (kept below `hi` against rounding up).
fn in_stratum(s: usize, n: usize, t: f64) -> f64 {
    let (lo, hi) = (s as f64 / n as f64, (s + 1) as f64 / n as f64);
    let x = lo + t * (hi - lo);
    if x < hi { x } else { lo.max(hi.next_down()) }
}

/// A Latin hypercube sample of `n` points in `[0, 1)^k`: in every coordinate
/// each stratum `[j / n, (j + 1) / n)` holds exactly one point.
pub(super) fn latin_hypercube(n: usize, k: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<f64>> {
    let mut pts = vec![vec![0.0; k]; n];
    let mut perm: Vec<usize> = Vec::with_capacity(n);
    for i in 0..k {
        perm.clear();
        perm.extend(0..n);
        for j in (1..n).rev() {
            let s = rng.random_range(0..=j);
            perm.swap(j, s);
        }
        for (p, &s) in pts.iter_mut().zip(&perm) {
            p[i] = in_stratum(s, n, rng.random_range(0.0..1.0));
        }
    }
    pts
}

/// Point `i` of the Owen-scrambled Sobol sequence `seed` in `k` dimensions;
/// past 2^16 points each further block of 2^16 is another scramble.
pub(super) fn sobol_point(i: u64, k: usize, seed: u32) -> Vec<f64> {
    let block = (i / SOBOL_BLOCK) as u32;
    let idx = (i % SOBOL_BLOCK) as u32;
    let seed = seed.wrapping_add(block.wrapping_mul(0x9E37_79B9));
    (0..k)
        .map(|dim| f64::from(sobol_burley::sample(idx, dim as u32, seed)))
        .collect()
}

/// `n` accepted points: candidates `u` in `[0, 1)^k` of the design
/// `sampling` (random for `Grid`, which callers lay out themselves), each
/// turned into a point by `accept` or rejected (`None`). `None` when too few
/// candidates are accepted (`MAX_TRIES_PER_POINT` per wanted point).
///
/// Sobol keeps the sequence's order (the first `n` accepted); a Latin
/// hypercube of `m` candidates is drawn anew with a larger `m` until `n` of
/// them are accepted, and the first `n` in its (random) order are kept, so
/// on a box (all accepted) it is exactly a Latin hypercube of `n` points.
pub(super) fn draw<T>(
    sampling: Sampling,
    n: usize,
    k: usize,
    rng: &mut ChaCha8Rng,
    mut accept: impl FnMut(&[f64]) -> Option<T>,
) -> Option<Vec<T>> {
    let max = n.max(1).saturating_mul(MAX_TRIES_PER_POINT);
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return Some(out);
    }
    match sampling {
        Sampling::Lhs => {
            let mut m = n;
            loop {
                out.clear();
                for u in latin_hypercube(m, k, rng) {
                    if let Some(t) = accept(&u) {
                        out.push(t);
                        if out.len() == n {
                            return Some(out);
                        }
                    }
                }
                if m >= max {
                    return None;
                }
                // Scale by the acceptance seen, with 10 % to spare.
                let rate = out.len().max(1) as f64 / m as f64;
                m = ((n as f64 / rate * 1.1).ceil() as usize).clamp(m + 1, max);
            }
        }
        Sampling::Sobol => {
            let seed: u32 = rng.random();
            for i in 0..max as u64 {
                if let Some(t) = accept(&sobol_point(i, k, seed)) {
                    out.push(t);
                    if out.len() == n {
                        return Some(out);
                    }
                }
            }
            None
        }
        Sampling::Random | Sampling::Grid => {
            let mut u = vec![0.0; k];
            for _ in 0..max {
                for v in u.iter_mut() {
                    *v = rng.random_range(0.0..1.0);
                }
                if let Some(t) = accept(&u) {
                    out.push(t);
                    if out.len() == n {
                        return Some(out);
                    }
                }
            }
            None
        }
    }
}
