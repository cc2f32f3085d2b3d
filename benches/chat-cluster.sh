#!/usr/bin/env bash
# Compare one netkit chat node with a cluster of two nodes joined through Redis,
# where one channel spans both nodes.
#
#   benches/chat-cluster.sh [--duration 5s] [--rounds 3] [--only TEXT] [--no-build] [--single-only]
#   benches/chat-cluster.sh --report target/bench/chat-cluster-STAMP/results.jsonl
#
# Scenarios: saturation with 100 clients / 10 senders and with 1,000 clients /
# 1 sender, all in one channel. It starts one redis-server (no persistence) on a
# free port for the whole run; then, for every scenario and round, alternating
# single and cluster (A B A B), it runs fresh servers: single, one
# `netkit chat serve`; cluster, two, `--redis redis://127.0.0.1:PORT --node a`
# and `--node b`, on a Redis emptied (FLUSHALL) first. Every server process
# (the nodes and redis-server) is pinned to CPU 0, and `netkit bench chat
# --json` to CPU 1, its clients spread round-robin over the nodes (senders too),
# with a --server-pid for each node and, for the cluster, for redis-server: the
# server CPU time per delivery is theirs summed. Each run appends one JSON line
# to target/bench/chat-cluster-STAMP/results.jsonl. It then prints the medians
# per (scenario, setup): deliveries/s, p99, server CPU per delivery and the
# redis-server share of it, losses; and the ratio cluster/single. --report
# prints the table again from a saved results file; --only runs just the
# scenarios whose name contains TEXT (e.g. "x 10"); --single-only runs the
# single node alone, for a netkit whose chat serve has no --redis. Exits 1 if a
# run failed or a delivery was lost, duplicated, reordered or damaged. All
# traffic goes to 127.0.0.1; every wait is bounded; the servers are stopped
# however it exits.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

duration=5s
single_only=0
parse_option() {
    case $1 in
        --single-only) single_only=1; took=1 ;;
        *) return 1 ;;
    esac
}
parse_args "$@"

# ---------------------------------------------------------------------------
# The table: medians per (scenario, setup) and the ratio cluster/single.
# ---------------------------------------------------------------------------
report() {
    "$PYTHON" - "$1" <<'PY'
import statistics
import sys

sys.path.insert(0, "benches")
from lib import fmt, group_runs, median, number, print_table, read_results, warn_bad_runs

path = sys.argv[1]
SETUPS = ["single", "cluster"]
meta, records = read_results(path)
meta = meta or {}
runs, order = group_runs(records)


def med(key, *path):
    return median(runs.get(key, []), *path)


def redis_share(rec):
    """redis-server's CPU time per delivery in one run, when it was sampled."""
    res = rec.get("result")
    server = res.get("server") if isinstance(res, dict) else None
    procs = server.get("processes") if isinstance(server, dict) else None
    return next((number(p, "cpu_us_per_delivery") for p in procs or []
                 if isinstance(p, dict) and p.get("pid") == meta.get("redis_pid")), None)


def med_redis(key):
    vals = [v for r in runs.get(key, []) if (v := redis_share(r)) is not None]
    return statistics.median(vals) if vals else None


def faults(r):
    """Deliveries lost, duplicated, reordered or damaged, and clients not joined."""
    res = r["result"]
    return sum(number(res, k) or 0 for k in ("losses", "duplicates", "reordered", "corrupt")) \
        + (number(res, "clients") or 0) - (number(res, "joined") or 0)


def ratio(a, b, spec=".2f"):
    return fmt(a / b if a is not None and b else None, spec, "x")


if meta:
    print(f"chat cluster: duration {meta.get('duration')}, rounds {meta.get('rounds')}, "
          f"{meta.get('cpu', '?')}, {meta.get('when', '')}, git {meta.get('git') or '?'}")
    for k, v in (meta.get("versions") or {}).items():
        print(f"  {k}: {v}")
    print()
head = ["scenario", "setup", "ok", "deliveries/s", "p99 ms", "srv us/dlv", "redis us/dlv", "cli CPU", "losses",
        "errors"]
rows = []
bad_runs = lost = 0
for scen in order:
    figures = {}
    for setup in SETUPS:
        key = (scen, setup)
        if key not in runs:
            continue
        rs = runs[key]
        ok = [r for r in rs if isinstance(r.get("result"), dict)]
        failed = [r for r in rs if r.get("bench_exit") != 0 or not isinstance(r.get("result"), dict)
                  or r.get("server_died_during_bench")]
        bad_runs += len(failed)
        n_faults = sum(faults(r) for r in ok)
        lost += n_faults
        errors = sum(sum(v for v in (r["result"].get("errors") or {}).values() if isinstance(v, (int, float)))
                     for r in ok)
        rate, p99 = med(key, "deliveries_per_s"), med(key, "latency_us", "p99")
        cpu = med(key, "server", "cpu_us_per_delivery")
        cli = med(key, "client_cpu_us_per_delivery")
        figures[setup] = (rate, p99, cpu)
        rows.append([scen, setup, f"{len(rs) - len(failed)}/{len(rs)}", fmt(rate, ",.0f"),
                     fmt(p99 / 1000 if p99 is not None else None, ",.1f"), fmt(cpu, ".3f"),
                     fmt(med_redis(key), ".3f") if setup == "cluster" else "",
                     fmt(cli * rate / 1e6 if cli is not None and rate is not None else None, ".0%"),
                     str(n_faults), str(errors)])
    if len(figures) == 2:
        (r1, p1, c1), (r2, p2, c2) = figures["single"], figures["cluster"]
        rows.append([scen, "cluster/single", "", ratio(r2, r1), ratio(p2, p1), ratio(c2, c1), "", "", "", ""])
print("medians; srv us/dlv: server CPU time per delivery, summed over the nodes and, for the cluster,")
print("redis-server, whose share is redis us/dlv; cli CPU: the load generator's CPU time per second of")
print("sending (100% = one core); losses: lost + duplicated + reordered + corrupt deliveries and clients")
print("not joined, over all runs")
print_table(head, rows, left=(0, 1))
junk = warn_bad_runs(runs, bad_runs, path)
sys.exit(1 if bad_runs or junk or lost else 0)
PY
}

[[ -z $report_only ]] || { report "$report_only"; exit; }

# ---------------------------------------------------------------------------
# Setup: redis-server, the build, file descriptors, CPU pinning, output files.
# ---------------------------------------------------------------------------
setups=(single cluster)
((single_only == 0)) || setups=(single)
REDIS_SERVER=$(command -v redis-server || echo /usr/bin/redis-server)
missing_pkgs=()
[[ -x $REDIS_SERVER ]] || ((single_only)) || missing_pkgs+=(redis-server)
command -v taskset >/dev/null || missing_pkgs+=(util-linux)
if ((${#missing_pkgs[@]})); then
    as_root=()
    ((EUID == 0)) || as_root=(sudo)
    warn "installing ${missing_pkgs[*]}"
    timeout 600 "${as_root[@]}" apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive timeout 900 "${as_root[@]}" apt-get install -y -q "${missing_pkgs[@]}" >&2
    REDIS_SERVER=$(command -v redis-server || echo /usr/bin/redis-server)
fi

build_netkit "bench chat" --setup-parallel --server-pid --window
serve_help=$(timeout 10 "$netkit" chat serve --help 2>&1 || true)
serve_flags=(--db --flood --http)
((single_only)) || serve_flags+=(--redis --node)
for flag in "${serve_flags[@]}"; do
    [[ $serve_help == *"$flag"* ]] ||
        die "'$netkit chat serve --help' does not offer $flag (--single-only runs without a cluster)"
done

# 1,000 clients: the nodes and the load generator each need that many descriptors.
raise_nofile 1000 "the 1,000-client scenario"

pin_cpus
make_outdir

# ---------------------------------------------------------------------------
# Servers: one redis-server for the whole run, fresh nodes for every run.
# ---------------------------------------------------------------------------
# The nodes of each setup; each is a `server_command` name.
declare -A nodes=([single]=single [cluster]="a b")
redis_pid=
redis_port=

server_command() {
    cmd=("$netkit" chat serve --irc 127.0.0.1:0 --http off --flood off)
    if [[ $1 == single ]]; then
        cmd+=(--db :memory:)
    else
        cmd+=(--redis "redis://127.0.0.1:$redis_port" --node "$1")
    fi
}

# start_redis: redis-server pinned to CPU 0 with nothing saved to disk, up once
# its port accepts (15 s at most); sets redis_pid and redis_port.
start_redis() {
    local i
    redis_port=$(free_port)
    "${pin_server[@]}" "$REDIS_SERVER" --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
        >"$logdir/redis.out" 2>"$logdir/redis.err" </dev/null &
    redis_pid=$!
    for ((i = 0; i < 300; i++)); do
        ! port_accepts "$redis_port" || return 0
        alive "$redis_pid" || break
        sleep 0.05
    done
    tail -n 20 "$logdir/redis.out" "$logdir/redis.err" >&2 || true
    die "redis-server did not accept connections on 127.0.0.1:$redis_port within 15 s"
}

# flush_redis: FLUSHALL, so that a run starts from an empty Redis.
flush_redis() {
    # shellcheck disable=SC2016 # $1 is the inner shell's
    timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "FLUSHALL\r\n" >&3 &&
        IFS= read -r reply <&3 && [[ $reply == +OK* ]]' _ "$redis_port"
}

# start_nodes SETUP LOGBASE: the setup's nodes, each from start_server, logs in
# LOGBASE-NODE.*; sets node_pids and node_addrs, or returns 1 with every node
# stopped.
node_pids=()
node_addrs=()
start_nodes() {
    local node
    node_pids=()
    node_addrs=()
    for node in ${nodes[$1]}; do
        if ! start_server "$node" "$2-$node" irc; then
            stop_nodes
            return 1
        fi
        node_pids+=("$srv_pid")
        node_addrs+=("$srv_addr")
        srv_pid= # in node_pids from here on
    done
}

# stop_nodes: stop_pid on every node; sets nodes_exit (the first nonzero exit
# status, else 0) and nodes_killed (true when one had to be killed).
nodes_exit=
nodes_killed=false
stop_nodes() {
    local pid
    nodes_exit=0
    nodes_killed=false
    for pid in "${node_pids[@]}"; do
        stop_pid "$pid" "netkit chat serve"
        [[ $nodes_exit != 0 ]] || nodes_exit=$stop_exit
        [[ $stop_killed == false ]] || nodes_killed=true
    done
    node_pids=()
}

cleanup_cluster() {
    local rc=$?
    stop_bench
    stop_nodes
    stop_pid "$redis_pid" redis-server
    exit "$rc"
}
on_exit cleanup_cluster

((single_only)) || start_redis

# ---------------------------------------------------------------------------
# Scenarios: name | arguments of `netkit bench chat`, as in chat-vs-peers.sh.
# ---------------------------------------------------------------------------
# Saturation: each sender stays at most --window lines ahead of what a receiver
# has seen; the lone sender gets a window that keeps about as many lines in
# flight per receiver as the 10 senders' default 16 do.
scenarios=(
    "100 clients x 10 senders|--clients 100 --senders 10"
    "1000 clients x 1 sender|--clients 1000 --senders 1 --window 128"
)
only_scenarios
# Set-up (up to 3 tries of 20 s per client), the run, the grace period.
bench_timeout=$((duration_s + 240))

version_of() { timeout 10 "$@" 2>&1 | head -n 1 || true; }
redis_version=
[[ -z $redis_pid ]] || redis_version=$(version_of "$REDIS_SERVER" --version)
write_meta duration="$duration" rounds:="$rounds" nofile:="$nofile" pin_server="${pin_server[*]:-none}" \
    pin_bench="${pin_client[*]:-none}" redis_pid:="${redis_pid:-null}" \
    versions.netkit="$(version_of "$netkit" --version)" versions.redis="$redis_version" \
    cpu kernel git when >"$results"

# record SCENARIO SETUP ROUND BENCH_EXIT DIED LOGBASE: one JSON line per run.
record() { record_chat_run "$@" "$nodes_exit" "$nodes_killed"; }

total=$((${#scenarios[@]} * rounds * ${#setups[@]}))
n=0
for si in "${!scenarios[@]}"; do
    scen_name=${scenarios[si]%%|*}
    read -r -a scen_args <<<"${scenarios[si]#*|}"
    for ((round = 1; round <= rounds; round++)); do
        for setup in "${setups[@]}"; do
            n=$((n + 1))
            base=$logdir/$si-$round-$setup
            echo "[$n/$total] $scen_name, round $round, $setup" >&2
            if [[ $setup == cluster ]]; then
                flush_redis || die "redis-server did not answer FLUSHALL on 127.0.0.1:$redis_port"
            fi
            if ! start_nodes "$setup" "$base"; then
                : >"$base.bench.out"
                echo "a node did not start" >"$base.bench.err"
                record "$scen_name" "$setup" "$round" 255 false "$base"
                continue
            fi
            # The nodes, then redis-server: what serves the cluster.
            serving=("${node_pids[@]}")
            [[ $setup == single ]] || serving+=("$redis_pid")
            pid_args=()
            for pid in "${serving[@]}"; do
                pid_args+=(--server-pid "$pid")
            done
            run_bench "$base" "$netkit" bench chat "${node_addrs[@]}" "${scen_args[@]}" --duration "$duration" \
                --setup-parallel 256 "${pid_args[@]}" --json
            for pid in "${serving[@]}"; do
                alive "$pid" || died=true
            done
            stop_nodes
            record "$scen_name" "$setup" "$round" "$bench_exit" "$died" "$base"
        done
    done
done

echo "results: $results" >&2
echo
report "$results"
