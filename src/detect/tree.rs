//! The paper's protocol task: one decision tree that predicts a flow's protocol class from the
//! previous flow of the same host, scored by macro-F1 (STAN §8.1, Task 1 of its
//! `evaluation/task_runner.py`: `DecisionTreeClassifier(random_state=0)` on `byt-1, pkt-1,
//! pr-1`). Detector `protocol_tree` of [`super::evaluate`]: task metrics only.
//!
//! **Why a single tree.** It is the paper's method, so that this detector's figures can be set
//! beside the paper's. The `protocol` detector ([`super::protocol`]) asks more of a generator
//! (the current flow's other attributes too) and is a forest because its anomaly score needs
//! probabilities; a fully grown single tree has almost only pure leaves, so its probabilities
//! are 0 or 1 and it gets no anomaly rows.
//!
//! **Features** ([`super::features::tree_row`]): the previous flow's bytes, packets and
//! protocol class, raw, as the paper's code feeds them (a tree only compares values, so no
//! scaling is needed). The paper's code takes the previous row of the traffic file of all
//! hosts, so a host's first flow gets the previous host's last flow; our windows never straddle
//! hosts. A host's first flow instead has all three features [`NO_PREVIOUS`] (−1, below any
//! count or class) rather than being dropped: every test flow then gets a prediction, the test
//! flows are those of the `protocol` forest (the two share their bootstrap resamples, so the
//! comparison is paired), and one split on any feature sets these flows apart, so they cost
//! the tree nothing elsewhere. They are one flow per host (about 0.1 % of the examples).
//!
//! **The tree** is linfa-trees' [`DecisionTree`] with sklearn's defaults where linfa-trees has
//! them: Gini impurity, no depth limit, `min_weight_split = 2` and `min_weight_leaf = 1` with
//! every example of weight 1 (sklearn's `min_samples_split = 2`, `min_samples_leaf = 1`).
//! What differs from sklearn:
//!
//! * `min_impurity_decrease`: linfa-trees refuses sklearn's 0; we pass its smallest accepted
//!   value, `f64::EPSILON` ([`MIN_IMPURITY_DECREASE`]). A split that leaves the Gini impurity
//!   as it is is therefore not made (sklearn makes it while the node is impure).
//! * Candidate cuts: linfa-trees sweeps one index of all training examples sorted by each
//!   feature, so a threshold lies halfway to the next value *of the whole training set* (not
//!   of the node, as sklearn's), and a cut right after a value `v` is not tried in a node
//!   that lacks the last example (in index order) with value `v`. sklearn tries every cut
//!   between the node's distinct values.
//! * Equal-score splits: sklearn (`random_state=0`) draws the order in which it tries the
//!   features; linfa-trees tries them in column order and keeps the first best, but sums the
//!   Gini terms in `f32` in `HashMap` order, which std seeds at random in every process, so two
//!   columns that cut a node's examples alike (bytes and packets often do) can swap from run
//!   to run. We keep linfa-trees' partition of the training examples and give each such cut to
//!   the first column that makes it, halfway to that column's next training value (linfa-trees'
//!   own convention).
//! * Leaf classes: linfa-trees picks a leaf's class among tied counts in `HashMap` order too,
//!   and then merges sibling leaves whose picks agree, so its own prediction changes from run
//!   to run (on a four-example toy set, half of the fits). We label the leaves ourselves from
//!   the training examples that reach them: the most frequent class, the lowest on ties
//!   (sklearn's rule), except that two sibling leaves with a most frequent class in common are
//!   one leaf (linfa-trees may have merged them; we always do), labelled with the lowest such
//!   class.
//! * An example goes left when its value is at most the threshold (sklearn's rule, and the
//!   rule linfa-trees trains with; its own prediction goes left only below it).
//! * Classes: the four of [`super::features::CLASS_NAMES`], as for the `protocol` forest; the
//!   paper's code has three (TCP, UDP, everything else).
//!
//! Deterministic: no random number is drawn, and the cuts and labels above do not depend on
//! `HashMap` order (tested by refitting). One case is left: two *different* partitions on two
//! columns with exactly equal Gini scores, whose left sides hold three classes or more, could
//! still be told apart by `f32` rounding in `HashMap` order; none showed up in five fits on
//! 50,000 flows of the embedded day.
//!
//! ```
//! use stan::detect::TreeModel;
//! // Rows `byt-1, pkt-1, pr-1`: after TCP (class 0) comes UDP (1), after UDP comes TCP.
//! let x = [500.0, 4.0, 0.0, 60.0, 1.0, 1.0, 900.0, 6.0, 0.0, 75.0, 1.0, 1.0];
//! let y = [1, 0, 1, 0];
//! let tree = TreeModel::fit(&x, &y)?;
//! // One split (on bytes, the first column that separates the classes), two leaves.
//! assert_eq!(tree.n_leaves(), 2);
//! assert_eq!(tree.predict(&[700.0, 5.0, 0.0, 70.0, 1.0, 1.0])?, vec![1, 0]);
//! # Ok::<(), stan::error::Error>(())
//! ```

use super::features::{N_CLASSES, TREE_DIM};
use crate::error::{Error, Result};
use linfa::prelude::*;
use linfa_trees::{DecisionTree, SplitQuality};
use ndarray::{Array1, Array2};

#[cfg(doc)]
use super::features::NO_PREVIOUS;

/// The `min_impurity_decrease` passed to linfa-trees: the smallest it accepts (sklearn's
/// default is 0).
pub const MIN_IMPURITY_DECREASE: f64 = f64::EPSILON;

#[derive(Clone, Debug, PartialEq)]
enum Node {
    /// Examples with `x[feature] <= threshold` go to `left`.
    Split {
        feature: usize,
        threshold: f64,
        left: usize,
        right: usize,
    },
    Leaf {
        class: usize,
    },
}

/// A fitted tree of the paper's protocol task (module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct TreeModel {
    /// The tree, root first; children come after their parent.
    nodes: Vec<Node>,
}

fn linfa_err(e: linfa::Error) -> Error {
    Error::Other(format!("linfa-trees: {e}"))
}

/// The classes most frequent in `counts`, as a bit set.
fn most_frequent(counts: &[usize; N_CLASSES]) -> u32 {
    let max = counts.iter().copied().max().unwrap_or(0);
    (0..N_CLASSES)
        .filter(|&c| counts[c] == max)
        .fold(0, |m, c| m | 1 << c)
}

impl TreeModel {
    /// Fit on row-major `x` (`[n, TREE_DIM]`) and classes `y` (below `N_CLASSES`).
    pub fn fit(x: &[f64], y: &[usize]) -> Result<TreeModel> {
        if y.is_empty() || x.len() != y.len() * TREE_DIM {
            return Err(Error::Invalid(format!(
                "protocol tree: {} labels for {} feature values",
                y.len(),
                x.len()
            )));
        }
        if let Some(c) = y.iter().find(|&&c| c >= N_CLASSES) {
            return Err(Error::Invalid(format!(
                "protocol tree: class {c} is not below {N_CLASSES}"
            )));
        }
        if let Some(v) = x.iter().find(|v| !v.is_finite()) {
            return Err(Error::Invalid(format!(
                "protocol tree: feature value {v} is not finite"
            )));
        }
        let records = Array2::from_shape_vec((y.len(), TREE_DIM), x.to_vec())
            .map_err(|e| Error::Other(format!("protocol tree: {e}")))?;
        let data = Dataset::new(records, Array1::from(y.to_vec()));
        let tree: DecisionTree<f64, usize> = DecisionTree::params()
            .split_quality(SplitQuality::Gini)
            .max_depth(None)
            .min_weight_split(2.0)
            .min_weight_leaf(1.0)
            .min_impurity_decrease(MIN_IMPURITY_DECREASE)
            .fit(&data)
            .map_err(linfa_err)?;

        // linfa-trees' nodes, root first, without their (run-dependent) leaf labels. An
        // explicit stack: an unlimited tree can be deep.
        let mut nodes = vec![Node::Leaf { class: 0 }];
        let mut stack = vec![(tree.root_node(), 0)];
        while let Some((n, at)) = stack.pop() {
            if n.is_leaf() {
                continue;
            }
            let (feature, threshold, _) = n.split();
            let children = n.children();
            let (Some(l), Some(r)) = (children[0], children[1]) else {
                return Err(Error::Other(
                    "linfa-trees: a split node without two children".into(),
                ));
            };
            let (left, right) = (nodes.len(), nodes.len() + 1);
            nodes.extend([Node::Leaf { class: 0 }, Node::Leaf { class: 0 }]);
            nodes[at] = Node::Split {
                feature,
                threshold,
                left,
                right,
            };
            stack.push((l, left));
            stack.push((r, right));
        }
        let mut model = TreeModel { nodes };

        // Each feature's distinct training values, ascending.
        let values: Vec<Vec<f64>> = (0..TREE_DIM)
            .map(|f| {
                let mut v: Vec<f64> = x.iter().skip(f).step_by(TREE_DIM).copied().collect();
                v.sort_by(f64::total_cmp);
                v.dedup();
                v
            })
            .collect();
        // Send the training examples down the tree (the partition linfa-trees trained with:
        // left when at most the threshold). At each split, the first column that separates the
        // node's examples alike takes the cut, halfway to that column's next training value:
        // linfa-trees' own choice on equal scores, which its `f32` Gini sums, added in
        // `HashMap` order, can flip to a later column. At each leaf, count the classes.
        let row = |i: usize| &x[i * TREE_DIM..(i + 1) * TREE_DIM];
        let mut counts = vec![[0usize; N_CLASSES]; model.nodes.len()];
        let mut stack = vec![(0, (0..y.len()).collect::<Vec<usize>>())];
        while let Some((at, idx)) = stack.pop() {
            let Node::Split {
                feature,
                threshold,
                left,
                right,
            } = model.nodes[at]
            else {
                for i in idx {
                    counts[at][y[i]] += 1;
                }
                continue;
            };
            let (l, r): (Vec<usize>, Vec<usize>) =
                idx.into_iter().partition(|&i| row(i)[feature] <= threshold);
            let separating = (0..TREE_DIM).find_map(|f| {
                let max_l = l
                    .iter()
                    .map(|&i| row(i)[f])
                    .fold(f64::NEG_INFINITY, f64::max);
                let min_r = r.iter().map(|&i| row(i)[f]).fold(f64::INFINITY, f64::min);
                let next = values[f][values[f].partition_point(|&v| v <= max_l)..].first()?;
                (max_l < min_r).then_some((f, (max_l + next) / 2.0))
            });
            if let Some((feature, threshold)) = separating {
                model.nodes[at] = Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                };
            }
            stack.push((left, l));
            stack.push((right, r));
        }
        // Merge sibling leaves with a most frequent class in common, bottom-up (children come
        // after their parents): what linfa-trees' pruning does whenever its tie-breaks agree,
        // done whatever they were, so that the result does not depend on them.
        for i in (0..model.nodes.len()).rev() {
            if let Node::Split { left, right, .. } = model.nodes[i] {
                let leaves = matches!(model.nodes[left], Node::Leaf { .. })
                    && matches!(model.nodes[right], Node::Leaf { .. });
                if leaves && most_frequent(&counts[left]) & most_frequent(&counts[right]) != 0 {
                    counts[i] = std::array::from_fn(|c| counts[left][c] + counts[right][c]);
                    model.nodes[i] = Node::Leaf { class: 0 };
                }
            }
        }
        // Label the leaves (the lowest most frequent class) and drop the merged-away nodes.
        let mut kept = Vec::with_capacity(model.nodes.len());
        let mut queue = vec![0];
        let mut new_index = vec![usize::MAX; model.nodes.len()];
        while let Some(i) = queue.pop() {
            new_index[i] = kept.len();
            kept.push(i);
            if let Node::Split { left, right, .. } = model.nodes[i] {
                queue.push(right);
                queue.push(left);
            }
        }
        let nodes = kept
            .iter()
            .map(|&i| match model.nodes[i] {
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => Node::Split {
                    feature,
                    threshold,
                    left: new_index[left],
                    right: new_index[right],
                },
                Node::Leaf { .. } => Node::Leaf {
                    class: most_frequent(&counts[i]).trailing_zeros() as usize,
                },
            })
            .collect();
        Ok(TreeModel { nodes })
    }

    /// Index of the leaf that `row` reaches.
    fn leaf_of(&self, row: &[f64]) -> usize {
        let mut i = 0;
        while let Node::Split {
            feature,
            threshold,
            left,
            right,
        } = self.nodes[i]
        {
            i = if row[feature] <= threshold {
                left
            } else {
                right
            };
        }
        i
    }

    /// Predicted class of each row of row-major `x` (`[n, TREE_DIM]`).
    pub fn predict(&self, x: &[f64]) -> Result<Vec<usize>> {
        if !x.len().is_multiple_of(TREE_DIM) {
            return Err(Error::Invalid(format!(
                "protocol tree: {} feature values are not rows of {TREE_DIM}",
                x.len()
            )));
        }
        Ok(x.chunks_exact(TREE_DIM)
            .map(|row| match self.nodes[self.leaf_of(row)] {
                Node::Leaf { class } => class,
                Node::Split { .. } => unreachable!("leaf_of stops at a leaf"),
            })
            .collect())
    }

    /// Number of leaves.
    pub fn n_leaves(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| matches!(n, Node::Leaf { .. }))
            .count()
    }

    /// Depth: splits on the longest path from the root to a leaf.
    pub fn depth(&self) -> usize {
        let mut depth = vec![0usize; self.nodes.len()];
        let mut max = 0;
        for (i, n) in self.nodes.iter().enumerate() {
            if let Node::Split { left, right, .. } = *n {
                depth[left] = depth[i] + 1;
                depth[right] = depth[i] + 1;
                max = max.max(depth[i] + 1);
            }
        }
        max
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::TaskCounts;

    /// Rows `byt-1, pkt-1, pr-1` with the given bytes, one packet and TCP before.
    fn bytes_only(byt: &[f64]) -> Vec<f64> {
        byt.iter().flat_map(|&b| [b, 1.0, 0.0]).collect()
    }

    #[test]
    fn a_previous_protocol_that_decides_the_protocol_is_learnt_exactly() {
        // The protocol cycles TCP -> UDP -> ICMP -> other -> TCP; bytes and packets take the same
        // values in every class, so only `pr-1` tells anything. First flows are TCP.
        let (mut x, mut y) = (vec![-1.0; 3], vec![0]);
        for i in 0..400 {
            let prev = i % 4;
            x.extend([
                (100 + (i / 4) * 13 % 500) as f64,
                (1 + i / 4 % 7) as f64,
                prev as f64,
            ]);
            y.push((prev + 1) % 4);
        }
        let tree = TreeModel::fit(&x, &y).unwrap();
        assert!(tree.n_leaves() <= 5, "{tree:?}");
        // Test flows with bytes and packets never seen in training.
        let (mut tx, mut ty) = (vec![-1.0; 3], vec![0]);
        for i in 0..40 {
            tx.extend([(5000 + i) as f64, 50.0, (i % 4) as f64]);
            ty.push((i % 4 + 1) % 4);
        }
        let pred = tree.predict(&tx).unwrap();
        let all: Vec<usize> = (0..ty.len()).collect();
        let t = TaskCounts::count((&ty, &pred), None, &all);
        assert_eq!((t.macro_f1(), t.accuracy()), (1.0, 1.0));
    }

    #[test]
    fn one_split_halfway_between_the_classes_by_hand() {
        // Bytes 10, 20 | 30, 40 with classes 0, 0 | 1, 1: the only pure cut is at 25, and the
        // constant packets and protocol offer none.
        let tree = TreeModel::fit(&bytes_only(&[10.0, 20.0, 30.0, 40.0]), &[0, 0, 1, 1]).unwrap();
        assert_eq!((tree.n_leaves(), tree.depth()), (2, 1));
        let q = bytes_only(&[-1.0, 0.0, 24.9, 25.0, 25.1, 1e12]);
        // At most the threshold goes left (sklearn's rule).
        assert_eq!(tree.predict(&q).unwrap(), [0, 0, 0, 0, 1, 1]);
        // A first flow (all features -1) falls left too.
        assert_eq!(tree.predict(&[-1.0; 3]).unwrap(), [0]);
    }

    #[test]
    fn tied_leaves_get_the_same_class_in_every_fit() {
        // Two flows after 1 byte, classes 0 and 1 (a tie linfa-trees breaks in HashMap order),
        // and two after 5 and 6 bytes of class 1. The cut at 3 lowers the Gini impurity from
        // 0.375 to 0.25; the left leaf cannot be split. Its sibling's class 1 is one of its
        // tied classes, so the two are one leaf of class 1 (linfa-trees merges them whenever
        // it picked 1), whichever class linfa-trees picked.
        let x = bytes_only(&[1.0, 1.0, 5.0, 6.0]);
        // With class 2 on the right instead, the sibling shares no tied class: the left leaf
        // takes the lowest of its tied classes, 0.
        for _ in 0..30 {
            let merged = TreeModel::fit(&x, &[0, 1, 1, 1]).unwrap();
            assert_eq!(merged.n_leaves(), 1);
            assert_eq!(merged.predict(&bytes_only(&[1.0, 5.5])).unwrap(), [1, 1]);
            let split = TreeModel::fit(&x, &[0, 1, 2, 2]).unwrap();
            assert_eq!(split.n_leaves(), 2);
            assert_eq!(split.predict(&bytes_only(&[1.0, 5.5])).unwrap(), [0, 2]);
        }
    }

    /// Seeded draws below `k` (a 64-bit LCG's high bits): plain data for the tie tests.
    fn draws(seed: u64) -> impl FnMut(u64) -> u64 {
        let mut z = seed;
        move |k| {
            z = z
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (z >> 33) % k
        }
    }

    #[test]
    fn many_ties_still_give_one_tree() {
        // 3,000 flows over a few values of each feature, classes at random: many leaves with
        // tied counts. Every fit (each with its own HashMap seeds) gives the same tree.
        let mut next = draws(12345);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for _ in 0..3000 {
            x.extend([next(12) as f64 * 40.0, next(4) as f64, next(4) as f64]);
            y.push(next(4) as usize);
        }
        let first = TreeModel::fit(&x, &y).unwrap();
        assert!(first.n_leaves() > 10, "{}", first.n_leaves());
        for _ in 0..10 {
            assert_eq!(TreeModel::fit(&x, &y).unwrap(), first);
        }
    }

    #[test]
    fn columns_that_separate_alike_give_one_tree() {
        // Packets are bytes / 40, so every cut on one is a cut on the other: equal Gini scores,
        // which linfa-trees' f32 sums in HashMap order can tell apart either way. Bytes (the
        // first column) take every such cut, in every fit.
        let mut next = draws(99);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for _ in 0..4000 {
            let k = next(40) as f64;
            x.extend([40.0 * k, k, next(2) as f64]);
            y.push(next(4) as usize);
        }
        let first = TreeModel::fit(&x, &y).unwrap();
        assert!(first.n_leaves() > 10, "{}", first.n_leaves());
        assert!(
            first
                .nodes
                .iter()
                .all(|n| !matches!(n, Node::Split { feature: 1, .. }))
        );
        for _ in 0..20 {
            assert_eq!(TreeModel::fit(&x, &y).unwrap(), first);
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(TreeModel::fit(&[], &[]).is_err());
        assert!(TreeModel::fit(&[1.0, 2.0], &[0]).is_err());
        assert!(TreeModel::fit(&[1.0, 2.0, 3.0], &[N_CLASSES]).is_err());
        assert!(TreeModel::fit(&[f64::NAN, 2.0, 3.0], &[0]).is_err());
        let one = TreeModel::fit(&[1.0, 2.0, 3.0], &[2]).unwrap();
        assert_eq!(one.predict(&[5.0, 5.0, 5.0]).unwrap(), [2]);
        assert!(one.predict(&[1.0]).is_err());
        assert_eq!(one.predict(&[]).unwrap(), Vec::<usize>::new());
    }
}
