#!/usr/bin/env bash
# Needs (Debian packages): build-essential (cc, c++), python3 and python3-uvloop (the Python
# rows, run by /usr/bin/python3), util-linux (taskset); optional: libboost1.81-dev or newer
# (the Asio row; header-only). The aio server comes from the CMake `bench` preset.
#
# The echo benchmark: one C client on raw epoll (echo_client.c, a separate process) against
# echo servers written in
#   aio          aio streams (echo_aio_server.cpp, built by the `bench` CMake preset)
#   raw          C on raw epoll (echo_raw_epoll.c): the reference, ratios are against it
#   raw-drain    the same C server reading until EAGAIN like generic edge-triggered code (--drain)
#   asio         Boost.Asio C++20 coroutines (echo_asio.cpp), io_context(1)
#   asyncio      Python asyncio streams (echo_asyncio.py)
#   uvloop       the same Python server on uvloop
# (1) ping-pong: N connections (50), each sending a message of SIZE bytes (64) and waiting for
#     its echo (checked byte for byte) before sending the next, for a fixed time; msgs/s is
#     round trips per second, all connections together.
# (2) bulk: one connection streaming BYTES (1 GiB) while reading the echo back (checked);
#     MiB/s of echo.
# Each measurement starts a fresh server (it prints `port=<N>`, the script waits until it
# accepts), runs the client, and stops the server. Servers are interleaved per run (aio, raw,
# ..., aio, raw, ...); the tables show the median of the runs and the ratio to the raw-epoll
# server. Server and client are pinned to different cores (server cpu 0, client cpu 1) when
# taskset is available. Everything binds 127.0.0.1 only. Target: aio >= 0.95x raw epoll in
# ping-pong (reported, never an error).
#
#   bench/echo/run_echo.sh [--runs N] [--seconds S] [--warmup W] [--connections N] [--size B]
#                          [--bulk-bytes N] [--no-bulk] [--servers "aio raw ..."]
#                          [--bulk-servers "aio raw"] [--aio-server PATH] [--build-dir DIR]
#                          [--python PATH] [--pin split|same|none] [--no-pin]
#
#   --runs N            measurements per server (default 3); the tables show medians
#   --seconds S         counted seconds per ping-pong measurement (default 5)
#   --warmup W          uncounted seconds before them (default 1)
#   --connections N     ping-pong connections (default 50)
#   --size B            ping-pong message size in bytes (default 64)
#   --bulk-bytes N      bytes of the bulk test (default 1073741824 = 1 GiB)
#   --no-bulk           skip the bulk test
#   --servers LIST      ping-pong servers, in this order (default "aio raw raw-drain asio asyncio uvloop")
#   --bulk-servers LIST bulk servers (default "aio raw"; any of the above)
#   --aio-server PATH   the aio server (default build/bench/bench/echo/echo_aio_server)
#   --build-dir DIR     where the C client, the C server and the Asio server are built
#                       (default build/bench-echo); rebuilt when a source is newer
#   --python PATH       the Python for asyncio/uvloop (default /usr/bin/python3, Debian's,
#                       where python3-uvloop installs)
#   --pin MODE          split (default): server on cpu 0, client on cpu 1; both processes
#                       use most of their core, and with a server as fast as raw epoll the
#                       client (same system calls per message) bounds the rate.
#                       same: both on cpu 1, so msgs/s = 1 / (client + server cost per
#                       message): never capped by the client, steadier, and every server's
#                       own cost shows (diluted by the client's half). none: no pinning
#   --no-pin            the same as --pin none
#
# A missing server is shown as n/a with the reason.
#
# Exit status: 0 when every measurement ran (whether aio met its target or not), 1 when a
# client run failed (wrong echo, a server that died or stalled), 2 on a usage or build error.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

runs=3
seconds=5
warmup=1
connections=50
size=64
bulk_bytes=1073741824
bulk=1
servers="aio raw raw-drain asio asyncio uvloop"
bulk_servers="aio raw"
aio_server="$root/build/bench/bench/echo/echo_aio_server"
build_dir="$root/build/bench-echo"
python=/usr/bin/python3
pin_mode=split
cc="${CC:-cc}"
cxx="${CXX:-c++}"

usage() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; }
need() { [[ $# -ge 2 && -n "$2" ]] || { echo "run_echo.sh: $1 needs a value" >&2; exit 2; }; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) need "$@"; runs="$2"; shift ;;
        --seconds) need "$@"; seconds="$2"; shift ;;
        --warmup) need "$@"; warmup="$2"; shift ;;
        --connections) need "$@"; connections="$2"; shift ;;
        --size) need "$@"; size="$2"; shift ;;
        --bulk-bytes) need "$@"; bulk_bytes="$2"; shift ;;
        --no-bulk) bulk=0 ;;
        --servers) need "$@"; servers="$2"; shift ;;
        --bulk-servers) need "$@"; bulk_servers="$2"; shift ;;
        --aio-server) need "$@"; aio_server="$2"; shift ;;
        --build-dir) need "$@"; build_dir="$2"; shift ;;
        --python) need "$@"; python="$2"; shift ;;
        --pin) need "$@"; pin_mode="$2"; shift ;;
        --no-pin) pin_mode=none ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run_echo.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "run_echo.sh: --runs must be a positive integer" >&2; exit 2; }
for n in "$seconds" "$warmup"; do
    [[ "$n" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "run_echo.sh: bad number: $n" >&2; exit 2; }
done
for n in "$connections" "$size" "$bulk_bytes"; do
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "run_echo.sh: bad count: $n" >&2; exit 2; }
done
case "$pin_mode" in
    split|same|none) ;;
    *) echo "run_echo.sh: --pin must be split, same or none" >&2; exit 2 ;;
esac
for s in $servers $bulk_servers; do
    case "$s" in
        aio|raw|raw-drain|asio|asyncio|uvloop) ;;
        *) echo "run_echo.sh: unknown server '$s' (aio raw raw-drain asio asyncio uvloop)" >&2; exit 2 ;;
    esac
done
[[ "$build_dir" = /* ]] || build_dir="$PWD/$build_dir"
[[ "$aio_server" = /* ]] || aio_server="$PWD/$aio_server"

# --- cleanup: every process this script starts is in `live` until it is reaped (so a pid
# the system has reused is never signalled), and is killed on exit --------------------------------
declare -A live # pid -> 1
tmp="$(mktemp -d "${TMPDIR:-/tmp}/run_echo.XXXXXX")"
reap() { # reap <pid>: waits for it; returns its exit status; forgets it
    local rc
    wait "$1" 2>/dev/null
    rc=$?
    unset "live[$1]"
    return $rc
}
cleanup() {
    local p
    for p in "${!live[@]}"; do
        kill -0 "$p" 2>/dev/null && kill -TERM "$p" 2>/dev/null
    done
    for p in "${!live[@]}"; do
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- build ------------------------------------------------------------------------------------
mkdir -p "$build_dir" || exit 2
build() { # build <output> <command...>: runs the command when the source ($src) is newer
    local out="$1"; shift
    if [[ ! -x "$out" || "$src" -nt "$out" ]]; then
        echo "building $(basename "$out"): $*" >&2
        "$@" || return 1
    fi
}
client="$build_dir/echo_client"
raw_server="$build_dir/echo_raw_epoll"
asio_server="$build_dir/echo_asio"
src="$here/echo_client.c" build "$client" "$cc" -O2 -std=c11 -Wall -o "$client" "$here/echo_client.c" ||
    { echo "run_echo.sh: building echo_client failed" >&2; exit 2; }
src="$here/echo_raw_epoll.c" build "$raw_server" "$cc" -O2 -std=c11 -Wall -o "$raw_server" "$here/echo_raw_epoll.c" ||
    { echo "run_echo.sh: building echo_raw_epoll failed" >&2; exit 2; }

declare -A na # server -> why it is n/a
boost_version="$(printf '#include <boost/version.hpp>\nBOOST_VERSION\n' | "$cxx" -x c++ -E -P - 2>/dev/null | tail -n 1 | tr -d ' ')"
if [[ ! "$boost_version" =~ ^[0-9]+$ ]]; then
    na[asio]="Boost headers not found (Debian: libboost1.81-dev)"
elif ((boost_version < 108100)); then
    na[asio]="Boost $((boost_version / 100000)).$((boost_version / 100 % 1000)) < 1.81"
else
    need_asio=0
    for s in $servers $bulk_servers; do [[ $s == asio ]] && need_asio=1; done
    if ((need_asio)); then
        src="$here/echo_asio.cpp" build "$asio_server" "$cxx" -std=c++20 -O2 -o "$asio_server" "$here/echo_asio.cpp" -pthread ||
            na[asio]="building echo_asio.cpp failed"
    fi
fi
[[ -x "$aio_server" ]] ||
    na[aio]="no aio server at $aio_server: build it with \`cmake --preset bench && cmake --build --preset bench --target echo_aio_server\` (or pass --aio-server PATH)"
if ! "$python" -c 'import asyncio; asyncio.Runner' 2>/dev/null; then
    na[asyncio]="no Python >= 3.11 at $python"
    na[uvloop]="${na[asyncio]}"
elif ! "$python" -c 'import uvloop' 2>/dev/null; then
    na[uvloop]="uvloop not installed for $python (Debian: apt-get install python3-uvloop)"
fi

# --- pinning ----------------------------------------------------------------------------------
server_pin=()
client_pin=()
pin_note="not pinned (--pin none)"
if [[ $pin_mode != none ]]; then
    if ! command -v taskset >/dev/null; then
        pin_note="not pinned: no taskset (Debian: util-linux)"
    elif ! taskset -c 0 true 2>/dev/null || ! taskset -c 1 true 2>/dev/null; then
        pin_note="not pinned: cpus 0 and 1 are not both available"
    elif [[ $pin_mode == split ]]; then
        server_pin=(taskset -c 0)
        client_pin=(taskset -c 1)
        pin_note="server on cpu 0, client on cpu 1 (taskset; --pin split)"
    else
        server_pin=(taskset -c 1)
        client_pin=(taskset -c 1)
        pin_note="server and client both on cpu 1 (taskset; --pin same): msgs/s = 1 / (client + server cost)"
    fi
fi

label() {
    case "$1" in
        aio) echo "aio streams" ;;
        raw) echo "raw epoll (C)" ;;
        raw-drain) echo "raw epoll, drain (C)" ;;
        asio) echo "Asio coroutines" ;;
        asyncio) echo "Python asyncio streams" ;;
        uvloop) echo "Python uvloop streams" ;;
    esac
}

server_cmd() { # sets the array `cmd` to the command line of server $1 (port 0)
    case "$1" in
        aio) cmd=("$aio_server" --port 0) ;;
        raw) cmd=("$raw_server" --port 0) ;;
        raw-drain) cmd=("$raw_server" --port 0 --drain) ;;
        asio) cmd=("$asio_server" --port 0) ;;
        asyncio) cmd=("$python" "$here/echo_asyncio.py" --port 0 --loop asyncio) ;;
        uvloop) cmd=("$python" "$here/echo_asyncio.py" --port 0 --loop uvloop) ;;
    esac
}

cpu_ticks() { # user + system clock ticks of process $1 so far
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || { echo 0; return; }
    stat="${stat##*) }" # after the command name, which may hold spaces
    awk '{ print $12 + $13 }' <<<"$stat"
}

# Starts server $1; sets server_pid and server_port. Returns 1 (with a message) on failure.
start_server() {
    local name="$1" out="$tmp/$1.out" err="$tmp/$1.err" i
    server_cmd "$name"
    : >"$out" # exists before the server starts, so reading it cannot race the redirection
    "${server_pin[@]}" "${cmd[@]}" >"$out" 2>"$err" </dev/null &
    server_pid=$!
    live[$server_pid]=1
    server_port=""
    for ((i = 0; i < 100; i++)); do # up to 10 s for the port= line
        server_port="$(sed -n 's/^port=\([0-9][0-9]*\)$/\1/p' "$out" | head -n 1)"
        [[ -n "$server_port" ]] && break
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [[ -z "$server_port" ]]; then
        echo "  $name: the server printed no port= line; its stderr:" >&2
        sed 's/^/    /' "$err" >&2
        stop_server
        return 1
    fi
    for ((i = 0; i < 100; i++)); do # and until it accepts
        if (exec 3<>"/dev/tcp/127.0.0.1/$server_port") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "  $name: the server does not accept connections on port $server_port" >&2
    stop_server
    return 1
}

stop_server() { # SIGTERM, then SIGKILL after 3 s
    local i
    kill -TERM "$server_pid" 2>/dev/null
    for ((i = 0; i < 30; i++)); do
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$server_pid" 2>/dev/null; then
        echo "  the server (pid $server_pid) ignored SIGTERM: killed" >&2
        kill -KILL "$server_pid" 2>/dev/null
    fi
    reap "$server_pid"
}

median() { # the median of the arguments
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print ""; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
minmax() { printf '%s\n' "$@" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s %s", lo, hi }'; }

failures=0
unsaturated=0 # measurements in which neither the server nor the client used most of a core
declare -A results # "mode:server" -> the measured values (msgs/s or MiB/s), space-separated
declare -A cpus    # "mode:server" -> the server's CPU % in each measurement
declare -A cpu_per # "pingpong:server" -> the server's CPU microseconds per round trip
declare -A ccpus   # "mode:server" -> the client's CPU % in each measurement

# measure <mode> <server> <run>: one measurement; appends to results. The server's CPU time
# is sampled over the client's counted window (ping-pong: from the end of the warm-up, by the
# script's clock, so approximate), or over the whole client run (bulk).
measure() {
    local mode="$1" name="$2" run="$3" out="$tmp/client.out" err="$tmp/client.err" key="$1:$2"
    local rc c0 c1 t0 t1 value client_pid server_cpu cpu_us client_cpu
    start_server "$name" || { failures=$((failures + 1)); return; }
    if [[ $mode == pingpong ]]; then
        "${client_pin[@]}" "$client" pingpong --port "$server_port" --connections "$connections" --size "$size" \
            --seconds "$seconds" --warmup "$warmup" >"$out" 2>"$err" &
        client_pid=$!
        live[$client_pid]=1
        sleep "$warmup" & wait $! # (a background sleep: a signal's trap runs at once)
        c0="$(cpu_ticks "$server_pid")"
        t0="$(date +%s.%N)"
        sleep "$seconds" & wait $!
    else
        c0="$(cpu_ticks "$server_pid")"
        t0="$(date +%s.%N)"
        "${client_pin[@]}" "$client" bulk --port "$server_port" --bytes "$bulk_bytes" >"$out" 2>"$err" &
        client_pid=$!
        live[$client_pid]=1
        reap "$client_pid"
        rc=$?
    fi
    c1="$(cpu_ticks "$server_pid")"
    t1="$(date +%s.%N)"
    if [[ $mode == pingpong ]]; then
        reap "$client_pid"
        rc=$?
    fi
    value="$(sed -n 's/^\(msgs\|mib\)_per_sec=//p' "$out")"
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "  $name: the server died; its stderr:" >&2
        sed 's/^/    /' "$tmp/$name.err" >&2
    fi
    stop_server
    if [[ $rc -ne 0 || -z "$value" ]]; then
        failures=$((failures + 1))
        printf '  run %d/%d  %-24s FAILED (client exit %d):\n' "$run" "$runs" "$(label "$name")" "$rc"
        sed 's/^/    /' "$err"
        return
    fi
    server_cpu="$(awk -v c="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", 100 * c / hz / (b - a) }')"
    client_cpu="$(sed -n 's/.*client cpu \([0-9]*\)%.*/\1/p' "$err")"
    results[$key]="${results[$key]:-} $value"
    cpus[$key]="${cpus[$key]:-} $server_cpu"
    [[ -n "$client_cpu" ]] && ccpus[$key]="${ccpus[$key]:-} $client_cpu"
    # Ping-pong with neither process near a full core: something else had the CPUs (or they
    # waited on each other's wake-ups); such a measurement says little about the server.
    local flag="" busy_limit=80
    [[ ${#server_pin[@]} -gt 0 && "${server_pin[*]}" == "${client_pin[*]}" ]] && busy_limit=40 # sharing one core
    if [[ $mode == pingpong && -n "$client_cpu" ]] && ((server_cpu < busy_limit && client_cpu < busy_limit)); then
        flag="  <- neither saturated: machine busy?"
        unsaturated=$((unsaturated + 1))
    fi
    if [[ $mode == pingpong ]]; then
        # server CPU microseconds per round trip, from its CPU share in the counted window
        cpu_us="$(awk -v c="$server_cpu" -v r="$value" 'BEGIN { printf "%.2f", c / 100 / r * 1e6 }')"
        cpu_per[$key]="${cpu_per[$key]:-} $cpu_us"
        printf '  run %d/%d  %-24s %10.0f msgs/s   server cpu %3s%% (%s us/msg), client cpu %s%%%s\n' \
            "$run" "$runs" "$(label "$name")" "$value" "$server_cpu" "$cpu_us" "${client_cpu:-?}" "$flag"
    else
        printf '  run %d/%d  %-24s %10.0f MiB/s    server cpu %3s%%, client cpu %s%%%s\n' \
            "$run" "$runs" "$(label "$name")" "$value" "$server_cpu" "${client_cpu:-?}" "$flag"
    fi
}

# table <mode> <unit> <servers...>: the markdown table of medians and ratios to raw epoll.
table() {
    local mode="$1" unit="$2" name vals med mm ref ratio cpu us
    shift 2
    ref="$(median ${results[$mode:raw]:-})"
    if [[ $mode == pingpong ]]; then
        echo "| server | $unit (median) | min | max | x raw epoll | server cpu | server cpu us/msg |"
        echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    else
        echo "| server | $unit (median) | min | max | x raw epoll | server cpu |"
        echo "| --- | ---: | ---: | ---: | ---: | ---: |"
    fi
    for name in "$@"; do
        vals="${results[$mode:$name]:-}"
        if [[ -n "${na[$name]:-}" || -z "${vals// /}" ]]; then
            local what="n/a"
            [[ -z "${na[$name]:-}" ]] && what="failed"
            if [[ $mode == pingpong ]]; then echo "| $(label "$name") | $what | | | | | |"; else echo "| $(label "$name") | $what | | | | |"; fi
            continue
        fi
        med="$(median $vals)"
        mm="$(minmax $vals)"
        cpu="$(median ${cpus[$mode:$name]})"
        us="$(median ${cpu_per[$mode:$name]:-})"
        if [[ -n "$ref" ]]; then
            ratio="$(awk -v a="$med" -v b="$ref" 'BEGIN { printf "%.2fx", a / b }')"
        else
            ratio="n/a"
        fi
        awk -v l="$(label "$name")" -v m="$med" -v lo="${mm% *}" -v hi="${mm#* }" -v r="$ratio" -v c="$cpu" -v u="$us" -v pp="$([[ $mode == pingpong ]] && echo 1 || echo 0)" \
            'BEGIN { printf "| %s | %.0f | %.0f | %.0f | %s | %.0f%% |", l, m, lo, hi, r, c; if (pp) printf " %.2f |", u; printf "\n" }'
    done
}

# --- machine ----------------------------------------------------------------------------------
cpu_model="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "== echo benchmark =="
echo "date:      $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "machine:   $(uname -srm), $(nproc) cores, ${cpu_model:-unknown CPU}"
idle_pct="$(
    read -r _ a1 a2 a3 a4 a5 a6 a7 a8 _ </proc/stat
    sleep 1
    read -r _ b1 b2 b3 b4 b5 b6 b7 b8 _ </proc/stat
    total=$(((b1 + b2 + b3 + b4 + b5 + b6 + b7 + b8) - (a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8)))
    echo $((total > 0 ? 100 * (b4 - a4) / total : 0))
)"
echo "load:      $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min); ${idle_pct}% idle over the last second"
if ((idle_pct < 90)); then
    echo "warning:   the machine is busy: server and client compete with other work, numbers are unreliable"
fi
echo "pinning:   $pin_note"
echo "compilers: $("$cc" --version 2>/dev/null | head -n 1) | $("$cxx" --version 2>/dev/null | head -n 1)"
echo "python:    $("$python" --version 2>&1 | head -n 1)$("$python" -c 'import uvloop; print(", uvloop", uvloop.__version__)' 2>/dev/null)"
[[ "$boost_version" =~ ^[0-9]+$ ]] && echo "boost:     $((boost_version / 100000)).$((boost_version / 100 % 1000)).$((boost_version % 100))"
for s in aio raw raw-drain asio asyncio uvloop; do
    [[ -n "${na[$s]:-}" && " $servers $( ((bulk)) && echo "$bulk_servers") " == *" $s "* ]] && echo "n/a:       $(label "$s"): ${na[$s]}"
done
echo

# --- ping-pong --------------------------------------------------------------------------------
echo "== ping-pong: $connections connections x $size-byte messages, ${warmup} s warm-up + ${seconds} s counted, $runs runs =="
for ((run = 1; run <= runs; run++)); do
    for s in $servers; do
        [[ -n "${na[$s]:-}" ]] && continue
        measure pingpong "$s" "$run"
    done
done
echo
table pingpong "msgs/s" $servers
echo
target_note="(reported only; the script does not fail on it)"
aio_med="$(median ${results[pingpong:aio]:-})"
raw_med="$(median ${results[pingpong:raw]:-})"
if [[ -n "$aio_med" && -n "$raw_med" ]]; then
    awk -v a="$aio_med" -v b="$raw_med" -v ca="$(median ${cpu_per[pingpong:aio]})" -v cb="$(median ${cpu_per[pingpong:raw]})" \
        -v note="$target_note" 'BEGIN {
        r = a / b
        printf "target: aio >= 0.95x raw epoll in ping-pong: %s (%.2fx) %s\n", (r >= 0.95 ? "MET" : "MISSED"), r, note
        printf "        server CPU per round trip: aio %.2f us, raw epoll %.2f us (aio / raw = %.2fx)\n", ca, cb, ca / cb }'
else
    echo "target: aio >= 0.95x raw epoll in ping-pong: n/a (needs both the aio and the raw epoll row) $target_note"
fi
raw_client_cpu="$(median ${ccpus[pingpong:raw]:-})"
if [[ $pin_mode != same && -n "$raw_client_cpu" ]] && awk -v c="$raw_client_cpu" 'BEGIN { exit !(c >= 90) }'; then
    echo "note: against the raw epoll server the client used ${raw_client_cpu}% of its core: the client (the same"
    echo "      system calls per message as the server) bounds the rate, so a server as fast as raw epoll"
    echo "      shows ~1.00x, and ratios near 1.00x rank nothing finer than the run-to-run noise"
    echo "      (--pin same puts both on one core: then every server's own cost shows)."
fi

# --- bulk -------------------------------------------------------------------------------------
if ((bulk)); then
    echo
    echo "== bulk: one connection, $bulk_bytes bytes echoed, $runs runs =="
    for ((run = 1; run <= runs; run++)); do
        for s in $bulk_servers; do
            [[ -n "${na[$s]:-}" ]] && continue
            measure bulk "$s" "$run"
        done
    done
    echo
    table bulk "MiB/s" $bulk_servers
fi

if ((unsaturated)); then
    echo
    echo "note: in $unsaturated ping-pong measurement(s) neither the server nor the client used most of its core:"
    echo "      other work probably had the CPUs; rerun on a quiet machine for numbers to publish."
fi
if ((failures)); then
    echo
    echo "run_echo.sh: $failures measurement(s) failed (see above)" >&2
    exit 1
fi
exit 0
