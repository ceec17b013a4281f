#!/usr/bin/env bash
# Needs (Debian packages): redis-server, redis-tools (redis-benchmark, redis-cli), nginx-light,
# wrk, curl, g++, libfmt-dev, util-linux (taskset), python3.
#
# Macro benchmark: the example servers against the servers people run, in the same run.
#  - examples/mini_redis against redis-server 7 (Debian's, --save '' --appendonly no) under
#    `redis-benchmark -c 50 -n N -P P -t set,get,incr` at -P 1 and -P 16;
#  - examples/http_server against nginx (Debian's nginx-light: one worker, access log off,
#    `return 200 "Hello, world!\n"`, the same body as http_server's GET /) under
#    `wrk -t1 -c50 -d10s --latency`: requests/s and the 99th percentile latency.
# Each server is pinned to cpu 0 and the client to cpu 1 (taskset); each measurement starts a
# fresh server on a free port, waits until it answers, runs the client and stops the server by
# its pid. Servers are interleaved per run (ours, theirs, ours, ...); the tables show the
# median of the runs and the ratio ours / theirs, and the server's CPU time per request (user +
# system, from /proc; lower is better): where the client is the bottleneck (redis-benchmark at
# -P 1 is), requests/s says little about the server and its CPU per request says more.
# Targets (reported, never an error): mini_redis >= 1.0x redis-server on SET and GET at -P 1
# and -P 16; http_server >= 1.0x nginx's requests/s with a p99 no worse than 1.2x nginx's.
#
#   bench/macro/run_macro.sh [--runs N] [--only redis|http] [--requests N]
#                            [--pipelined-requests N] [--duration S] [--mini-redis PATH]
#                            [--http-server PATH]
#
#   --runs N                 runs per server and configuration (default 3)
#   --only redis|http        one half only (default both)
#   --requests N             requests per command at -P 1 (default 500000)
#   --pipelined-requests N   requests per command at -P 16 (default 5000000)
#   --duration S             seconds of each wrk run (default 10)
#   --mini-redis PATH        the servers to measure (default: built here with g++ -O2)
#   --http-server PATH
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
runs=3
only=""
requests=500000
pipelined_requests=5000000
duration=10
mini_redis=""
http_server=""

while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --requests) requests="$2"; shift 2 ;;
        --pipelined-requests) pipelined_requests="$2"; shift 2 ;;
        --only) only="$2"; shift 2 ;;
        --duration) duration="$2"; shift 2 ;;
        --mini-redis) mini_redis="$2"; shift 2 ;;
        --http-server) http_server="$2"; shift 2 ;;
        -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
        *) echo "run_macro.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

[[ -z "$only" || "$only" == redis || "$only" == http ]] || { echo "run_macro.sh: --only takes redis or http" >&2; exit 2; }
do_redis=$([[ "$only" != http ]] && echo 1 || echo "")
do_http=$([[ "$only" != redis ]] && echo 1 || echo "")
need() { command -v "$1" > /dev/null || { echo "run_macro.sh: $1 is missing (apt-get install $2)" >&2; exit 2; }; }
if [[ -n "$do_redis" ]]; then
    need redis-server redis-server; need redis-benchmark redis-tools; need redis-cli redis-tools
fi
if [[ -n "$do_http" ]]; then
    need nginx nginx-light; need wrk wrk; need curl curl
fi
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
build() { # build <example name>: the example, with g++ -O2, into $work
    "${CXX:-g++}" -std=c++20 -O2 -DNDEBUG -I"$root/include" "$root/examples/$1/$1.cpp" \
        -o "$work/$1" -lfmt -pthread
}
if [[ -n "$do_redis" && -z "$mini_redis" ]]; then build mini_redis; mini_redis="$work/mini_redis"; fi
if [[ -n "$do_http" && -z "$http_server" ]]; then build http_server; http_server="$work/http_server"; fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_until <what> <command...>: polls the command (5 s at most).
wait_until() {
    local what="$1"; shift
    for _ in $(seq 50); do
        "$@" > /dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "run_macro.sh: $what did not answer" >&2
    exit 1
}
answers_ping() { [[ "$(redis-cli -p "$1" PING 2> /dev/null)" == PONG ]]; }

# nginx_conf <port>: one worker, access log off, every path 200 "Hello, world!\n"
nginx_conf() {
    [[ "$(id -u)" == 0 ]] && echo "user root;"
    cat << EOF
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    server {
        listen 127.0.0.1:$1;
        default_type text/plain;
        location / { return 200 "Hello, world!\n"; }
    }
}
EOF
}

# start <server> <port>: starts it pinned and waits until it answers.
start() {
    local port="$2"
    case "$1" in
        mini_redis) "${pin_server[@]}" "$mini_redis" --port "$port" > /dev/null & ;;
        redis-server) "${pin_server[@]}" redis-server --port "$port" --bind 127.0.0.1 --save '' \
                          --appendonly no --daemonize no --logfile /dev/null > /dev/null & ;;
        http_server) "${pin_server[@]}" "$http_server" --port "$port" > /dev/null & ;;
        nginx)
            mkdir -p "$work/nginx"
            nginx_conf "$port" > "$work/nginx/nginx.conf"
            "${pin_server[@]}" nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" > /dev/null 2>&1 & ;;
    esac
    server_pid=$!
    if [[ "$1" == mini_redis || "$1" == redis-server ]]; then
        wait_until "$1 on port $port" answers_ping "$port"
    else
        wait_until "$1 on port $port" curl -sf "http://127.0.0.1:$port/"
    fi
}
stop() {
    kill "$server_pid"
    wait "$server_pid" 2> /dev/null || true
    server_pid=""
}

# cpu_ticks <pid>: CPU time (user + system, in clock ticks) of the process and its children
# (nginx's worker is the master's child); per_request_us <before> <after> <requests>.
cpu_ticks() {
    local total=0 p
    for p in "$1" $(pgrep -P "$1" || true); do
        total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat" 2> /dev/null || echo 0)))
    done
    echo "$total"
}
ticks_per_second="$(getconf CLK_TCK)"
per_request_us() { awk -v a="$1" -v b="$2" -v n="$3" -v hz="$ticks_per_second" 'BEGIN {printf "%.2f", (b - a) / hz * 1e6 / n}'; }

# to_us <a latency as wrk prints it: 812.00us, 1.23ms, 1.01s>: microseconds
to_us() { awk -v t="$1" 'BEGIN { v = t + 0; if (t ~ /us$/) print v; else if (t ~ /ms$/) print v * 1000; else print v * 1000000 }'; }

declare -A results
for ((r = 1; r <= runs; r++)); do
    if [[ -n "$do_redis" ]]; then
        for pipeline in 1 16; do
            n=$([[ $pipeline == 1 ]] && echo "$requests" || echo "$pipelined_requests")
            for server in mini_redis redis-server; do
                port="$(free_port)"
                start "$server" "$port"
                for test in SET GET INCR; do # one command at a time: the server's CPU per command
                    before="$(cpu_ticks "$server_pid")"
                    rps="$("${pin_client[@]}" redis-benchmark -p "$port" -c 50 -n "$n" -P "$pipeline" \
                               -t "${test,,}" --csv 2> /dev/null | awk -F, 'NR > 1 {gsub(/"/, "", $2); print $2}')"
                    cpu="$(per_request_us "$before" "$(cpu_ticks "$server_pid")" "$n")"
                    results["$server,$pipeline,$test"]+="$rps "
                    results["$server,$pipeline,$test,cpu"]+="$cpu "
                    echo "run $r -P $pipeline $server $test: $rps requests/s, server CPU $cpu us/request"
                done
                stop
            done
        done
    fi
    if [[ -n "$do_http" ]]; then
        for server in http_server nginx; do
            port="$(free_port)"
            start "$server" "$port"
            before="$(cpu_ticks "$server_pid")"
            out="$("${pin_client[@]}" wrk -t1 -c50 -d"${duration}s" --latency "http://127.0.0.1:$port/")"
            after="$(cpu_ticks "$server_pid")"
            stop
            rps="$(awk '/^Requests\/sec:/ {print $2}' <<< "$out")"
            total="$(awk '/requests in/ {print $1}' <<< "$out")"
            results["$server,cpu"]+="$(per_request_us "$before" "$after" "$total") "
            p99="$(to_us "$(awk '$1 == "99%" {print $2}' <<< "$out")")"
            errors="$(awk '/Non-2xx|Socket errors/' <<< "$out")"
            [[ -n "$errors" ]] && echo "run $r $server: $errors" >&2
            results["$server,rps"]+="$rps "
            results["$server,p99"]+="$p99 "
            echo "run $r $server: $rps requests/s, p99 $p99 us"
        done
    fi
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {printf "%.2f\n", (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a / b}'; }
echo
echo "$(date -u '+%Y-%m-%d'), $(nproc) CPUs: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), Linux $(uname -r); medians of $runs runs"
if [[ -n "$do_redis" ]]; then
    echo
    echo "## mini_redis vs redis-server $(redis-server --version | sed -n 's/.*v=\([0-9.]*\).*/\1/p'): redis-benchmark -c 50, requests/s"
    echo
    echo "| command | -P | mini_redis | redis-server | ratio | target | server CPU µs/request: mini_redis | redis-server | ratio |"
    echo "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |"
    for pipeline in 1 16; do
        for test in SET GET INCR; do
            mine="$(median <<< "${results[mini_redis,$pipeline,$test]:-}")"
            theirs="$(median <<< "${results[redis-server,$pipeline,$test]:-}")"
            my_cpu="$(median <<< "${results[mini_redis,$pipeline,$test,cpu]:-}")"
            their_cpu="$(median <<< "${results[redis-server,$pipeline,$test,cpu]:-}")"
            target="—"
            if [[ $test != INCR ]]; then
                target="$(awk -v a="$mine" -v b="$theirs" 'BEGIN {print (a >= b) ? ">= 1.0x: met" : ">= 1.0x: MISSED"}')"
            fi
            echo "| $test | $pipeline | $mine | $theirs | $(ratio "$mine" "$theirs") | $target | $my_cpu | $their_cpu | $(ratio "$my_cpu" "$their_cpu") |"
        done
    done
fi
if [[ -n "$do_http" ]]; then
    echo
    echo "## http_server vs nginx $(nginx -v 2>&1 | sed -n 's|.*nginx/||p'): wrk -t1 -c50 -d${duration}s, GET /"
    echo
    echo "| figure | http_server | nginx | ratio | target |"
    echo "| --- | ---: | ---: | ---: | --- |"
    mine="$(median <<< "${results[http_server,rps]}")"; theirs="$(median <<< "${results[nginx,rps]}")"
    met="$(awk -v a="$mine" -v b="$theirs" 'BEGIN {print (a >= b) ? "met" : "MISSED"}')"
    echo "| requests/s | $mine | $theirs | $(ratio "$mine" "$theirs") | >= 1.0x: $met |"
    mine="$(median <<< "${results[http_server,p99]}")"; theirs="$(median <<< "${results[nginx,p99]}")"
    met="$(awk -v a="$mine" -v b="$theirs" 'BEGIN {print (a <= 1.2 * b) ? "met" : "MISSED"}')"
    echo "| p99 latency (us) | $mine | $theirs | $(ratio "$mine" "$theirs") | <= 1.2x: $met |"
    mine="$(median <<< "${results[http_server,cpu]}")"; theirs="$(median <<< "${results[nginx,cpu]}")"
    echo "| server CPU (µs/request) | $mine | $theirs | $(ratio "$mine" "$theirs") | (lower is better) |"
fi
