#!/usr/bin/env bash
# Needs (Debian packages): redis-server, redis-tools (redis-benchmark, redis-cli), g++,
# libfmt-dev, util-linux (taskset).
#
# Macro benchmark: examples/mini_redis against redis-server 7 (Debian's, --save '' --appendonly
# no) under redis-benchmark, in the same run. Each server is pinned to cpu 0 and the client to
# cpu 1 (taskset); each measurement starts a fresh server on a free port, waits until it
# answers PING, runs `redis-benchmark -c 50 -n N -P P -t set,get,incr`, and stops the server by
# its pid. Servers are interleaved per run (mini_redis, redis-server, mini_redis, ...); the table
# shows the median requests/s of the runs and the ratio mini_redis / redis-server.
# Target: >= 1.0x redis-server on SET and GET at -P 1 and -P 16 (reported, never an error).
# (The HTTP half of this benchmark, http_server against nginx, comes with http_server.)
#
#   bench/macro/run_macro.sh [--runs N] [--requests N] [--pipelined-requests N] [--mini-redis PATH]
#
#   --runs N                 runs per server and pipeline depth (default 3)
#   --requests N             requests per command at -P 1 (default 500000)
#   --pipelined-requests N   requests per command at -P 16 (default 5000000)
#   --mini-redis PATH        the server to measure (default: built here with g++ -O2)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
runs=3
requests=500000
pipelined_requests=5000000
mini_redis=""

while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --requests) requests="$2"; shift 2 ;;
        --pipelined-requests) pipelined_requests="$2"; shift 2 ;;
        --mini-redis) mini_redis="$2"; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "run_macro.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

for tool in redis-server redis-benchmark redis-cli; do
    command -v "$tool" > /dev/null || { echo "run_macro.sh: $tool is missing (apt-get install redis-server redis-tools)" >&2; exit 2; }
done
pin_server=(); pin_client=()
if command -v taskset > /dev/null && [[ "$(nproc)" -ge 2 ]]; then
    pin_server=(taskset -c 0); pin_client=(taskset -c 1)
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
    [[ -n "$server_pid" ]] && kill "$server_pid" 2> /dev/null && wait "$server_pid" 2> /dev/null
    rm -rf "$work"
}
trap cleanup EXIT
if [[ -z "$mini_redis" ]]; then
    mini_redis="$work/mini_redis"
    "${CXX:-g++}" -std=c++20 -O2 -DNDEBUG -I"$root/include" "$root/examples/mini_redis/mini_redis.cpp" \
        -o "$mini_redis" -lfmt -pthread
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start <server> <port>: starts it pinned, waits until it answers PING (5 s at most).
start() {
    local port="$2"
    if [[ "$1" == mini_redis ]]; then
        "${pin_server[@]}" "$mini_redis" --port "$port" > /dev/null &
    else
        "${pin_server[@]}" redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
            --daemonize no --logfile /dev/null > /dev/null &
    fi
    server_pid=$!
    for _ in $(seq 50); do
        [[ "$(redis-cli -p "$port" PING 2> /dev/null)" == PONG ]] && return 0
        sleep 0.1
    done
    echo "run_macro.sh: $1 did not answer on port $port" >&2
    exit 1
}
stop() {
    kill "$server_pid"
    wait "$server_pid" 2> /dev/null || true
    server_pid=""
}

declare -A results
for ((r = 1; r <= runs; r++)); do
    for pipeline in 1 16; do
        n=$([[ $pipeline == 1 ]] && echo "$requests" || echo "$pipelined_requests")
        for server in mini_redis redis-server; do
            port="$(free_port)"
            start "$server" "$port"
            # --csv: "test","rps",...; one line per command
            while IFS=, read -r test rps _; do
                test="${test//\"/}"; rps="${rps//\"/}"
                [[ "$test" == test ]] && continue
                results["$server,$pipeline,$test"]+="$rps "
                echo "run $r -P $pipeline $server $test: $rps requests/s"
            done < <("${pin_client[@]}" redis-benchmark -p "$port" -c 50 -n "$n" -P "$pipeline" \
                         -t set,get,incr --csv 2> /dev/null)
            stop
        done
    done
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
echo
echo "## mini_redis vs redis-server $(redis-server --version | sed -n 's/.*v=\([0-9.]*\).*/\1/p'): redis-benchmark -c 50, requests/s, medians of $runs runs"
echo
echo "$(date -u '+%Y-%m-%d'), $(nproc) CPUs: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), Linux $(uname -r)"
echo
echo "| command | -P | mini_redis | redis-server | ratio | target |"
echo "| --- | ---: | ---: | ---: | ---: | --- |"
for pipeline in 1 16; do
    for test in SET GET INCR; do
        mine="$(median <<< "${results[mini_redis,$pipeline,$test]:-}")"
        theirs="$(median <<< "${results[redis-server,$pipeline,$test]:-}")"
        ratio="$(awk -v a="$mine" -v b="$theirs" 'BEGIN {printf "%.2fx", a / b}')"
        target="—"
        if [[ $test != INCR ]]; then
            target="$(awk -v a="$mine" -v b="$theirs" 'BEGIN {print (a >= b) ? ">= 1.0x: met" : ">= 1.0x: MISSED"}')"
        fi
        echo "| $test | $pipeline | $mine | $theirs | $ratio | $target |"
    done
done
