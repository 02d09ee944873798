#!/bin/sh
# Reference adapter of stan's external command protocol (src/generator/external.rs):
# `stan` runs `sh scripts/generators/raw.sh TRAIN_CSV REQUEST_JSON OUT_CSV`.
#
# A `copy`-like sanity check through the protocol: synthetic host i re-emits the training
# flows of its paired member (request.json's `hosts[i].member`) under its pseudonym
# (`hosts[i].pseudonym`), shifted from the training window's start to the generation window's
# start; flows that land outside the generation window are dropped. Without a time split
# (training and generation windows alike) it is `copy` through the protocol: membership
# inference succeeds as against `copy` (exact-match and DCR AUC near 1). With a time split the
# shift changes each flow's time of day, which the exact-match key includes, so exact match
# drops to chance there while DCR stays high.
#
# POSIX sh and awk only. request.json is read line by line: stan writes one host per line.
set -eu

if [ "$#" -ne 3 ]; then
    echo "usage: raw.sh TRAIN_CSV REQUEST_JSON OUT_CSV" >&2
    exit 2
fi
train=$1
request=$2
out=$3

awk -v request="$request" '
# Days since 1970-01-01 of a civil date, and back (H. Hinnant, chrono-compatible algorithms).
function days(y, m, d,    era, yoe, doy, doe) {
    y -= (m <= 2)
    era = int((y >= 0 ? y : y - 399) / 400)
    yoe = y - era * 400
    doy = int((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1
    doe = yoe * 365 + int(yoe / 4) - int(yoe / 100) + doy
    return era * 146097 + doe - 719468
}
function unix(s) {  # "YYYY-MM-DD HH:MM:SS"
    return days(substr(s, 1, 4) + 0, substr(s, 6, 2) + 0, substr(s, 9, 2) + 0) * 86400 \
        + substr(s, 12, 2) * 3600 + substr(s, 15, 2) * 60 + substr(s, 18, 2)
}
function stamp(t,    z, era, doe, yoe, y, doy, mp, d, m, s) {
    z = int(t / 86400); s = t - z * 86400
    z += 719468
    era = int((z >= 0 ? z : z - 146096) / 146097)
    doe = z - era * 146097
    yoe = int((doe - int(doe / 1460) + int(doe / 36524) - int(doe / 146096)) / 365)
    y = yoe + era * 400
    doy = doe - (365 * yoe + int(yoe / 4) - int(yoe / 100))
    mp = int((5 * doy + 2) / 153)
    d = doy - int((153 * mp + 2) / 5) + 1
    m = mp < 10 ? mp + 3 : mp - 9
    y += (m <= 2)
    return sprintf("%04d-%02d-%02d %02d:%02d:%02d", y, m, d, int(s / 3600), int(s % 3600 / 60), s % 60)
}
function field(line, key,    i, rest) {  # the value of "key": in a one-line JSON object
    i = index(line, "\"" key "\":")
    if (i == 0) return ""
    rest = substr(line, i + length(key) + 3)
    sub(/^ */, "", rest)
    if (substr(rest, 1, 1) == "\"") { rest = substr(rest, 2); sub(/".*/, "", rest) }
    else sub(/[,} ].*/, "", rest)
    return rest
}
BEGIN {
    FS = ","; OFS = ","
    while ((getline line < request) > 0) {
        if (index(line, "\"train_window\":")) train_start = field(line, "start_unix")
        else if (index(line, "\"window\":")) { start = field(line, "start_unix"); end = field(line, "end_unix") }
        else if (index(line, "\"pseudonym\":")) pseudonym[field(line, "member")] = field(line, "pseudonym")
    }
    if (start == "" || end == "" || train_start == "") {
        print "raw.sh: no window in " request > "/dev/stderr"; exit 2
    }
    shift = start - train_start
    print "te,td,sa,da,sp,dp,pr,flg,fwd,stos,pkt,byt,label"
}
NR == 1 && $1 == "te" { next }
{
    if (!($3 in pseudonym) && !($4 in pseudonym)) next
    t = unix($1) + shift
    if (t < start || t >= end) next
    if (shift != 0) $1 = stamp(t)
    if ($3 in pseudonym) $3 = pseudonym[$3]
    if ($4 in pseudonym) $4 = pseudonym[$4]
    print
}
' "$train" > "$out.tmp"
mv "$out.tmp" "$out"
