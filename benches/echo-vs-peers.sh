#!/usr/bin/env bash
# Compare netkit's echo server with the Python servers a user would otherwise
# pick: asyncio streams, the same on uvloop, and a uvloop asyncio.Protocol;
# and, for scale, the floor: a minimal C epoll server (needs a C compiler).
#
#   benches/echo-vs-peers.sh [--duration 5s] [--rounds 3] [--only TEXT] [--no-build]
#   benches/echo-vs-peers.sh --report target/bench/echo-vs-peers-STAMP/results.jsonl
#
# For every scenario, round and server (interleaved, A B A B) it starts a
# fresh server pinned to CPU 0, runs `netkit bench echo --server-pid --json`
# pinned to CPU 1, stops the server, and appends one JSON line to
# target/bench/echo-vs-peers-STAMP/results.jsonl. It then prints the medians
# per (scenario, server) and the target checks (PASS/FAIL); --report prints
# them again from a saved results file; --only runs just the scenarios whose
# name contains TEXT (e.g. churn, "x 50"). Exits 1 if a target fails or a run
# failed. All traffic goes to 127.0.0.1; every wait is bounded.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

duration=5s
parse_args "$@"

# ---------------------------------------------------------------------------
# The table: medians per (scenario, server) and the target checks.
# ---------------------------------------------------------------------------
report() {
    "$PYTHON" - "$1" <<'PY'
import sys

sys.path.insert(0, "benches")
from lib import fmt, group_runs, median, number as get, print_table, read_results, warn_bad_runs

path = sys.argv[1]
SERVERS = ["netkit", "asyncio-streams", "asyncio-streams-uvloop", "uvloop-protocol", "epoll-floor"]
meta, records = read_results(path)
runs, order = group_runs(records)


def med(key, *path):
    return median(runs.get(key, []), *path)


if meta:
    print(f"echo vs peers: duration {meta.get('duration')}, rounds {meta.get('rounds')}, "
          f"{meta.get('cpu', '?')}, {meta.get('when', '')}")
head = ["scenario", "server", "ok", "ops/s", "p99 us", "srv us/op", "cli us/op",
        "RSS B/conn", "netkit/peer", "errors"]
rows = []
bad_runs = 0
for scen in order:
    for srv in SERVERS + sorted({s for (sc, s) in runs if sc == scen and s not in SERVERS}):
        key = (scen, srv)
        if key not in runs:
            continue
        rs = runs[key]
        ok = [r for r in rs if isinstance(r.get("result"), dict)]
        failed = [r for r in rs if r.get("bench_exit") != 0 or not isinstance(r.get("result"), dict)
                  or r.get("server_died_during_bench")]
        bad_runs += len(failed)
        errors = sum(sum(v for v in (r["result"].get("errors") or {}).values() if isinstance(v, (int, float)))
                     for r in ok)
        mism = sum(get(r["result"], "mismatches") or 0 for r in ok)
        cpu, nk = med(key, "server", "cpu_us_per_op"), med((scen, "netkit"), "server", "cpu_us_per_op")
        ratio = nk / cpu if srv != "netkit" and nk is not None and cpu else None
        rss = med(key, "server", "rss_per_connection_bytes") if scen.startswith("idle") else None
        err = str(errors) + (f" +{mism} mismatched" if mism else "")
        rows.append([scen, srv, f"{len(ok)}/{len(rs)}", fmt(med(key, "ops_per_s"), ",.0f"),
                     fmt(med(key, "latency_us", "p99"), ",.0f"), fmt(cpu, ".2f"),
                     fmt(med(key, "client_cpu_us_per_op"), ".2f"), fmt(rss, ",.0f"),
                     fmt(ratio, ".2f", "x") if srv != "netkit" else "",
                     err])
print_table(head, rows, left=(0, 1))

fails = 0


def check(label, value, limit, unit, scen):
    global fails
    if scen not in order:
        print(f"SKIP  {label}: scenario not run")
        return
    if value is None:
        fails += 1
        print(f"FAIL  {label}: no data (limit {limit}{unit})")
        return
    ok = value <= limit
    fails += not ok
    shown = f"{value:.3f}{unit}" if unit == "x" else f"{value:,.0f}{unit}"
    print(f"{'PASS' if ok else 'FAIL'}  {label}: {shown} (limit {limit}{unit})")


def ratio(scen, peer):
    a, b = med((scen, "netkit"), "server", "cpu_us_per_op"), med((scen, peer), "server", "cpu_us_per_op")
    return a / b if a is not None and b else None


idle = next((s for s in order if s.startswith("idle")), "idle x 10000")
check("netkit server CPU per round trip, 1KiB x 50, vs asyncio-streams", ratio("1KiB x 50", "asyncio-streams"), 0.5, "x", "1KiB x 50")
check("netkit server CPU per round trip, 1KiB x 50, vs uvloop-protocol", ratio("1KiB x 50", "uvloop-protocol"), 0.85, "x", "1KiB x 50")
check("netkit server CPU per churned connection, churn x 50, vs asyncio-streams", ratio("churn x 50", "asyncio-streams"), 0.4, "x", "churn x 50")
check(f"netkit RSS per idle connection, {idle}", med((idle, "netkit"), "server", "rss_per_connection_bytes"), 2048, " B", idle)
floor = med(("1KiB x 50", "epoll-floor"), "server", "cpu_us_per_op")
peer = med(("1KiB x 50", "uvloop-protocol"), "server", "cpu_us_per_op")
if floor and peer:
    print(f"note  the floor (epoll-floor) at 1KiB x 50 uses {floor / peer:.3f}x uvloop-protocol's CPU per round trip")
junk = warn_bad_runs(runs, bad_runs, path)
sys.exit(1 if fails or bad_runs or junk else 0)
PY
}

[[ -z $report_only ]] || { report "$report_only"; exit; }

# ---------------------------------------------------------------------------
# Setup: build, uvloop, file descriptors, CPU pinning, output files.
# ---------------------------------------------------------------------------
build_netkit "bench echo" --server-pid

if ! "$PYTHON" -c 'import uvloop' 2>/dev/null; then
    warn "installing uvloop"
    "$PYTHON" -m pip install -q uvloop
fi

# The idle scenario holds 10,000 connections: both the server and the load
# generator need more than that many descriptors.
raise_nofile 10000 "the idle scenario"
idle_conns=$held

pin_cpus
make_outdir

# ---------------------------------------------------------------------------
# Servers.
# ---------------------------------------------------------------------------
servers=(netkit asyncio-streams asyncio-streams-uvloop uvloop-protocol)
# The floor: a minimal C epoll server (benches/peers/epoll_floor.c), for scale.
if build_floor epoll_floor; then servers+=(epoll-floor); fi

server_command() {
    case $1 in
        netkit) cmd=("$netkit" echo serve --tcp 127.0.0.1:0) ;;
        asyncio-streams) cmd=("$PYTHON" benches/peers/asyncio_streams.py --host 127.0.0.1 --port 0) ;;
        asyncio-streams-uvloop) cmd=("$PYTHON" benches/peers/asyncio_streams.py --host 127.0.0.1 --port 0 --uvloop) ;;
        uvloop-protocol) cmd=("$PYTHON" benches/peers/uvloop_protocol.py --host 127.0.0.1 --port 0) ;;
        epoll-floor) cmd=("$floor_bin") ;;
        *) echo "unknown server $1" >&2; return 1 ;;
    esac
}

on_exit cleanup_runs

# ---------------------------------------------------------------------------
# Scenarios: name | arguments of `netkit bench echo`.
# ---------------------------------------------------------------------------
scenarios=(
    "1KiB x 1|--size 1KiB --connections 1"
    "1KiB x 50|--size 1KiB --connections 50"
    "1KiB x 500|--size 1KiB --connections 500"
    "64KiB x 50|--size 64KiB --connections 50"
    "churn x 50|--churn --connections 50"
    "idle x $idle_conns|--idle --connections $idle_conns"
)
only_scenarios
bench_timeout=$((2 * duration_s + 60))

write_meta duration="$duration" rounds:="$rounds" nofile:="$nofile" pin_server="${pin_server[*]:-none}" \
    pin_bench="${pin_client[*]:-none}" cpu kernel python git when >"$results"

# record SCENARIO SERVER ROUND BENCH_EXIT DIED LOGBASE: one JSON line per run.
record() {
    "$PYTHON" - "$@" "$srv_exit" "$srv_killed" <<'PY' >>"$results"
import json, sys
sys.path.insert(0, "benches")
from lib import run_record
rec = run_record(*sys.argv[1:9])
bench_exit, died = sys.argv[4], sys.argv[5]
print(json.dumps(rec))
r = rec["result"] if isinstance(rec["result"], dict) else {}
s = r.get("server") if isinstance(r.get("server"), dict) else {}
g = lambda d, k, f: format(d[k], f) if isinstance(d.get(k), (int, float)) else "-"
print(f"    exit {bench_exit}: {g(r, 'ops_per_s', ',.0f')} ops/s, p99 "
      f"{g(r.get('latency_us') or {}, 'p99', ',.0f')} us, server {g(s, 'cpu_us_per_op', '.2f')} us/op, "
      f"rss/conn {g(s, 'rss_per_connection_bytes', ',.0f')} B, errors {r.get('errors') or {}}, "
      f"mismatches {r.get('mismatches', '-')}" + ("  SERVER DIED" if died == "true" else ""), file=sys.stderr)
PY
}

total=$((${#scenarios[@]} * rounds * ${#servers[@]}))
n=0
for si in "${!scenarios[@]}"; do
    scen_name=${scenarios[si]%%|*}
    read -r -a scen_args <<<"${scenarios[si]#*|}"
    for ((round = 1; round <= rounds; round++)); do
        for srv in "${servers[@]}"; do
            n=$((n + 1))
            base=$logdir/$si-$round-$srv
            echo "[$n/$total] $scen_name, round $round, $srv" >&2
            if ! start_server "$srv" "$base"; then
                : >"$base.bench.out"
                echo "server did not start" >"$base.bench.err"
                record "$scen_name" "$srv" "$round" 255 false "$base"
                continue
            fi
            run_bench "$base" "$netkit" bench echo "$srv_addr" "${scen_args[@]}" --duration "$duration" \
                --server-pid "$srv_pid" --json
            stop_server
            record "$scen_name" "$srv" "$round" "$bench_exit" "$died" "$base"
        done
    done
done

echo "results: $results" >&2
echo
report "$results"
