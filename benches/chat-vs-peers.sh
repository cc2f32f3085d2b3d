#!/usr/bin/env bash
# Compare netkit's chat server with the IRC servers a user would otherwise run:
# ngircd and InspIRCd from Debian; and, for scale, the floor: a minimal C
# fan-out without history (benches/peers/chat_floor.c, built with cc).
#
#   benches/chat-vs-peers.sh [--duration 5s] [--rounds 3] [--only TEXT] [--no-build]
#   benches/chat-vs-peers.sh --report target/bench/chat-vs-peers-STAMP/results.jsonl
#
# Scenarios: saturation with 100 clients / 10 senders and with 1,000 clients /
# 1 sender (deliveries/s, p99, server CPU per delivery); 500 lines/s in total
# from 10 senders into a 1,000-member channel (server CPU); 10,000 idle
# registered clients, 100 to a channel (server RSS per client). For every
# scenario, round and server (interleaved, A B C A B C) it starts a fresh server
# pinned to CPU 0 (netkit with history on: a fresh SQLite file per run; the
# peers with benches/ircd/*.conf: flood control and connection limits off),
# runs `netkit bench chat --server-pid --json` pinned to CPU 1, stops the
# server, and appends one JSON line to
# target/bench/chat-vs-peers-STAMP/results.jsonl. It then prints the medians
# per (scenario, server) and the target checks (PASS/FAIL); --report prints
# them again from a saved results file; --only runs just the scenarios whose
# name contains TEXT (e.g. idle, "x 10"). Installs ngircd and inspircd with apt
# when missing. Exits 1 if a target fails or a run failed. All traffic goes to
# 127.0.0.1; every wait is bounded; servers are stopped however it exits.
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
from lib import fmt, group_runs, median, number, print_table, read_results, warn_bad_runs

path = sys.argv[1]
SERVERS = ["netkit", "ngircd", "inspircd"]
PEERS = SERVERS[1:]
meta, records = read_results(path)
runs, order = group_runs(records)


def med(key, *path):
    return median(runs.get(key, []), *path)


def load(key, per_delivery):
    """CPU time per second of sending (1.0: one core), from a per-delivery figure."""
    per, rate = med(key, per_delivery), med(key, "deliveries_per_s")
    return per * rate / 1e6 if per is not None and rate is not None else None


def cpu_load(key):
    return load(key, "client_cpu_us_per_delivery")


def server_load(key):
    vals = [number(r.get("result"), "server", "cpu_us_per_delivery") for r in runs.get(key, [])]
    vals = [v for v in vals if v is not None]
    rate = med(key, "deliveries_per_s")
    if not vals or rate is None:
        return None
    return sorted(vals)[len(vals) // 2] * rate / 1e6


if meta:
    print(f"chat vs peers: duration {meta.get('duration')}, rounds {meta.get('rounds')}, "
          f"{meta.get('cpu', '?')}, {meta.get('when', '')}, git {meta.get('git') or '?'}")
    for k, v in (meta.get("versions") or {}).items():
        print(f"  {k}: {v}")
    print()
head = ["scenario", "server", "ok", "deliveries/s", "p99 ms", "srv us/dlv", "srv CPU", "cli CPU",
        "RSS B/client", "losses", "errors"]
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
        losses = sum((number(r["result"], "losses") or 0) + (number(r["result"], "duplicates") or 0)
                     + (number(r["result"], "reordered") or 0) + (number(r["result"], "corrupt") or 0)
                     for r in ok)
        missing = sum((number(r["result"], "clients") or 0) - (number(r["result"], "joined") or 0) for r in ok)
        idle = scen.startswith("idle")
        p99 = med(key, "latency_us", "p99")
        rows.append([scen, srv, f"{len(rs) - len(failed)}/{len(rs)}",
                     "" if idle else fmt(med(key, "deliveries_per_s"), ",.0f"),
                     "" if idle else fmt(p99 / 1000 if p99 is not None else None, ",.1f"),
                     "" if idle else fmt(med(key, "server", "cpu_us_per_delivery"), ".3f"),
                     "" if idle else fmt(server_load(key), ".0%"),
                     "" if idle else fmt(cpu_load(key), ".0%"),
                     fmt(med(key, "server", "rss_per_client_bytes"), ",.0f") if idle else "",
                     str(losses), str(errors) + (f" ({missing} not joined)" if missing else "")])
print("medians; srv us/dlv: server CPU time per delivery; srv CPU / cli CPU: CPU time of the server /")
print("load generator per second of sending (100% = one core); losses: lost + duplicated + reordered +")
print("corrupt deliveries over all runs; RSS B/client: server RSS growth per idle client")
print_table(head, rows, left=(0, 1))

fails = 0


def verdict(ok, label):
    global fails
    fails += not ok
    print(f"{'PASS' if ok else 'FAIL'}  {label}")


def best_peer(scen, path, higher):
    vals = [(med((scen, p), *path), p) for p in PEERS]
    vals = [(v, p) for v, p in vals if v is not None and v > 0]
    if not vals:
        return None, None
    return (max if higher else min)(vals)


saturated = [s for s in order if "sender" in s]  # the paced and idle scenarios name none
for scen in saturated:
    floor = med((scen, "floor"), "server", "cpu_us_per_delivery")
    ref = best_peer(scen, ("server", "cpu_us_per_delivery"), False)[0]
    fast, top = med((scen, "floor"), "deliveries_per_s"), best_peer(scen, ("deliveries_per_s",), True)[0]
    if floor and ref and fast and top:
        print(f"note  {scen}: the floor (no history) does {fast / top:.2f}x the better peer's deliveries/s "
              f"at {floor / ref:.2f}x its CPU per delivery")
for scen in saturated:
    nk = (scen, "netkit")
    if nk not in runs:
        continue
    # Deliveries/s: at least 3x the better peer, unless the load generator was
    # the limit in netkit's runs (a core of its own busy): then CPU per delivery counts.
    ref, peer = best_peer(scen, ("deliveries_per_s",), True)
    mine = med(nk, "deliveries_per_s")
    if ref is None or mine is None:
        verdict(False, f"{scen}: deliveries/s >= 3x the better peer: no data")
    else:
        ratio = mine / ref
        gen = cpu_load(nk)
        label = f"{scen}: netkit deliveries/s >= 3x the better peer ({peer}): {mine:,.0f} vs {ref:,.0f} = {ratio:.2f}x"
        if ratio < 3 and gen is not None and gen >= 0.9:
            print(f"N/A   {label}; the load generator was saturated ({gen:.0%} of a core), "
                  f"so CPU per delivery is the figure that counts")
        else:
            verdict(ratio >= 3, label)
    ref, peer = best_peer(scen, ("server", "cpu_us_per_delivery"), False)
    mine = med(nk, "server", "cpu_us_per_delivery")
    if ref is None or mine is None:
        verdict(False, f"{scen}: server CPU per delivery <= 0.25x the better peer: no data")
    else:
        verdict(mine <= 0.25 * ref, f"{scen}: netkit server CPU per delivery <= 0.25x the better peer ({peer}): "
                f"{mine:.3f} vs {ref:.3f} us = {mine / ref:.2f}x")
    ref, peer = best_peer(scen, ("latency_us", "p99"), False)
    mine = med(nk, "latency_us", "p99")
    if ref is None or mine is None:
        verdict(False, f"{scen}: p99 lower than the better peer's: no data")
    else:
        verdict(mine < ref, f"{scen}: netkit p99 lower than the better peer's ({peer}): "
                f"{mine / 1000:,.1f} vs {ref / 1000:,.1f} ms")
for scen in order:
    nk = runs.get((scen, "netkit"), [])
    if not nk:
        continue
    ok = [r for r in nk if isinstance(r.get("result"), dict)]
    lost = sum((number(r["result"], "losses") or 0) + (number(r["result"], "duplicates") or 0)
               + (number(r["result"], "reordered") or 0) + (number(r["result"], "corrupt") or 0)
               + (number(r["result"], "clients") or 0) - (number(r["result"], "joined") or 0) for r in ok)
    verdict(len(ok) == len(nk) and lost == 0, f"{scen}: netkit lost nothing in {len(ok)}/{len(nk)} runs "
            f"({lost} lost, damaged or not joined)")
for scen in (s for s in order if s.startswith("idle")):
    rss = med((scen, "netkit"), "server", "rss_per_client_bytes")
    if (scen, "netkit") in runs:
        verdict(rss is not None and rss <= 8192, f"{scen}: netkit RSS per idle client <= 8 KiB: "
                + (f"{rss:,.0f} B" if rss is not None else "not measured"))
junk = warn_bad_runs(runs, bad_runs, path)
sys.exit(1 if fails or bad_runs or junk else 0)
PY
}

[[ -z $report_only ]] || { report "$report_only"; exit; }

# ---------------------------------------------------------------------------
# Setup: the peers, the build, file descriptors, CPU pinning, output files.
# ---------------------------------------------------------------------------
as_root=()
((EUID == 0)) || as_root=(sudo)
NGIRCD=$(command -v ngircd || echo /usr/sbin/ngircd)
INSPIRCD=$(command -v inspircd || echo /usr/sbin/inspircd)
missing_pkgs=()
[[ -x $NGIRCD ]] || missing_pkgs+=(ngircd)
[[ -x $INSPIRCD ]] || missing_pkgs+=(inspircd)
command -v taskset >/dev/null || missing_pkgs+=(util-linux)
if ((${#missing_pkgs[@]})); then
    warn "installing ${missing_pkgs[*]}"
    timeout 600 "${as_root[@]}" apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive timeout 900 "${as_root[@]}" apt-get install -y -q "${missing_pkgs[@]}" >&2
    NGIRCD=$(command -v ngircd || echo /usr/sbin/ngircd)
    INSPIRCD=$(command -v inspircd || echo /usr/sbin/inspircd)
fi

build_netkit "bench chat" --idle --members --setup-parallel --server-pid
serve_help=$(timeout 10 "$netkit" chat serve --help 2>&1 || true)
for flag in --db --motd --max-clients --flood --http; do
    [[ $serve_help == *"$flag"* ]] || die "'$netkit chat serve --help' does not offer $flag"
done

# The idle scenario holds 10,000 clients: the server and the load generator each
# need that many descriptors and more.
raise_nofile 10000 "the idle scenario"
idle_clients=$held

pin_cpus
make_outdir
rundir=$outdir/servers # configs, MOTDs, databases, peer logs: one directory per run
mkdir -p "$rundir"

# ---------------------------------------------------------------------------
# Servers. Each run gets its own directory: MOTD, config, history database.
# ---------------------------------------------------------------------------
servers=(netkit ngircd inspircd)
# The floor: a minimal C fan-out (benches/peers/chat_floor.c), for scale.
if build_floor chat_floor; then servers+=(floor); fi
# Clients that set up at once (bench chat --setup-parallel): ngircd listens with
# a backlog of 10; InspIRCd completes registrations once a second, so it needs
# many at once to register 10,000 clients in seconds.
declare -A setup_parallel=([netkit]=256 [ngircd]=10 [inspircd]=2000 [floor]=256)
run_dir=

server_command() {
    local port
    mkdir -p "$run_dir"
    echo "netkit chat-vs-peers" >"$run_dir/motd"
    case $1 in
        netkit)
            cmd=("$netkit" chat serve --irc 127.0.0.1:0 --db "$run_dir/history.db" --motd "$run_dir/motd"
                --max-clients $((idle_clients + 100)) --flood off --http off)
            ;;
        ngircd)
            port=$(free_port)
            sed -e "s|@DIR@|$run_dir|g" -e "s|@PORT@|$port|g" benches/ircd/ngircd.conf >"$run_dir/ngircd.conf"
            cmd=("$NGIRCD" --nodaemon --config "$run_dir/ngircd.conf")
            ready_port=$port
            ;;
        inspircd)
            port=$(free_port)
            sed -e "s|@DIR@|$run_dir|g" -e "s|@PORT@|$port|g" benches/ircd/inspircd.conf >"$run_dir/inspircd.conf"
            cmd=("$INSPIRCD" --config "$run_dir/inspircd.conf" --nofork --nopid)
            ((EUID != 0)) || cmd+=(--runasroot)
            ready_port=$port
            ;;
        floor) cmd=("$floor_bin") ;;
        *) echo "unknown server $1" >&2; return 1 ;;
    esac
}

on_exit cleanup_runs

# ---------------------------------------------------------------------------
# Scenarios: name | arguments of `netkit bench chat`.
# ---------------------------------------------------------------------------
# Saturation: each sender stays at most --window lines ahead of what a receiver
# has seen; the lone sender gets a window that keeps about as many lines in
# flight per receiver as the 10 senders' default 16 do.
scenarios=(
    "100 clients x 10 senders|--clients 100 --senders 10"
    "1000 clients x 1 sender|--clients 1000 --senders 1 --window 128"
    "1000 clients, 500 lines/s|--clients 1000 --senders 10 --rate 500"
    "idle x $idle_clients|--idle --clients $idle_clients --members 100"
)
only_scenarios
# Set-up (up to 3 tries of 20 s per client), the run, the grace period.
bench_timeout=$((duration_s + 240))

version_of() { timeout 10 "$@" 2>&1 | grep -m 1 -i -E 'netkit|ngircd|inspircd' || true; }
write_meta duration="$duration" rounds:="$rounds" nofile:="$nofile" pin_server="${pin_server[*]:-none}" \
    pin_bench="${pin_client[*]:-none}" \
    versions.netkit="$(version_of "$netkit" --version)" versions.ngircd="$(version_of "$NGIRCD" --version)" \
    versions.inspircd="$(version_of "$INSPIRCD" --version)" cpu kernel git when >"$results"

# record SCENARIO SERVER ROUND BENCH_EXIT DIED LOGBASE: one JSON line per run.
record() { record_chat_run "$@" "$srv_exit" "$srv_killed"; }

total=$((${#scenarios[@]} * rounds * ${#servers[@]}))
n=0
for si in "${!scenarios[@]}"; do
    scen_name=${scenarios[si]%%|*}
    read -r -a scen_args <<<"${scenarios[si]#*|}"
    for ((round = 1; round <= rounds; round++)); do
        for srv in "${servers[@]}"; do
            n=$((n + 1))
            base=$logdir/$si-$round-$srv
            run_dir=$rundir/$si-$round-$srv
            echo "[$n/$total] $scen_name, round $round, $srv" >&2
            if ! start_server "$srv" "$base" irc; then
                : >"$base.bench.out"
                echo "server did not start" >"$base.bench.err"
                record "$scen_name" "$srv" "$round" 255 false "$base"
                continue
            fi
            run_bench "$base" "$netkit" bench chat "$srv_addr" "${scen_args[@]}" --duration "$duration" \
                --setup-parallel "${setup_parallel[$srv]}" --server-pid "$srv_pid" --json
            stop_server
            record "$scen_name" "$srv" "$round" "$bench_exit" "$died" "$base"
            rm -f "$run_dir"/history.db* # a fresh one per run; the figures are in results.jsonl
            # ngircd logs a line per failed write to a client that left: tens of MB.
            find "$logdir" "$run_dir" -maxdepth 1 -type f -size +1M ! -name '*.gz' -exec gzip -q {} + || true
        done
    done
done

echo "results: $results" >&2
echo
report "$results"
