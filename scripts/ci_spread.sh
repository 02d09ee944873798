#!/usr/bin/env bash
# Run experiments/ci.toml on several seeds, on this machine's L1d geometry and on the other
# common x86-64 one (scripts/cache_geometry.sh), and tabulate the STAN figures that
# experiments/ci.thresholds.toml bounds: the spread its STAN bounds are derived from
# (results/ci-spread/README.md says how).
#
#   scripts/ci_spread.sh BINARY OUT_DIR GEOMETRIES SEED...
#   scripts/ci_spread.sh target/release/stan /tmp/spread "native zen5" $(seq 1 10)
#
# GEOMETRIES: `native` (the machine's own caches) and/or names cache_geometry.sh knows. Writes
# OUT_DIR/<geometry>-s<seed>/ run folders and OUT_DIR/runs.csv. Needs root for any geometry
# other than `native`. Resumes: a run folder with a finished manifest (complete, or partial
# when a generator failed, which rerunning the same seed would repeat) is not run again, as in
# `stan sweep`. A run that fails or ends partial is reported and the other seeds go on; a
# partial run enters runs.csv only when `stan` and `copy` (the figures and flow counts it
# tabulates) are ok, since their figures are then those of a complete run (src/run/mod.rs);
# the script exits non-zero when any run failed or is partial.
set -euo pipefail
if [[ $# -lt 4 ]]; then
    sed -n '6,8p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
bin=$(realpath "$1")
out=$2
geoms=$3
shift 3
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
bad=0
for seed in "$@"; do
    for g in $geoms; do
        dir=$out/$g-s$seed
        if grep -qsE '"status": "(complete|partial)"' "$dir"/ci/*/manifest.json; then
            grep -qs '"status": "partial"' "$dir"/ci/*/manifest.json && bad=1
            continue
        fi
        echo "ci_spread: seed $seed, geometry $g" >&2
        if [[ $g == native ]]; then
            cmd=("$bin")
        else
            cmd=(scripts/cache_geometry.sh "$g" -- "$bin")
        fi
        if ! (cd "$here" && "${cmd[@]}" run experiments/ci.toml --seed "$seed" --out "$dir") >"$dir.log" 2>&1; then
            echo "ci_spread: seed $seed, geometry $g failed or partial (see $dir.log)" >&2
            bad=1
        fi
    done
done
python3 - "$out" <<'PY'
import csv, glob, json, os, sys
out = sys.argv[1]
keys = [("fidelity", "jsd_mean", "all"), ("fidelity", "emd_mean", "all"),
        ("fidelity", "ks_mean", "all"), ("fidelity", "cramers_v_diff", "all"),
        ("fidelity", "autocorr_diff", "byt"), ("fidelity", "flows_per_host_emd", "all"),
        ("detect", "macro_f1", "protocol"), ("privacy", "auc", "exact_match"),
        ("privacy", "auc", "dcr")]
rows = []
for m in sorted(glob.glob(os.path.join(out, "*-s*", "ci", "*", "manifest.json"))):
    man = json.load(open(m))
    if man["status"] not in ("complete", "partial"):
        continue
    g = man["generators"]
    if man["status"] == "partial":
        failed = {k: v.get("error", "") for k, v in g.items() if v.get("status") == "failed"}
        use = not ({"stan", "copy"} & failed.keys())
        print(f"{'using' if use else 'leaving out'} partial run {os.path.dirname(m)}: "
              + "; ".join(f"{k}: {v}" for k, v in failed.items()), file=sys.stderr)
        if not use:
            continue
    geom = os.path.basename(os.path.dirname(os.path.dirname(os.path.dirname(m)))).rsplit("-s", 1)[0]
    vals = {}
    for r in csv.DictReader(open(os.path.join(os.path.dirname(m), "metrics.csv"))):
        if r["generator"] == "stan" and (r["section"], r["metric"], r["subject"]) in keys:
            # detect rows exist per training share; the bound is on STAN-only training (share 0).
            vals.setdefault((r["section"], r["metric"], r["subject"]), r["value"])
    stan_flows, member_flows = g["stan"]["flows"], g["copy"]["flows"]
    details = g["stan"]["details"]
    steps = details.get("rate_calibration") or details["calibrate_rate"]
    rows.append([geom, man["seed"], man["machine"]["l1d_kib"], stan_flows, member_flows,
                 round(stan_flows / member_flows, 4), steps["kept"]]
                + [round(float(vals[k]), 4) if k in vals else "" for k in keys])
rows.sort(key=lambda r: (r[0], r[1]))
with open(os.path.join(out, "runs.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["geometry", "seed", "l1d_kib", "stan_flows", "member_flows", "ratio", "kept_iterate"]
               + [f"{m}/{s}" for (_, m, s) in keys])
    w.writerows(rows)
print(f"{len(rows)} runs -> {os.path.join(out, 'runs.csv')}", file=sys.stderr)
PY
exit "$bad"
