#!/usr/bin/env bash
# Fetch full UGR'16 weeks from the dataset's site (needs network; never run in CI) and cut
# STAN-style per-host day files from them with `stan data cut`.
#
# Usage: scripts/fetch_ugr16.sh MONTH WEEK DATE [N_HOSTS]
#   e.g. scripts/fetch_ugr16.sh april week3 2016-04-11 100
#
# The weekly archives are large (tens of GB compressed). The download URL follows the layout of
# https://nesg.ugr.es/nesg-ugr16/ at the time of writing; check it on the dataset page and set
# UGR16_URL to override. UGR'16 is for research use; cite Maciá-Fernández et al., Computers &
# Security 73 (2018) 411-424 (see experiments/data/README.md).
set -euo pipefail
month=${1:?month, e.g. april}
week=${2:?week, e.g. week3}
date=${3:?date to cut, e.g. 2016-04-11}
n_hosts=${4:-100}
dest=${UGR16_DIR:-data/ugr16}
url=${UGR16_URL:-https://nesg.ugr.es/nesg-ugr16/download/normal/${month}/${week}/${month}_${week}_csv.tar.gz}
mkdir -p "$dest"
archive="$dest/${month}_${week}_csv.tar.gz"
if [ ! -f "$archive" ]; then
  echo "downloading $url" >&2
  curl -fL --retry 3 -o "$archive.part" "$url"
  mv "$archive.part" "$archive"
fi
tar -xzf "$archive" -C "$dest"
csv=$(find "$dest" -name "${month}.${week}*.csv*" -type f | head -n 1)
[ -n "$csv" ] || { echo "no CSV found in $archive" >&2; exit 1; }
cargo run --release -- data validate "$csv" > "$dest/invalid_lines.txt" || echo "invalid lines listed in $dest/invalid_lines.txt" >&2
cargo run --release -- data cut "$csv" --date "$date" --n-hosts "$n_hosts" --out "$dest/per_host_$date"
