//! Exact nearest-record search over [`Feature`] vectors.
//!
//! [`NnIndex`] wraps a kiddo `ImmutableKdTree<f64, DIM>` (exact search; never the `approx`
//! mode). kiddo splits dimensions round-robin by tree level, so with 23 dimensions and ~12
//! levels only the first dimensions would ever be used for pruning; the index therefore first
//! **rotates** points and queries onto the principal axes of the indexed points (eigenvectors
//! of their covariance, by decreasing variance, from a cyclic Jacobi solver). A rotation leaves
//! Euclidean distances unchanged (up to ~1e-15 rounding; identical rows stay at distance
//! exactly 0), so the search stays exact while the first tree levels split the directions that
//! matter. [`brute_nearest_k`] is a blocked rayon brute force used as the reference in tests.
//! All distances returned are Euclidean (not squared), in feature units (see
//! [`super::features`]).
//!
//! The tree only *finds* the neighbours: every distance returned is recomputed from the
//! original (unrotated) coordinates of the query and of the neighbour found ([`dist2`]), and
//! radius counts are decided the same way. Why: two indices have different rotations, so a
//! point at the same true distance from a query in each would come back as two values that
//! differ in the last bits, and a comparison across indices (the DCR share's `d(s, M') <
//! d(s, N')`, `dcr_ref`'s `d(x, S) - d(x, R)`, the density ratio) would decide an exact
//! non-zero tie by rounding instead of counting it as a tie. Recomputed, equal distances are
//! bitwise equal whatever index they come from. The neighbour itself is exact up to the
//! rotation's rounding: where two points lie within ~1e-15 (relative) of the same distance the
//! tree may return either, and the distance returned is then that point's own.

use super::features::{DIM, Feature, dist2};
use crate::error::{Error, Result};
use kiddo::{ImmutableKdTree, SquaredEuclidean};
use rayon::prelude::*;
use std::num::NonZeroUsize;

/// Exact k-d tree over a fixed set of points.
pub struct NnIndex {
    tree: Option<ImmutableKdTree<f64, DIM>>,
    /// Row-major rotation: `y_i = sum_j rot[i][j] x_j`.
    rot: Box<[[f64; DIM]; DIM]>,
    /// The indexed points in their own coordinates, in the tree's item order: the distances
    /// returned are computed from these (see the module docs).
    points: Vec<Feature>,
}

/// Relative and absolute slack of the radius a tree is asked for in [`NnIndex::count_within`]
/// before the exact test on the original coordinates: far above the rotation's rounding
/// (~1e-15 of the coordinates' size), so no point inside the radius is missed.
const RADIUS_SLACK: f64 = 1e-9;

/// Eigenvectors of a symmetric matrix (cyclic Jacobi), as rows, sorted by decreasing
/// eigenvalue.
#[allow(clippy::needless_range_loop)] // index form mirrors the textbook Jacobi rotation
pub fn principal_axes(mut a: [[f64; DIM]; DIM]) -> [[f64; DIM]; DIM] {
    let mut v = [[0.0; DIM]; DIM];
    for (i, row) in v.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..DIM)
            .flat_map(|i| (0..DIM).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        let scale: f64 = (0..DIM).map(|i| a[i][i] * a[i][i]).sum::<f64>().max(1e-300);
        if off <= 1e-30 * scale {
            break;
        }
        for p in 0..DIM {
            for q in p + 1..DIM {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..DIM {
                    let (akp, akq) = (a[k][p], a[k][q]);
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for k in 0..DIM {
                    let (apk, aqk) = (a[p][k], a[q][k]);
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
                for row in v.iter_mut() {
                    let (vp, vq) = (row[p], row[q]);
                    row[p] = c * vp - s * vq;
                    row[q] = s * vp + c * vq;
                }
            }
        }
    }
    // Columns of v are eigenvectors; order by eigenvalue (diagonal of a), descending.
    let mut order: Vec<usize> = (0..DIM).collect();
    order.sort_by(|&i, &j| a[j][j].total_cmp(&a[i][i]).then(i.cmp(&j)));
    let mut out = [[0.0; DIM]; DIM];
    for (r, &col) in order.iter().enumerate() {
        for k in 0..DIM {
            out[r][k] = v[k][col];
        }
    }
    out
}

#[allow(clippy::needless_range_loop)]
fn covariance(points: &[Feature]) -> [[f64; DIM]; DIM] {
    let n = points.len().max(1) as f64;
    let mut mean = [0.0; DIM];
    for p in points {
        for (m, x) in mean.iter_mut().zip(p) {
            *m += x / n;
        }
    }
    let mut c = [[0.0; DIM]; DIM];
    for p in points {
        for i in 0..DIM {
            let di = p[i] - mean[i];
            for j in i..DIM {
                c[i][j] += di * (p[j] - mean[j]) / n;
            }
        }
    }
    for i in 0..DIM {
        for j in 0..i {
            c[i][j] = c[j][i];
        }
    }
    c
}

fn rotate(rot: &[[f64; DIM]; DIM], x: &Feature) -> Feature {
    let mut y = [0.0; DIM];
    for (yi, r) in y.iter_mut().zip(rot) {
        *yi = r.iter().zip(x).map(|(a, b)| a * b).sum();
    }
    y
}

impl NnIndex {
    /// Build the index; an empty point set gives an index whose every distance is `+inf`.
    pub fn new(points: &[Feature]) -> Result<Self> {
        if points.len() > u32::MAX as usize {
            return Err(Error::Invalid(format!(
                "{} points exceed the k-d tree's u32 item range",
                points.len()
            )));
        }
        if points.iter().any(|p| p.iter().any(|x| !x.is_finite())) {
            return Err(Error::Invalid("non-finite flow feature".into()));
        }
        let rot = Box::new(principal_axes(covariance(points)));
        let tree = if points.is_empty() {
            None
        } else {
            let rotated: Vec<Feature> = points.iter().map(|p| rotate(&rot, p)).collect();
            Some(
                ImmutableKdTree::new_from_slice(&rotated)
                    .map_err(|e| Error::Other(format!("k-d tree construction: {e:?}")))?,
            )
        };
        Ok(NnIndex {
            tree,
            rot,
            points: points.to_vec(),
        })
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Euclidean distance from `q` to indexed point `item`, in the original coordinates.
    fn dist(&self, q: &Feature, item: u32) -> f64 {
        dist2(q, &self.points[item as usize]).sqrt()
    }

    fn rotated(&self, queries: &[Feature]) -> Vec<Feature> {
        queries.iter().map(|q| rotate(&self.rot, q)).collect()
    }

    /// Distance from each query to its nearest indexed point.
    pub fn nearest(&self, queries: &[Feature]) -> Vec<f64> {
        match &self.tree {
            None => vec![f64::INFINITY; queries.len()],
            Some(t) => t
                .query_batch(&self.rotated(queries))
                .nearest_one::<SquaredEuclidean<f64>>()
                .execute()
                .iter()
                .zip(queries)
                .map(|(r, q)| self.dist(q, r.item))
                .collect(),
        }
    }

    /// The `k` smallest distances from each query (ascending); missing neighbours (fewer than
    /// `k` points) are `+inf`.
    pub fn nearest_k(&self, queries: &[Feature], k: usize) -> Vec<Vec<f64>> {
        let Some(nz) = NonZeroUsize::new(k) else {
            return vec![Vec::new(); queries.len()];
        };
        match &self.tree {
            None => vec![vec![f64::INFINITY; k]; queries.len()],
            Some(t) => t
                .query_batch(&self.rotated(queries))
                .nearest_n::<SquaredEuclidean<f64>>(nz)
                .execute()
                .into_iter()
                .zip(queries)
                .map(|(res, q)| {
                    let mut d: Vec<f64> = res.iter().map(|r| self.dist(q, r.item)).collect();
                    d.sort_by(f64::total_cmp);
                    d.resize(k, f64::INFINITY);
                    d
                })
                .collect(),
        }
    }

    /// Number of indexed points at distance `< radius` (strict) from each query.
    pub fn count_within(&self, queries: &[Feature], radius: f64) -> Vec<usize> {
        match &self.tree {
            None => vec![0; queries.len()],
            Some(t) => {
                if radius <= 0.0 {
                    return vec![0; queries.len()];
                }
                // The tree finds every point within a slightly larger radius; the distance in
                // the original coordinates, the one `nearest` returns, decides the strict
                // boundary (module docs), so a radius taken from `nearest` is exact.
                let wide = radius * (1.0 + RADIUS_SLACK) + RADIUS_SLACK;
                t.query_batch(&self.rotated(queries))
                    .within::<SquaredEuclidean<f64>>(wide * wide)
                    .unsorted()
                    .execute()
                    .iter()
                    .zip(queries)
                    .map(|(v, q)| v.iter().filter(|r| self.dist(q, r.item) < radius).count())
                    .collect()
            }
        }
    }
}

/// Brute-force reference: the `k` smallest Euclidean distances from each query to `points`
/// (ascending, `+inf`-padded), computed in parallel blocks of queries.
pub fn brute_nearest_k(points: &[Feature], queries: &[Feature], k: usize) -> Vec<Vec<f64>> {
    queries
        .par_chunks(256)
        .flat_map_iter(|block| {
            block.iter().map(|q| {
                let mut best = vec![f64::INFINITY; k];
                for p in points {
                    let d = dist2(q, p);
                    if k > 0 && d < best[k - 1] {
                        let pos = best.partition_point(|&b| b <= d);
                        best.insert(pos, d);
                        best.pop();
                    }
                }
                best.iter().map(|d| d.sqrt()).collect::<Vec<f64>>()
            })
        })
        .collect()
}

/// Test data with exact non-zero ties across two indices: queries `s_i` and two point sets
/// `a_i = s_i + e_i`, `b_i = s_i - e_i` (returned as `(s, a, b)`). Every coordinate is a
/// multiple of 1/256 below 2^11, so both differences equal `e_i` exactly and
/// `dist2(s_i, a_i) == dist2(s_i, b_i)` bitwise; the `s_i` lie 4 apart on the first axis, far
/// more than any `|e_i|` (< 0.2), so `a_i` and `b_i` are the nearest points of `s_i` in each set.
#[cfg(test)]
pub(crate) fn mirror_ties(n: usize, seed: u64) -> (Vec<Feature>, Vec<Feature>, Vec<Feature>) {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (mut s, mut a, mut b) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let mut q = [0.0; DIM];
        let mut e = [0.0; DIM];
        for (qj, ej) in q.iter_mut().zip(e.iter_mut()) {
            *qj = rng.random_range(0..64) as f64 / 64.0;
            *ej = rng.random_range(-8..=8) as f64 / 256.0;
        }
        q[0] += 4.0 * i as f64;
        e[1] = 3.0 / 256.0; // never the zero vector: the tie is at a non-zero distance
        s.push(q);
        a.push(std::array::from_fn(|j| q[j] + e[j]));
        b.push(std::array::from_fn(|j| q[j] - e[j]));
    }
    (s, a, b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    /// Distance to the nearest point as the tree alone computes it, in rotated coordinates
    /// (what [`NnIndex::nearest`] returned before it recomputed distances).
    fn rotated_nearest(idx: &NnIndex, queries: &[Feature]) -> Vec<f64> {
        idx.tree
            .as_ref()
            .unwrap()
            .query_batch(&idx.rotated(queries))
            .nearest_one::<SquaredEuclidean<f64>>()
            .execute()
            .iter()
            .map(|r| r.distance.sqrt())
            .collect()
    }

    #[test]
    fn exact_ties_across_indices_stay_exact() {
        let (s, a, b) = mirror_ties(400, 3);
        let (ia, ib) = (NnIndex::new(&a).unwrap(), NnIndex::new(&b).unwrap());
        // The two indices rotate differently, and in rotated coordinates some of these exact
        // ties come out unequal: the case the recomputation exists for.
        let (ra, rb) = (rotated_nearest(&ia, &s), rotated_nearest(&ib, &s));
        let broken = (0..s.len()).filter(|&i| ra[i] != rb[i]).count();
        assert!(
            broken > 0,
            "no tie broken by rotation: the test lost its point"
        );
        let (da, db) = (ia.nearest(&s), ib.nearest(&s));
        let (ka, kb) = (ia.nearest_k(&s, 2), ib.nearest_k(&s, 2));
        for i in 0..s.len() {
            let want = dist2(&s[i], &a[i]).sqrt();
            assert!(want > 0.0);
            assert_eq!(da[i].to_bits(), want.to_bits(), "query {i}");
            assert_eq!(db[i].to_bits(), want.to_bits(), "query {i}");
            assert_eq!(ka[i][0].to_bits(), want.to_bits(), "query {i}");
            assert_eq!(kb[i][0].to_bits(), want.to_bits(), "query {i}");
        }
        // A radius equal to a returned distance excludes that point on both sides (strict),
        // and a radius just above it includes it.
        for i in [0, 17, 399] {
            let q = &s[i..=i];
            assert_eq!(ia.count_within(q, da[i]), vec![0]);
            assert_eq!(ib.count_within(q, db[i]), vec![0]);
            let up = da[i] * (1.0 + 1e-12);
            assert_eq!(ia.count_within(q, up), vec![1]);
            assert_eq!(ib.count_within(q, up), vec![1]);
        }
    }

    /// Clustered, quantised points with many exact duplicates, like encoded NetFlow.
    fn cloud(n: usize, seed: u64) -> Vec<Feature> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let c = rng.random_range(0..20) as f64;
                let mut v = [0.0; DIM];
                for (j, x) in v.iter_mut().enumerate() {
                    *x = if j % 3 == 0 {
                        (c * (j as f64 + 1.0)).sin()
                    } else if j % 3 == 1 {
                        (rng.random_range(0..4) as f64) * 0.25
                    } else {
                        rng.random::<f64>() * 0.1
                    };
                }
                v
            })
            .collect()
    }

    #[test]
    fn kd_tree_equals_brute_force() {
        let pts = cloud(3000, 1);
        let mut qs = cloud(500, 2);
        qs.extend_from_slice(&pts[..50]); // exact hits: distance 0
        let idx = NnIndex::new(&pts).unwrap();
        let bf = brute_nearest_k(&pts, &qs, 3);
        let one = idx.nearest(&qs);
        let three = idx.nearest_k(&qs, 3);
        for i in 0..qs.len() {
            assert!(
                (one[i] - bf[i][0]).abs() < 1e-12,
                "{i}: {} vs {}",
                one[i],
                bf[i][0]
            );
            for j in 0..3 {
                assert!((three[i][j] - bf[i][j]).abs() < 1e-12);
            }
        }
        assert!(one[500..].iter().all(|&d| d == 0.0));
        // Radius counts against brute force, strict boundary.
        let r = bf[7][1];
        let c = idx.count_within(&qs[7..8], r)[0];
        let want = pts.iter().filter(|p| dist2(&qs[7], p).sqrt() < r).count();
        assert_eq!(c, want);
        assert!(c >= 1);
    }

    #[test]
    fn principal_axes_are_orthonormal_and_ordered() {
        let pts = cloud(2000, 5);
        let rot = principal_axes(covariance(&pts));
        for i in 0..DIM {
            for j in 0..DIM {
                let d: f64 = (0..DIM).map(|k| rot[i][k] * rot[j][k]).sum();
                assert!(
                    (d - if i == j { 1.0 } else { 0.0 }).abs() < 1e-9,
                    "{i} {j} {d}"
                );
            }
        }
        let c = covariance(&pts);
        let var = |r: &Feature| -> f64 {
            (0..DIM)
                .map(|i| (0..DIM).map(|j| r[i] * c[i][j] * r[j]).sum::<f64>())
                .sum()
        };
        for i in 1..DIM {
            assert!(var(&rot[i - 1]) >= var(&rot[i]) - 1e-12);
        }
        // A diagonal matrix: axes are the unit vectors by decreasing entry.
        let mut d = [[0.0; DIM]; DIM];
        for (i, row) in d.iter_mut().enumerate() {
            row[i] = i as f64;
        }
        let r = principal_axes(d);
        assert_eq!(r[0][DIM - 1].abs(), 1.0);
    }

    #[test]
    fn empty_and_short_indexes() {
        let e = NnIndex::new(&[]).unwrap();
        assert_eq!(e.nearest(&[[0.0; DIM]]), vec![f64::INFINITY]);
        let one = NnIndex::new(&[[1.0; DIM]]).unwrap();
        let d = one.nearest_k(&[[0.0; DIM]], 2);
        assert!((d[0][0] - (DIM as f64).sqrt()).abs() < 1e-12 && d[0][1].is_infinite());
        assert!(NnIndex::new(&[[f64::NAN; DIM]]).is_err());
    }
}
