# shellcheck shell=bash disable=SC2034 # it sets variables for the scripts
# What every benches/*.sh shares; sourced first thing:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# On sourcing it sets bench_name (the script's name without .sh, the prefix of
# every message), root (the checkout) and PYTHON (default python3), cds to
# $root, exports PYTHONDONTWRITEBYTECODE=1, and sets the defaults of the
# common options. Then it provides:
#
#   warn MSG / die MSG / usage_error MSG   "NAME: MSG" on stderr; die exits 1,
#                                          usage_error exits 2
#   usage                    the script's header comment, as --help prints it
#   parse_args "$@"          --rounds N, --only TEXT, --no-build, --report FILE,
#                            -h/--help (also --opt=value); sets rounds, only,
#                            build, report_only; checks --rounds unless --report.
#                            A script that sets duration (its default) first
#                            also takes --duration DUR (5s, 500ms, 1m): checked
#                            unless --report, and rounded up into duration_s
#                            A script's own options go to its parse_option
#                            function, if any: it sets took (words used) or
#                            returns 1
#   build_netkit "SUB CMD" FLAG...   cargo build --release (unless --no-build),
#                            sets netkit (NETKIT=... overrides) and checks that
#                            `netkit SUB CMD --help` offers every FLAG
#   pin_cpus                 pin_server / pin_client: taskset -c 0 / -c 1,
#                            or empty when those CPUs are not both usable
#   only_scenarios           keeps the entries of the scenarios array ("NAME|ARGS")
#                            whose NAME contains --only's TEXT; none is bad usage
#   make_outdir              outdir, logdir, results under
#                            target/bench/NAME-STAMP/
#   build_floor NAME         benches/peers/NAME.c compiled with cc into
#                            outdir (after make_outdir); sets floor_bin, or
#                            warns and returns 1 when it cannot be built
#   raise_nofile N WHAT      the open-files limit raised as far as allowed;
#                            sets nofile, and held: N, or fewer (with a
#                            warning naming WHAT) so that N fit under it
#   write_meta KEY=TEXT KEY:=JSON KEY.SUB=TEXT HOSTFACT...   the {"meta": ...}
#                            line on stdout, keys in the order given; HOSTFACT
#                            is one of cpu kernel python git when
#   alive PID / wait_gone PID TICKS      process checks, 0.05 s a tick
#   stop_pid PID NAME [--group]   SIGTERM, 5 s, SIGKILL, reap; sets stop_exit,
#                            stop_killed
#   on_exit FUNC             runs FUNC at exit, also on Ctrl-C and SIGTERM
#   free_port                a free TCP port on 127.0.0.1, on stdout
#   run_bench LOGBASE CMD... / stop_bench   a load generator pinned to CPU 1
#                            under timeout(1) (bench_timeout seconds); sets
#                            bench_exit, and died when the server died meanwhile
#   cleanup_runs             an exit handler (for on_exit): stop_bench, stop_server
#   start_server NAME LOGBASE [KIND] / stop_server   a server from the script's
#                            server_command (sets cmd), pinned, up once it
#                            prints "listening KIND 127.0.0.1:PORT" (KIND tcp
#                            by default) or, when server_command also sets
#                            ready_port, once 127.0.0.1:ready_port accepts;
#                            sets srv_pid, srv_addr, srv_exit, srv_killed
#
# Its Python side, lib.py, holds what the scripts' report() code shares
# (reading results.jsonl, printing the table).

bench_name=$(basename "${BASH_SOURCE[1]}" .sh)
bench_script=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)/$(basename "${BASH_SOURCE[1]}")
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit
PYTHON=${PYTHON:-python3}
export PYTHONDONTWRITEBYTECODE=1 # importing lib.py or peers/serving.py leaves no __pycache__ in benches/

warn() { echo "$bench_name: $*" >&2; }
die() { warn "$@"; exit 1; }
usage_error() { warn "$@"; exit 2; }

# The comment block under the #! line.
usage() { sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$bench_script"; }

# ---------------------------------------------------------------------------
# Options.
# ---------------------------------------------------------------------------
rounds=3
build=1
only=
report_only=
duration=
duration_s=

parse_args() {
    local took
    while (($#)); do
        case $1 in
            --rounds) rounds=${2:?--rounds needs a value}; shift 2 ;;
            --rounds=*) rounds=${1#*=}; shift ;;
            --only) only=${2:?--only needs a value}; shift 2 ;;
            --only=*) only=${1#*=}; shift ;;
            --no-build) build=0; shift ;;
            --report) report_only=${2:?--report needs a file}; shift 2 ;;
            --report=*) report_only=${1#*=}; shift ;;
            --duration) [[ -n $duration ]] || break; duration=${2:?--duration needs a value}; shift 2 ;;
            --duration=*) [[ -n $duration ]] || break; duration=${1#*=}; shift ;;
            -h | --help) usage; exit 0 ;;
            *)
                took=0
                if declare -F parse_option >/dev/null && parse_option "$@"; then
                    shift "$took"
                else
                    warn "unknown argument: $1"
                    usage >&2
                    exit 2
                fi
                ;;
        esac
    done
    if (($#)); then # a --duration the script does not take
        warn "unknown argument: $1"
        usage >&2
        exit 2
    fi
    [[ -z $report_only ]] || return 0
    [[ $rounds =~ ^[1-9][0-9]*$ ]] || usage_error "--rounds wants a positive integer, not $rounds"
    [[ -n $duration ]] || return 0
    [[ $duration =~ ^([0-9]+(\.[0-9]+)?)(ms|s|m)?$ ]] || usage_error "--duration wants e.g. 5s, 500ms, 1m; not $duration"
    duration_s=$(awk -v v="${BASH_REMATCH[1]}" -v u="${BASH_REMATCH[3]}" \
        'BEGIN { x = v * (u == "ms" ? 0.001 : u == "m" ? 60 : 1); printf "%d", (x == int(x)) ? x : int(x) + 1 }')
}

# ---------------------------------------------------------------------------
# Setup.
# ---------------------------------------------------------------------------
build_netkit() {
    local -a sub
    local help flag
    read -r -a sub <<<"$1"
    shift
    if ((build)); then
        cargo build --release
    fi
    netkit=${NETKIT:-$root/target/release/netkit} # NETKIT=... to try another build
    [[ -x $netkit ]] || die "$netkit is missing (run without --no-build)"
    help=$(timeout 10 "$netkit" "${sub[@]}" --help 2>&1 || true)
    for flag; do
        [[ $help == *"$flag"* ]] || die "'$netkit ${sub[*]} --help' does not offer $flag"
    done
}

pin_cpus() {
    if taskset -c 0 true 2>/dev/null && taskset -c 1 true 2>/dev/null; then
        pin_server=(taskset -c 0)
        pin_client=(taskset -c 1)
    else
        warn "CPUs 0 and 1 are not both usable; running unpinned"
        pin_server=()
        pin_client=()
    fi
}

only_scenarios() {
    local -a kept=()
    local s
    [[ -n $only ]] || return 0
    for s in "${scenarios[@]}"; do
        [[ ${s%%|*} == *"$only"* ]] && kept+=("$s")
    done
    ((${#kept[@]})) || usage_error "no scenario name contains '$only'"
    scenarios=("${kept[@]}")
}

make_outdir() {
    local stamp
    stamp=$(date +%Y%m%d-%H%M%S)
    outdir=$root/target/bench/$bench_name-$stamp
    logdir=$outdir/logs
    results=$outdir/results.jsonl
    mkdir -p "$logdir"
}

build_floor() {
    floor_bin=$outdir/$1
    cc -O2 -o "$floor_bin" "benches/peers/$1.c" 2>"$outdir/$1.cc.log" && return 0
    warn "cannot build benches/peers/$1.c (see $outdir/$1.cc.log): no floor row"
    return 1
}

raise_nofile() {
    local max hard
    max=$(cat /proc/sys/fs/nr_open 2>/dev/null || echo 1048576)
    if [[ $(ulimit -Hn) != unlimited ]] && (($(ulimit -Hn) < 65536)); then
        ulimit -Hn $((max < 65536 ? max : 65536)) 2>/dev/null || true # root may raise it
    fi
    hard=$(ulimit -Hn)
    [[ $hard == unlimited ]] && hard=$max
    ulimit -Sn "$hard" 2>/dev/null || true
    nofile=$(ulimit -Sn)
    held=$1
    if ((nofile < held + 256)); then
        held=$((nofile - 256))
        warn "open files limited to $nofile; $2 uses $held"
    fi
}

write_meta() {
    "$PYTHON" - "$@" <<'PY'
import json, platform, subprocess, sys, time


def host(fact):
    if fact == "cpu":
        return next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    if fact == "kernel":
        return platform.release()
    if fact == "python":
        return platform.python_version()
    if fact == "git":
        try:
            return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except Exception:
            return ""
    if fact == "when":
        return time.strftime("%Y-%m-%d %H:%M:%S")
    sys.exit(f"write_meta: unknown host fact {fact!r}")


meta = {}
for arg in sys.argv[1:]:
    key, eq, value = arg.partition("=")
    if not eq:
        meta[key] = host(key)
    elif key.endswith(":"):
        meta[key[:-1]] = json.loads(value)
    elif "." in key:
        outer, inner = key.split(".", 1)
        meta.setdefault(outer, {})[inner] = value
    else:
        meta[key] = value
print(json.dumps({"meta": meta}))
PY
}

# ---------------------------------------------------------------------------
# Processes.
# ---------------------------------------------------------------------------
# Alive and not a zombie (a dead child stays visible to kill -0 until reaped).
alive() {
    local st
    read -r st 2>/dev/null </proc/"$1"/stat || return 1
    st=${st##*) }
    [[ ${st%% *} != Z ]]
}

# wait_gone PID TICKS: 0 once PID is gone, 1 if it is still alive after
# TICKS x 0.05 s.
wait_gone() {
    local i
    for ((i = 0; i < $2; i++)); do
        alive "$1" || return 0
        sleep 0.05
    done
    ! alive "$1"
}

# stop_pid PID NAME [--group]: SIGTERM to PID (to the process group it leads,
# started with setsid, with --group), up to 5 s, then SIGKILL; reaps PID.
# Sets stop_exit (its exit status; empty without a PID) and stop_killed.
stop_exit=
stop_killed=false
stop_pid() {
    local pid=$1 name=$2 group=${3:-}
    local -a target=("$pid")
    [[ -z $group ]] || target=(-- "-$pid")
    stop_exit=
    stop_killed=false
    [[ -n $pid ]] || return 0
    if alive "$pid"; then
        kill -TERM "${target[@]}" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        if ! wait_gone "$pid" 100; then
            warn "$name (pid $pid) still running 5 s after SIGTERM; SIGKILL"
            kill -KILL "${target[@]}" 2>/dev/null || true
            stop_killed=true
        fi
    fi
    [[ -z $group ]] || kill -KILL "${target[@]}" 2>/dev/null || true # stragglers of the group, if any
    stop_exit=0
    wait "$pid" 2>/dev/null || stop_exit=$?
}

on_exit() {
    # shellcheck disable=SC2064 # FUNC is a function name, fixed now
    trap -- "$1" EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# port_accepts PORT: 0 when a TCP connect to 127.0.0.1:PORT succeeds within 1 s.
port_accepts() {
    # shellcheck disable=SC2016 # $1 is the inner shell's
    timeout 1 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

bench_pid=
bench_exit=
died=false
bench_timeout=600
run_bench() {
    local base=$1
    shift
    # In the background and waited for, so that Ctrl-C interrupts at once.
    timeout -k 5 "$bench_timeout" "${pin_client[@]}" "$@" >"$base.bench.out" 2>"$base.bench.err" </dev/null &
    bench_pid=$!
    bench_exit=0
    wait "$bench_pid" || bench_exit=$?
    bench_pid=
    died=false
    [[ -z $srv_pid ]] || alive "$srv_pid" || died=true
}

stop_bench() {
    [[ -n $bench_pid ]] || return 0
    kill -TERM "$bench_pid" 2>/dev/null || true # timeout(1) passes it on
    wait_gone "$bench_pid" 140 || true
    kill -KILL "$bench_pid" 2>/dev/null || true
    wait "$bench_pid" 2>/dev/null || true
    bench_pid=
}

cleanup_runs() {
    local rc=$?
    stop_bench
    stop_server || true
    exit "$rc"
}

# start_server NAME LOGBASE [KIND]: runs the script's `server_command NAME`
# (which sets cmd) pinned to CPU 0, output in LOGBASE.out and .err, and waits
# up to 15 s for its ready line, "listening KIND 127.0.0.1:PORT", or, for a
# server that prints none, until the port server_command put in ready_port
# accepts a connection. Sets srv_pid, srv_addr and srv_name, or returns 1 with
# the server stopped.
srv_pid=
srv_addr=
srv_name=
start_server() {
    local -a cmd
    local kind=${3:-tcp} i ready_port=
    server_command "$1"
    srv_name=$1
    srv_addr=
    : >"$2.out" # exists before the poll below, whoever runs first
    "${pin_server[@]}" "${cmd[@]}" >"$2.out" 2>"$2.err" </dev/null &
    srv_pid=$!
    for ((i = 0; i < 300; i++)); do # 15 s
        if [[ -n $ready_port ]]; then
            srv_addr=
            ! port_accepts "$ready_port" || srv_addr=127.0.0.1:$ready_port
        else
            srv_addr=$(sed -n "s/^listening $kind \([^[:space:]]*\).*/\1/p;T;q" "$2.out" 2>/dev/null || true)
        fi
        if [[ -n $srv_addr ]]; then
            if [[ ! $srv_addr =~ ^127\.0\.0\.1:[0-9]+$ ]]; then
                warn "$1 is listening on $srv_addr, not 127.0.0.1:PORT; not using it"
                stop_server
                return 1
            fi
            return 0
        fi
        if ! alive "$srv_pid"; then
            warn "$1 exited before its ready line; stderr:"
            tail -n 20 "$2.err" >&2 || true
            stop_server
            return 1
        fi
        sleep 0.05
    done
    if [[ -n $ready_port ]]; then
        warn "$1 did not accept connections on 127.0.0.1:$ready_port within 15 s; stderr:"
        tail -n 20 "$2.err" >&2 || true
    else
        warn "$1 printed no 'listening $kind ADDR' line within 15 s"
    fi
    stop_server
    return 1
}

# stop_server: stop_pid on the server; sets srv_exit and srv_killed.
srv_exit=
srv_killed=false
stop_server() {
    local pid=$srv_pid
    srv_pid=
    stop_pid "$pid" "$srv_name"
    srv_exit=$stop_exit
    srv_killed=$stop_killed
}

# record_chat_run SCENARIO SERVER ROUND BENCH_EXIT DIED LOGBASE SERVER_EXIT KILLED:
# appends one JSON line for a `bench chat` run to $results, and says how it went
# on stderr.
record_chat_run() {
    "$PYTHON" - "$@" <<'PY' >>"$results"
import json, sys
sys.path.insert(0, "benches")
from lib import chat_run_line, run_record
rec = run_record(*sys.argv[1:9])
print(json.dumps(rec))
print(chat_run_line(rec), file=sys.stderr)
PY
}
