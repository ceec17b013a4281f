#!/usr/bin/env bash
# Builds the benchmarks with the `bench` preset (g++, Release, -O2) and runs
# them all, then prints one markdown table with a row per benchmark (ready to
# paste into the README).
#
#   bench/run_all.sh [--no-build] [--bin-dir DIR] [--reps N]
#
# Exit status: 0 if every acceptance target was met, 1 if one was missed,
# 2 on a build or usage error.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
bin_dir="$root/build/bench/bench"
build=1
args=()

while [[ $# -gt 0 ]]; do
    case "$1" in
        --no-build) build=0 ;;
        --bin-dir) bin_dir="$2"; shift ;;
        --reps) args+=(--reps "$2"); shift ;;
        --reps=*) args+=("$1") ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

if [[ $build -eq 1 ]]; then
    (cd "$root" && cmake --preset bench >/dev/null && cmake --build --preset bench) || {
        echo "build failed" >&2
        exit 2
    }
fi

rows="$(mktemp)"
trap 'rm -f "$rows"' EXIT
status=0
for b in bench_yield bench_lazy bench_create_task bench_timers bench_gather bench_queue bench_lock bench_pingpong; do
    exe="$bin_dir/$b"
    if [[ ! -x "$exe" ]]; then
        echo "missing $exe (build with: cmake --preset bench && cmake --build --preset bench)" >&2
        exit 2
    fi
    out="$("$exe" "${args[@]}")"
    rc=$?
    printf '%s\n\n' "$out"
    [[ $rc -ne 0 ]] && status=1
    grep '^| ' <<<"$out" | grep -v -e '^| benchmark ' -e '^| ---' >>"$rows"
done

echo "== all benchmarks (markdown) =="
echo "| benchmark | aio ns/op | hand-written ns/op | Asio ns/op | aio / hand-written | Asio / aio | target | met |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |"
cat "$rows"
echo
echo "$(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
if [[ -x /usr/bin/python3 ]]; then
    echo
    /usr/bin/python3 "$here/asyncio_yield.py" # Python's asyncio and uvloop, for scale
fi
exit $status
