#!/usr/bin/env bash
# Run a command as if the CPU had another L1/L2 data-cache geometry, as the matrix-multiply
# crate (gemm, under candle) reads it from /sys/devices/system/cpu/cpu*/cache.
#
#   scripts/cache_geometry.sh zen3 -- cargo test            # 32 KiB 8-way L1d, 512 KiB 8-way L2
#   scripts/cache_geometry.sh zen5 -- target/release/stan run experiments/ci.toml
#   scripts/cache_geometry.sh 32:8:1024:16 -- CMD ...       # L1d KiB:ways:L2 KiB:ways
#
# Why: gemm picks its k-blocking (how many products are summed before a partial sum is
# stored) from the L1d size and associativity whenever the inner dimension exceeds 512, which
# the weight gradients of a batch do. Two machines with the same SIMD level but another L1d
# geometry therefore sum in another order, train other weights, and a chaotic training
# outcome differs from the first epoch on. The common x86-64 L1d geometries are 32 KiB 8-way
# (Zen 1-4, Skylake) and 48 KiB 12-way (Zen 5, Ice Lake and later); gemm in this build uses
# AVX2/FMA kernels on all of them (its AVX-512 kernels are not compiled in). This script lets
# one machine produce both arithmetic paths, e.g. to derive a regression bound from the
# spread over seeds and geometries (experiments/ci.thresholds.toml).
#
# Needs root (a private mount namespace with bind mounts over sysfs); nothing outside the
# command sees the change, and it ends with the command.
set -euo pipefail

if [[ $# -lt 3 || $2 != "--" ]]; then
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
case $1 in
    zen3) geom=32:8:512:8 ;;
    zen5) geom=48:12:1024:16 ;;
    *:*:*:*) geom=$1 ;;
    *) echo "cache_geometry.sh: unknown geometry '$1' (zen3, zen5 or L1KiB:ways:L2KiB:ways)" >&2; exit 2 ;;
esac
IFS=: read -r l1 l1w l2 l2w <<<"$geom"
shift 2

fake=$(mktemp -d)
trap 'rm -rf "$fake"' EXIT
cpus=()
for cache in /sys/devices/system/cpu/cpu[0-9]*/cache; do
    cpu=$(basename "$(dirname "$cache")")
    cpus+=("$cpu")
    for i in 0 1 2 3; do
        mkdir -p "$fake/$cpu/index$i"
    done
    # index0 L1d, index1 L1i, index2 L2 (per core), index3 L3 (the real one's size).
    printf '%s\n' 1 Data "${l1}K" "$l1w" 64 "${cpu#cpu}" >"$fake/$cpu/.0"
    printf '%s\n' 1 Instruction 32K 8 64 "${cpu#cpu}" >"$fake/$cpu/.1"
    printf '%s\n' 2 Unified "${l2}K" "$l2w" 64 "${cpu#cpu}" >"$fake/$cpu/.2"
    l3=$(cat "$cache/index3/size" 2>/dev/null || echo 32768K)
    l3w=$(cat "$cache/index3/ways_of_associativity" 2>/dev/null || echo 16)
    l3s=$(cat "$cache/index3/shared_cpu_list" 2>/dev/null || echo "${cpu#cpu}")
    printf '%s\n' 3 Unified "$l3" "$l3w" 64 "$l3s" >"$fake/$cpu/.3"
    for i in 0 1 2 3; do
        {
            read -r level; read -r type; read -r size; read -r ways; read -r line; read -r shared
        } <"$fake/$cpu/.$i"
        d=$fake/$cpu/index$i
        echo "$level" >"$d/level"
        echo "$type" >"$d/type"
        echo "$size" >"$d/size"
        echo "$ways" >"$d/ways_of_associativity"
        echo "$line" >"$d/coherency_line_size"
        echo "$shared" >"$d/shared_cpu_list"
        rm "$fake/$cpu/.$i"
    done
done

mounts=""
for cpu in "${cpus[@]}"; do
    mounts+="mount --bind '$fake/$cpu' /sys/devices/system/cpu/$cpu/cache && "
done
unshare -m sh -c "${mounts}exec \"\$@\"" sh "$@"
