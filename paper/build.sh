#!/usr/bin/env bash
# Rebuild the reproduction report's tables from the curated run folders under results/paper/
# (no retraining): `stan report` aggregates seeds and writes Markdown/CSV/LaTeX tables into
# paper/generated/<experiment>/. Then REPORT.md is assembled from paper/report.md.in with each
# `@@TABLES <experiment>@@` line replaced by that experiment's tables.
set -euo pipefail
cd "$(dirname "$0")/.."
stan=${STAN:-target/release/stan}
[ -x "$stan" ] || cargo build --release
for exp in results/paper/*/; do
  name=$(basename "$exp")
  mkdir -p "paper/generated/$name"
  "$stan" report "$exp" --out "paper/generated/$name" > /dev/null
done
python3 - <<'PY'
import re, pathlib
src = pathlib.Path("paper/report.md.in").read_text()
def tables(m):
    p = pathlib.Path("paper/generated") / m.group(1) / "tables.md"
    return p.read_text().split("\n", 2)[2] if p.exists() else f"(no results for {m.group(1)})"
pathlib.Path("paper/REPORT.md").write_text(re.sub(r"^@@TABLES (\S+)@@$", tables, src, flags=re.M))
PY
echo "paper/REPORT.md"
