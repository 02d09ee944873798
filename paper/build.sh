#!/usr/bin/env bash
# Rebuild the report from the curated run folders under results/paper/ (no retraining):
# `stan report` aggregates each experiment's seeds into paper/generated/<experiment>/
# (headline.md, tables, summary.csv, sources.csv; its report.html is not kept in git), paper/ablations.py pairs the ablation runs
# with their counterparts, and REPORT.md is assembled from paper/report.md.in, where
#   @@HEADLINE <exp>@@          is the fidelity part of <exp>'s headline tables,
#   @@HEADLINE_DETECT <exp>@@   its downstream (detect) part,
#   @@HEADLINE_PRIVACY <exp>@@  its privacy part,
#   @@ABLATIONS@@               the ablation table.
set -euo pipefail
cd "$(dirname "$0")/.."
stan=${STAN:-target/release/stan}
[ -x "$stan" ] || cargo build --release
for exp in results/paper/*/; do
  name=$(basename "$exp")
  mkdir -p "paper/generated/$name"
  "$stan" report "$exp" --out "paper/generated/$name" > /dev/null
done
python3 paper/ablations.py > paper/generated/ablations.md
python3 - <<'PY'
import re, pathlib

gen = pathlib.Path("paper/generated")

def parts(exp):
    """headline.md of `exp` split at its `### ` headings: {heading: table with its note}."""
    p = gen / exp / "headline.md"
    if not p.exists():
        return {}
    out, head = {}, None
    for line in p.read_text().splitlines():
        if line.startswith("### "):
            head = line[4:].strip()
            out[head] = [f"**{head}.**", ""]
        elif head is not None:
            out[head].append(line)
    return {h: "\n".join(v).strip() for h, v in out.items()}

def pick(exp, keyword):
    got = [t for h, t in parts(exp).items() if any(k in h.lower() for k in keyword)]
    return "\n\n".join(got) if got else f"(no {keyword[0]} headline for {exp})"

def sub(m):
    kind, exp = m.group(1), m.group(2)
    keys = {"": ("fidelity", "volume"), "_DETECT": ("downstream", "detect"), "_PRIVACY": ("privacy",)}
    return pick(exp, keys[kind])

src = pathlib.Path("paper/report.md.in").read_text()
src = re.sub(r"^@@HEADLINE(|_DETECT|_PRIVACY) (\S+)@@$", sub, src, flags=re.M)
src = src.replace("@@ABLATIONS@@", (gen / "ablations.md").read_text().strip())
pathlib.Path("paper/REPORT.md").write_text(src)
PY
echo "paper/REPORT.md"
