#!/usr/bin/env bash
# Needs (Debian packages): build-essential (cc), python3 (the asyncio rows, /usr/bin/python3).
# The aio program comes from the CMake `bench` preset:
#   cmake --preset bench && cmake --build --preset bench && bench/subprocess/run_spawn.sh
#
# Subprocess benchmark, three programs doing the same work:
#   raw      C: posix_spawnp + waitpid(-1), no event loop (spawn_raw.c): the reference
#   aio      aio::create_subprocess_exec + wait() (spawn_aio.cpp)
#   asyncio  asyncio.create_subprocess_exec + wait() (spawn_asyncio.py)
# (1) spawn: N children of `true` (default 2000), one at a time, and 32 at a time; children/s.
# (2) pipe: BYTES (default 256 MiB) through `cat` with communicate(); MiB/s (aio vs asyncio;
#     the raw program has no pipe mode).
# Runs are interleaved (raw, aio, asyncio, raw, ...); tables show medians and ratios.
#
#   bench/subprocess/run_spawn.sh [--runs N] [--children N] [--bytes N] [--build-dir DIR]
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
runs=5
children=2000
bytes=$((256 << 20))
build_dir="$root/build/bench"
python=/usr/bin/python3

while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --children) children="$2"; shift 2 ;;
        --bytes) bytes="$2"; shift 2 ;;
        --build-dir) build_dir="$2"; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "run_spawn.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

aio="$build_dir/bench/subprocess/spawn_aio"
if [[ ! -x "$aio" ]]; then
    echo "run_spawn.sh: $aio is missing; build it: cmake --preset bench && cmake --build --preset bench" >&2
    exit 1
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cc -O2 -o "$work/spawn_raw" "$here/spawn_raw.c"

# value <key> <command...>: runs the command, prints the number after "<key>=".
value() {
    local key="$1"; shift
    "$@" | sed -n "s/^$key=//p"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

declare -A results
for ((r = 0; r < runs; r++)); do
    for k in 1 32; do
        results["raw,$k"]+="$(value children_per_s "$work/spawn_raw" spawn "$children" "$k") "
        results["aio,$k"]+="$(value children_per_s "$aio" spawn "$children" "$k") "
        results["asyncio,$k"]+="$(value children_per_s "$python" "$here/spawn_asyncio.py" spawn "$children" "$k") "
    done
    results["aio,pipe"]+="$(value mib_per_s "$aio" pipe "$bytes") "
    results["asyncio,pipe"]+="$(value mib_per_s "$python" "$here/spawn_asyncio.py" pipe "$bytes") "
done

med() { tr ' ' '\n' <<<"${results[$1]}" | grep . | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a / b}'; }

echo "## spawn: $children children of \`true\`, medians of $runs runs (children/s)"
echo
echo "| program | 1 at a time | x raw | 32 at a time | x raw |"
echo "| --- | ---: | ---: | ---: | ---: |"
for p in raw aio asyncio; do
    one="$(med "$p,1")"; many="$(med "$p,32")"
    echo "| $p | $one | $(ratio "$one" "$(med raw,1)") | $many | $(ratio "$many" "$(med raw,32)") |"
done
echo
echo "## pipe: $((bytes >> 20)) MiB through \`cat\` with communicate(), medians of $runs runs (MiB/s)"
echo
echo "| program | MiB/s | x asyncio |"
echo "| --- | ---: | ---: |"
for p in aio asyncio; do
    v="$(med "$p,pipe")"
    echo "| $p | $v | $(ratio "$v" "$(med asyncio,pipe)") |"
done
