#!/usr/bin/env python3
"""SDV GaussianCopulaSynthesizer as a `stan` command generator (src/generator/external.rs).

`stan` runs `python3 scripts/generators/sdv_gaussian_copula.py TRAIN_CSV REQUEST_JSON OUT_CSV`
for every fit (the released one and each shadow retraining). Set-up (README, "External
generators"): `python3 -m venv .venv-sdv && .venv-sdv/bin/pip install sdv==2.0.0`, then
activate the venv before `stan run` so that `python3` is its interpreter.

Why this adapter: it puts a real third-party tabular generator (SDV, from PyPI) through the
same fidelity, detection and privacy code as the built-ins, as a documented baseline. It is
not a NetFlow model and does not try to be one:

* One pooled table of host-flows is modelled: every training flow once per member it
  touches (a flow between two members is a row for each), with the columns
  `direction` (`out`: the member is `sa`; `in`: it is `da`), `position` (where the flow's
  `te` lies in the training window, 0 to 1), `log_td`, `pr`, `own_port`, `peer_port`, `flg`,
  `fwd`, `stos`, `log_pkt`, `log_byt`, `peer` (the other side's address) and `label`.
  Durations, packets and bytes are modelled as log(1 + x) because their heavy tails defeat
  the copula's default bounded (beta) marginals on the raw scale; they are rounded back.
* Ports, protocol, flags, ToS, `fwd`, label and the peer address are categorical (SDV's
  default encoder keeps each one's training frequencies exactly), so the peer address is
  drawn from the training distribution of peers, linked to the other columns only through
  the Gaussian copula's correlations. A peer that is itself a member is written as that
  member's pseudonym, so no member's real address appears in the output.
* Nothing is conditioned on the host: synthetic host `i` (request.json's `hosts[i]`) gets
  `member_flows` rows drawn i.i.d. from the one pooled model, with itself as `sa` (direction
  `out`) or `da` (`in`). Rows are independent: no time order, no connection bursts, no per-host
  behaviour beyond the flow count.
* `te` is the window start plus `position` times the window length (so a time split maps
  the training window onto the generation window), clamped into the window.

Deterministic for a given request seed: numpy and random are seeded with it and so is
SDV's sampling random state; fitting is deterministic.
"""

import json
import math
import os
import random
import sys
import time
from datetime import datetime, timezone

import numpy as np
import pandas as pd

HEADER = ["te", "td", "sa", "da", "sp", "dp", "pr", "flg", "fwd", "stos", "pkt", "byt", "label"]
# The modelled table, in host_table's column order (SDV warns when metadata and data differ).
COLUMNS = [
    "direction", "position", "log_td", "pr", "own_port", "peer_port", "flg", "fwd", "stos",
    "log_pkt", "log_byt", "peer", "label",
]  # fmt: skip
NUMERICAL = {"position", "log_td", "log_pkt", "log_byt"}


def log(msg):
    print(f"sdv_gaussian_copula: {msg}", file=sys.stderr, flush=True)


def host_table(train, members, train_start, train_len):
    """One row per (flow, member it touches), in the columns the copula models."""
    te = pd.to_datetime(train["te"], format="%Y-%m-%d %H:%M:%S", utc=True)
    te_unix = (te - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(seconds=1)
    position = ((te_unix - train_start) / train_len).clip(0.0, 1.0)
    parts = []
    for direction, own, own_port, peer, peer_port in (
        ("out", "sa", "sp", "da", "dp"),
        ("in", "da", "dp", "sa", "sp"),
    ):
        mask = train[own].isin(members)
        part = pd.DataFrame(
            {
                "direction": direction,
                "position": position[mask].astype(float),
                "log_td": np.log1p(train.loc[mask, "td"].astype(float)),
                "pr": train.loc[mask, "pr"],
                "own_port": train.loc[mask, own_port].astype(str),
                "peer_port": train.loc[mask, peer_port].astype(str),
                "flg": train.loc[mask, "flg"],
                "fwd": train.loc[mask, "fwd"].astype(str),
                "stos": train.loc[mask, "stos"].astype(str),
                "log_pkt": np.log1p(train.loc[mask, "pkt"].astype(float)),
                "log_byt": np.log1p(train.loc[mask, "byt"].astype(float)),
                "peer": train.loc[mask, peer],
                "label": train.loc[mask, "label"],
            }
        )
        parts.append(part)
    return pd.concat(parts, ignore_index=True)[COLUMNS]


def make_synthesizer():
    """SDV's GaussianCopulaSynthesizer with explicit column types (no detection guesses)."""
    from sdv.metadata import Metadata
    from sdv.single_table import GaussianCopulaSynthesizer

    columns = {c: {"sdtype": "numerical" if c in NUMERICAL else "categorical"} for c in COLUMNS}
    metadata = Metadata.load_from_dict({"tables": {"flows": {"columns": columns}}, "relationships": []})
    return GaussianCopulaSynthesizer(metadata, enforce_min_max_values=True)


def sample(synth, n):
    """`n` rows; SDV 2 returns {table: frame}, SDV 1 a frame."""
    rows = synth.sample(num_rows=n)
    if isinstance(rows, dict):
        rows = next(iter(rows.values()))
    return rows.reset_index(drop=True)


def fmt_time(t):
    return datetime.fromtimestamp(int(t), tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def main(argv):
    if len(argv) != 4:
        log("usage: sdv_gaussian_copula.py TRAIN_CSV REQUEST_JSON OUT_CSV")
        return 2
    train_csv, request_json, out_csv = argv[1:]
    with open(request_json) as f:
        request = json.load(f)
    seed = int(request["seed"]) % (2**32)
    random.seed(seed)
    np.random.seed(seed)

    hosts = request["hosts"]
    members = [h["member"] for h in hosts]
    to_pseudonym = {h["member"]: h["pseudonym"] for h in hosts}
    train_start = int(request["train_window"]["start_unix"])
    train_len = int(request["train_window"]["end_unix"]) - train_start
    start = int(request["window"]["start_unix"])
    end = int(request["window"]["end_unix"])

    t0 = time.monotonic()
    train = pd.read_csv(train_csv, dtype={"sa": str, "da": str, "pr": str, "flg": str, "label": str})
    train.columns = [c.strip().lower() for c in train.columns]
    if list(train.columns[: len(HEADER)]) != HEADER:
        log(f"{train_csv}: expected header {','.join(HEADER)}, got {','.join(train.columns)}")
        return 2
    table = host_table(train, set(members), train_start, max(train_len, 1))
    if table.empty:
        log(f"{train_csv}: no flow touches a requested member")
        return 2
    log(f"{len(train)} training flows, {len(table)} host-flows, {len(hosts)} hosts")

    synth = make_synthesizer()
    synth.fit({"flows": table})  # SDV 2 takes {table: frame}
    t1 = time.monotonic()
    log(f"fit: {t1 - t0:.1f} s")

    counts = [int(h["member_flows"]) for h in hosts]
    total = sum(counts)
    # SDV samples from a fixed seed unless told otherwise: give it the request's.
    synth._set_random_state(seed)
    rows = sample(synth, total) if total > 0 else table.iloc[:0]
    log(f"sample: {time.monotonic() - t1:.1f} s, {len(rows)} flows")

    own = np.repeat([h["pseudonym"] for h in hosts], counts)
    out_dir = rows["direction"].to_numpy() == "out"
    peer = rows["peer"].map(lambda p: to_pseudonym.get(p, p)).to_numpy()
    own_port = rows["own_port"].to_numpy()
    peer_port = rows["peer_port"].to_numpy()
    length = end - start
    te = start + np.floor(rows["position"].to_numpy(dtype=float).clip(0.0, 1.0) * length)
    te = te.clip(start, end - 1).astype(np.int64)
    td = np.expm1(rows["log_td"].to_numpy(dtype=float).clip(0.0, None))
    pkt = np.maximum(np.rint(np.expm1(rows["log_pkt"].to_numpy(dtype=float))), 1).astype(np.int64)
    byt = np.maximum(np.rint(np.expm1(rows["log_byt"].to_numpy(dtype=float))), 0).astype(np.int64)

    out = pd.DataFrame(
        {
            "te_unix": te,
            "te": [fmt_time(t) for t in te],
            "td": [f"{x:.3f}" if math.isfinite(x) else "0.000" for x in td],
            "sa": np.where(out_dir, own, peer),
            "da": np.where(out_dir, peer, own),
            "sp": np.where(out_dir, own_port, peer_port),
            "dp": np.where(out_dir, peer_port, own_port),
            "pr": rows["pr"].to_numpy(),
            "flg": rows["flg"].to_numpy(),
            "fwd": rows["fwd"].to_numpy(),
            "stos": rows["stos"].to_numpy(),
            "pkt": pkt,
            "byt": byt,
            "label": rows["label"].to_numpy(),
        }
    )
    out = out.sort_values("te_unix", kind="stable").drop(columns="te_unix")
    tmp = out_csv + ".tmp"
    out.to_csv(tmp, index=False, columns=HEADER)
    os.replace(tmp, out_csv)
    log(f"wrote {len(out)} flows to {out_csv} in {time.monotonic() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
