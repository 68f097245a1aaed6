//! Tensor grids of points (interior grids, test grids, boundary faces).

/// Points per coordinate so that a `d`-dimensional grid has at least `n` points.
pub(super) fn per_dim(n: usize, d: usize) -> usize {
    let mut k = (n as f64).powf(1.0 / d as f64).round().max(1.0) as usize;
    while k.pow(d as u32) < n {
        k += 1;
    }
    k
}

/// All points of a tensor grid with `counts[i]` points in coordinate `i`,
/// coordinate `i` of index `j` given by `coord(i, j, counts[i])`; the first
/// coordinate varies fastest.
pub(super) fn tensor_grid(
    counts: &[usize],
    coord: impl Fn(usize, usize, usize) -> f64,
) -> Vec<Vec<f64>> {
    let total: usize = counts.iter().product();
    (0..total)
        .map(|mut idx| {
            counts
                .iter()
                .enumerate()
                .map(|(i, &k)| {
                    let j = idx % k;
                    idx /= k;
                    coord(i, j, k)
                })
                .collect()
        })
        .collect()
}
