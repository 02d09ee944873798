#!/usr/bin/env python3
"""One-sided log-normal tolerance limits of the STAN figures in a ci_spread.sh runs.csv.

    python3 scripts/tolerance_limits.py results/ci-spread/runs.csv [CONFIG]   # needs scipy

CONFIG picks the rows of one `config` (a file with that column holds several); without it,
every row is used.

For a positive figure x over n runs: exp(mean(ln x) + k sd(ln x)) (upper limit) or with -k
(lower), k = t'(0.95; n - 1, z(0.99) sqrt(n)) / sqrt(n), the 95 % quantile of the noncentral t
with n - 1 degrees of freedom and noncentrality z(0.99) sqrt(n): a limit that 99 % of runs stay
inside, with 95 % confidence. The log scale because the figures are positive and right-skewed;
the Shapiro-Wilk p-values on both scales are printed so that a reader can judge the fit.
Bounds are the limits rounded outward to 0.005.
"""
import csv
import math
import sys

from scipy import stats

# (column, direction): the STAN figures experiments/ci.thresholds.toml bounds.
BOUNDED = [
    ("jsd_mean/all", "max"),
    ("cramers_v_diff/all", "max"),
    ("autocorr_diff/byt", "max"),
    ("flows_per_host_emd/all", "max"),
    ("auc/dcr", "max"),
    ("macro_f1/protocol", "min"),
]


def main(path, config=None):
    rows = list(csv.DictReader(open(path)))
    if config is not None:
        rows = [r for r in rows if r.get("config") == config]
        if not rows:
            sys.exit(f"tolerance_limits: no rows with config = {config!r} in {path}")
    n = len(rows)
    k = stats.nct.ppf(0.95, n - 1, stats.norm.ppf(0.99) * math.sqrt(n)) / math.sqrt(n)
    print(f"n = {n} runs, k = {k:.3f}")
    print("| figure | range | median | Shapiro-Wilk p raw / log | limit | bound |")
    print("|---|---|---|---|---|---|")
    for col, side in BOUNDED:
        x = [float(r[col]) for r in rows]
        lx = [math.log(v) for v in x]
        m = sum(lx) / n
        sd = math.sqrt(sum((v - m) ** 2 for v in lx) / (n - 1))
        limit = math.exp(m + k * sd) if side == "max" else math.exp(m - k * sd)
        bound = (math.ceil(limit / 0.005 - 1e-9) if side == "max" else math.floor(limit / 0.005 + 1e-9)) * 0.005
        p_raw, p_log = stats.shapiro(x).pvalue, stats.shapiro(lx).pvalue
        xs = sorted(x)
        med = xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2
        print(f"| {col} ({side}) | {xs[0]:.3f}-{xs[-1]:.3f} | {med:.3f} | {p_raw:.2f} / {p_log:.2f} "
              f"| {limit:.4f} | {bound:.3f} |")
    ratios = sorted(float(r["ratio"]) for r in rows)
    print(f"roll-out / members' flows: {ratios[0]:.3f}-{ratios[-1]:.3f}")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    main(*sys.argv[1:])
