#!/usr/bin/env python3
"""The ablation table of paper/REPORT.md, computed from the curated run folders alone.

Each ablation pairs runs of the variant with runs of its counterpart on the same seed (same
data, host split and training code but for the ablated setting) and reports, per metric, the
mean over seeds of the paired difference variant - counterpart with a 95 % t-interval over the
seeds (none for one seed). Negative is better for every metric shown. Standard library only.

Usage: python3 paper/ablations.py > paper/generated/ablations.md
"""

import csv
import glob
import json
import math
import os
import statistics
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
RESULTS = os.path.join(ROOT, "results", "paper")

# Two-sided 95 % Student t quantiles by degrees of freedom.
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306}

METRICS = [
    ("jsd_mean", "all", "JSD"),
    ("emd_mean", "all", "EMD"),
    ("ks_mean", "all", "KS"),
    ("flows_per_host_emd", "all", "per-host"),
]


def runs(folder, **cell):
    """seed -> {(metric, subject): value} of STAN's `fidelity` rows, for the runs of `folder`
    whose sweep cell has every key=value of `cell` (values as the manifest spells them)."""
    out = {}
    for m in sorted(glob.glob(os.path.join(RESULTS, folder, "*", "manifest.json"))):
        man = json.load(open(m))
        sc = man["spec"].get("sweep_cell", {})
        if any(sc.get(k.replace("__", ".")) != v for k, v in cell.items()):
            continue
        vals = {}
        with open(os.path.join(os.path.dirname(m), "metrics.csv")) as f:
            for r in csv.DictReader(f):
                if r["section"] == "fidelity" and r["generator"] == "stan":
                    vals[(r["metric"], r["subject"])] = float(r["value"])
        out[man["spec"]["seed"]] = vals
    return out


def merge(*parts):
    out = {}
    for p in parts:
        out.update(p)
    return out


QS_B59 = runs("quickstart-b59c1c9")
QS_D2B = runs("quickstart-d2bc200")
SEL0_46 = runs("ablation-select-more", stan__rollout_select="0")

# (ablation, what changed, revision, variant seeds, counterpart seeds, verdict)
ABLATIONS = [
    ("context window k = 10", "the CNN reads the 10 previous flows instead of 5; plain host split",
     "1bb6c63", runs("ablation-window", stan__window="10"), runs("ablation-window", stan__window="5"),
     "k = 5 kept"),
    ("context window k = 3", "3 previous flows instead of 5", "ef1acb9",
     runs("ablation-window3"), QS_D2B, "k = 5 kept"),
    ("training-window noise 0.02", "Gaussian noise on the window's continuous attributes in training",
     "0436df8", runs("ablation-noise", stan__window_noise="0.02"), QS_D2B, "option removed"),
    ("training-window noise 0.05", "as above, 0.05", "0436df8",
     runs("ablation-noise", stan__window_noise="0.05"), QS_D2B, "option removed"),
    ("scheduled sampling 0.2", "window rows swapped for the model's own one-step samples",
     "4598af7", runs("ablation-sampled", stan__sampled_windows="0.2"), QS_D2B, "option removed"),
    ("scheduled sampling 0.5", "as above, 0.5", "4598af7",
     runs("ablation-sampled", stan__sampled_windows="0.5"), QS_D2B, "option removed"),
    ("roll-out selection", "of the 5 best-validation epochs keep the one whose roll-out volume is the members'",
     "5962a53, a045cdd", merge(runs("ablation-select"), runs("ablation-select-more", stan__rollout_select="5")),
     merge(QS_B59, SEL0_46), "option removed: the rate calibration does more"),
    ("MADE direct connections", "continuous heads also read the row's earlier continuous values",
     "4bf115f", runs("ablation-direct"), QS_B59, "option removed"),
    ("likelihood cells = rounding intervals", "h = 1e-6: every value scored by the interval decoding to it",
     "b59c1c9", runs("ablation-cells-exact"), QS_B59, "h = 1/400 kept"),
    ("host activity class", "each host's rate class (factor 4) as a given attribute; plain host split",
     "f1a4dfb", runs("ablation-activity", encoder__host_activity="true"),
     runs("ablation-activity", encoder__host_activity="false"), "part of STAN with the calibration"),
    ("rate calibration, per hour", "roll-out clock dilated per hour of day to the members' volume",
     "838c3aa", runs("ablation-calibrate", stan__calibrate_rate='"hour"'), QS_B59, "superseded by host_hour"),
    ("rate calibration, per host and hour", "dilated per host (by rank) and per hour of day",
     "838c3aa", merge(runs("ablation-calibrate", stan__calibrate_rate='"host_hour"'),
                      runs("ablation-calibrate-more", encoder__host_activity="false")),
     merge(QS_B59, SEL0_46), "part of STAN (no option)"),
    ("calibration + activity class", "both: the default STAN since e41ee7b",
     "838c3aa", merge(runs("ablation-calibrate-activity"),
                      runs("ablation-calibrate-more", encoder__host_activity="true")),
     merge(QS_B59, SEL0_46), "the default"),
    ("weight average", "validation, early stopping and roll-out on an exponential moving "
     "average of the weights (decay 0.998 per step; results/paper/ablation-ema/ema.patch)",
     "14a38ab + patch", runs("ablation-ema"), runs("quickstart"), "not adopted"),
]


def effect(var, base, key):
    d = [var[s][key] - base[s][key] for s in sorted(var) if s in base and key in var[s] and key in base[s]]
    if not d:
        return "–", 0
    m = statistics.mean(d)
    if len(d) == 1:
        return f"{m:+.4f}", 1
    h = T95[len(d) - 1] * statistics.stdev(d) / math.sqrt(len(d))
    return f"{m:+.4f} [{m - h:+.4f}, {m + h:+.4f}]", len(d)


def main():
    w = sys.stdout.write
    heads = " | ".join(f"Δ {label} ↓" for _, _, label in METRICS)
    w(f"| ablation (revision) | what changed | seeds | {heads} | verdict |\n")
    w("|---|---|---|" + "---|" * len(METRICS) + "---|\n")
    for name, what, rev, var, base, verdict in ABLATIONS:
        cells, n = [], 0
        for metric, subject, _ in METRICS:
            text, k = effect(var, base, (metric, subject))
            cells.append(text)
            n = max(n, k)
        w(f"| {name} ({rev}) | {what} | {n} | " + " | ".join(cells) + f" | {verdict} |\n")


if __name__ == "__main__":
    main()
