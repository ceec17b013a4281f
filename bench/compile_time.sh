#!/usr/bin/env bash
# Compile time of aio against Boost.Asio: how long `g++ -std=c++20 -O0 -c` takes for
#   (a) aio hello:      examples/hello_world.cpp's program (aio::run of a coroutine that prints
#                       with fmt, co_awaits aio::sleep(1s), prints again), including <aio/aio.hpp>
#   (b) aio loop only:  the same program, including only the loop's headers (default
#                       <aio/event_loop.hpp> <aio/sleep.hpp>; set with --loop-headers)
#   (c) Asio hello:     the same program in Asio: co_spawn of an asio::awaitable that prints
#                       with fmt, co_awaits a steady_timer's async_wait(use_awaitable), prints;
#                       including <boost/asio.hpp>, as Asio's tutorial and most programs do
#   (d) Asio, minimal:  the same, including only the seven boost/asio/ headers it needs
#                       (reported, for scale: the hardest reference)
# One compiler process at a time; the TUs are compiled interleaved (a, b, c, a, b, c, ...)
# after one untimed warm-up compile each, and the table shows medians.
# Target: (a) aio hello <= 0.45x (c) Asio hello.
#
#   bench/compile_time.sh [--include-dir DIR] [--runs N] [--cxx CXX] [--boost-dir DIR]
#                         [--hello-headers "H ..."] [--loop-headers "H ..."] [--metric wall|cpu]
#                         [--print-tus]
#
#   --include-dir DIR   aio's include directory (default: this checkout's include/); point it
#                       at another checkout's include/ for an A/B
#   --runs N            timed compiles per TU (default 5)
#   --cxx CXX           compiler (default: $CXX, else g++)
#   --boost-dir DIR     extra -I for Boost (default: the compiler's own search path)
#   --hello-headers     aio headers of TU (a) (default: "aio/aio.hpp")
#   --loop-headers      aio headers of TU (b) (default: "aio/event_loop.hpp aio/sleep.hpp")
#   --metric wall|cpu   what the ratio and the target use: wall time (default) or the
#                       compiler's CPU time (user + sys; steadier on a busy machine)
#   --print-tus         print the three sources and exit
#
# Without Boost.Asio >= 1.81 the Asio row is n/a (the aio rows are still measured).
# Exit status: 0 target met (or n/a), 1 target missed, 2 usage error or a TU failed to compile.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

include_dir="$root/include"
runs=5
cxx="${CXX:-g++}"
boost_dir=""
metric=wall
print_tus=0
target=0.45
# The headers of each TU; space-separated lists, adjust freely.
hello_headers="aio/aio.hpp"
loop_headers="aio/event_loop.hpp aio/sleep.hpp"
asio_full_headers="boost/asio.hpp"
asio_headers="boost/asio/awaitable.hpp boost/asio/co_spawn.hpp boost/asio/detached.hpp
              boost/asio/io_context.hpp boost/asio/steady_timer.hpp boost/asio/this_coro.hpp
              boost/asio/use_awaitable.hpp"

while [[ $# -gt 0 ]]; do
    case "$1" in
        --include-dir) include_dir="$2"; shift ;;
        --include-dir=*) include_dir="${1#*=}" ;;
        --runs) runs="$2"; shift ;;
        --runs=*) runs="${1#*=}" ;;
        --cxx) cxx="$2"; shift ;;
        --cxx=*) cxx="${1#*=}" ;;
        --boost-dir) boost_dir="$2"; shift ;;
        --boost-dir=*) boost_dir="${1#*=}" ;;
        --hello-headers) hello_headers="$2"; shift ;;
        --loop-headers) loop_headers="$2"; shift ;;
        --metric) metric="$2"; shift ;;
        --metric=*) metric="${1#*=}" ;;
        --print-tus) print_tus=1 ;;
        -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

if ! [[ "$runs" =~ ^[1-9][0-9]*$ ]]; then echo "--runs must be >= 1" >&2; exit 2; fi
if [[ "$metric" != wall && "$metric" != cpu ]]; then echo "--metric is wall or cpu" >&2; exit 2; fi
if [[ ! -f "$include_dir/aio/aio.hpp" ]]; then
    echo "no aio/aio.hpp under --include-dir $include_dir" >&2
    exit 2
fi
include_dir="$(cd "$include_dir" && pwd)"
if ! command -v "$cxx" >/dev/null; then echo "compiler not found: $cxx" >&2; exit 2; fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

boost_flags=()
[[ -n "$boost_dir" ]] && boost_flags=(-isystem "$boost_dir")

# --- the translation units -------------------------------------------------------------
include_lines() { local h; for h in $1; do printf '#include <%s>\n' "$h"; done; }

aio_body='
#include <fmt/core.h>

#include <chrono>

using namespace std::chrono_literals;

aio::Task<> main_task() {
    fmt::print("hello\n");
    co_await aio::sleep(1s);
    fmt::print("world\n");
}

int main() {
    aio::run(main_task());
}'

asio_body='
#include <fmt/core.h>

#include <chrono>

namespace asio = boost::asio;
using namespace std::chrono_literals;

asio::awaitable<void> main_task() {
    fmt::print("hello\n");
    asio::steady_timer timer(co_await asio::this_coro::executor, 1s);
    co_await timer.async_wait(asio::use_awaitable);
    fmt::print("world\n");
}

int main() {
    asio::io_context ctx;
    asio::co_spawn(ctx, main_task(), asio::detached);
    ctx.run();
}'

{ include_lines "$hello_headers"; printf '%s\n' "$aio_body"; } >"$work/aio_hello.cpp"
{ include_lines "$loop_headers"; printf '%s\n' "$aio_body"; } >"$work/aio_loop.cpp"
{ include_lines "$asio_full_headers"; printf '%s\n' "$asio_body"; } >"$work/asio_hello.cpp"
{ include_lines "$asio_headers"; printf '%s\n' "$asio_body"; } >"$work/asio_minimal.cpp"

names=(aio_hello aio_loop asio_hello asio_minimal)
if [[ $print_tus -eq 1 ]]; then
    for n in "${names[@]}"; do printf '// ---- %s.cpp\n' "$n"; cat "$work/$n.cpp"; echo; done
    exit 0
fi
labels=("(a) aio hello" "(b) aio loop only" "(c) Asio hello" "(d) Asio hello, minimal headers")
# asio_headers shortened for the table: boost/asio/{awaitable, co_spawn, ...}.hpp
asio_short="$(for h in $asio_headers; do h="${h#boost/asio/}"; printf '%s, ' "${h%.hpp}"; done)"
heads=("$hello_headers" "$loop_headers" "$asio_full_headers" "boost/asio/{${asio_short%, }}.hpp")
flags=(-std=c++20 -O0 -c)

# --- Boost.Asio present and >= 1.81? ----------------------------------------------------
have_asio=1
asio_why=""
boost_ver="$(printf '#include <boost/version.hpp>\nBOOST_VERSION\n' |
             "$cxx" -E -P -x c++ "${boost_flags[@]}" - 2>/dev/null | tail -n 1 | tr -d ' ')"
if ! [[ "$boost_ver" =~ ^[0-9]+$ ]]; then
    have_asio=0; asio_why="Boost not found"
elif (( boost_ver < 108100 )); then
    have_asio=0; asio_why="Boost $((boost_ver / 100000)).$((boost_ver / 100 % 1000)) < 1.81"
fi

# --- compile -----------------------------------------------------------------------------
# compile NAME: compiles $work/NAME.cpp once; appends "wall cpu" (seconds) to $work/NAME.times.
# Returns the compiler's exit status.
compile() {
    local name="$1" rc
    local TIMEFORMAT='%3R %3U %3S'
    { time "$cxx" "${flags[@]}" -I "$include_dir" "${boost_flags[@]}" "$work/$name.cpp" \
          -o "$work/$name.o" 2>"$work/$name.err"; } 2>"$work/time.out"
    rc=$?
    if [[ $rc -eq 0 ]]; then
        read -r w u s <"$work/time.out"
        echo "$w $(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.3f", u + s }')" >>"$work/$name.times"
    fi
    return $rc
}

declare -A ok
status=0
for i in "${!names[@]}"; do
    n="${names[$i]}"
    ok[$n]=0
    [[ $n == asio_* && $have_asio -eq 0 ]] && continue
    if compile "$n"; then                       # warm-up: page cache, compiler binary
        ok[$n]=1
        rm -f "$work/$n.times"
    else
        echo "${labels[$i]}: does not compile (headers: ${heads[$i]}):" >&2
        head -n 20 "$work/$n.err" >&2
        status=2
    fi
done

for ((r = 0; r < runs; ++r)); do
    for n in "${names[@]}"; do
        [[ ${ok[$n]} -eq 1 ]] && compile "$n"
    done
done

# tstat NAME COLUMN(1 wall, 2 cpu) WHAT(median|min|max)
tstat() {
    [[ -s "$work/$1.times" ]] || { echo ""; return; }
    cut -d' ' -f"$2" "$work/$1.times" | sort -g | awk -v what="$3" '
        { v[NR] = $1 }
        END {
            if (what == "min") x = v[1]
            else if (what == "max") x = v[NR]
            else x = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "%.3f", x
        }'
}
ratio() { [[ -n "$1" && -n "$2" ]] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }' || echo "n/a"; }

col=1; [[ $metric == cpu ]] && col=2
asio_med="$(tstat asio_hello $col median)"

where="$include_dir"
if rev="$(git -C "$include_dir" rev-parse --short HEAD 2>/dev/null)"; then
    dirty=""
    [[ -n "$(git -C "$include_dir" status --porcelain -- . 2>/dev/null)" ]] && dirty=", modified"
    where="$include_dir (git $rev$dirty)"
fi

echo "== compile time: $("$cxx" --version | head -n 1), ${flags[*]}; median of $runs runs (interleaved, after 1 untimed warm-up) =="
echo "   aio headers: $where"
[[ $have_asio -eq 1 ]] && echo "   Boost: $((boost_ver / 100000)).$((boost_ver / 100 % 1000)).$((boost_ver % 100))"
echo "   ratio and target use $metric time; seconds per TU"
echo
echo "| TU | includes | wall s (median) | wall min–max | CPU s (median) | x Asio ($metric) | target | met |"
echo "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |"
met_all=""
for i in "${!names[@]}"; do
    n="${names[$i]}"
    tgt=""; met=""
    if [[ $n == asio_* && $have_asio -eq 0 ]]; then
        echo "| ${labels[$i]} | ${heads[$i]} | n/a ($asio_why) | | | | | |"
        continue
    fi
    if [[ ${ok[$n]} -ne 1 ]]; then
        echo "| ${labels[$i]} | ${heads[$i]} | failed to compile | | | | | |"
        continue
    fi
    med="$(tstat "$n" $col median)"
    r="$(ratio "$med" "$asio_med")"
    if [[ $n == aio_hello ]]; then
        tgt="<= ${target}x Asio"
        if [[ $r == n/a ]]; then
            met="n/a"
        elif awk -v a="$med" -v b="$asio_med" -v t="$target" 'BEGIN { exit !(a / b <= t) }'; then
            met="yes"
        else
            met="**no**"; [[ $status -eq 0 ]] && status=1
        fi
        met_all="$met"
    fi
    [[ $n == asio_hello ]] && r="1.00x"
    echo "| ${labels[$i]} | ${heads[$i]} | $(tstat "$n" 1 median) | $(tstat "$n" 1 min)–$(tstat "$n" 1 max) | $(tstat "$n" 2 median) | $r | $tgt | $met |"
done
echo
case "$met_all" in
    yes) echo "target: (a) aio hello <= ${target}x Asio hello ($metric): MET" ;;
    n/a) echo "target: (a) aio hello <= ${target}x Asio hello: n/a (Asio: $asio_why)" ;;
    "") echo "target: (a) aio hello <= ${target}x Asio hello: n/a ((a) failed to compile)" ;;
    *) echo "target: (a) aio hello <= ${target}x Asio hello ($metric): MISSED" ;;
esac
exit $status
