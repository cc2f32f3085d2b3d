#!/usr/bin/env bash
# Compare `netkit fetch` with the tools a user would otherwise pick to fetch
# many URLs at once: curl --parallel, wget2, aria2c and Python aiohttp.
#
#   benches/fetch-vs-peers.sh [--rounds 3] [--only NAME[,NAME...]] [--no-build]
#   benches/fetch-vs-peers.sh --report target/bench/fetch-vs-peers-STAMP/results.jsonl
#
# It installs what is missing (nginx curl wget2 aria2 time from apt, aiohttp
# from pip), builds a corpus on tmpfs (10,000 files of 1-8 KiB, 200 of 1 MiB,
# 5 of 100 MiB, random content, sha256 manifests), serves it from Debian's nginx
# with benches/nginx/nginx.conf (one worker, keep-alive) pinned to CPU 0, and
# fetches every corpus with each tool pinned to CPU 1, 64 requests at once,
# into a fresh directory on tmpfs; rounds are interleaved (A B C D E A B ...).
# Each run's wall time and peak RSS are measured and every file it wrote is
# checked against the manifest (a missing or wrong file fails the run). Then a
# fault list for netkit alone (good URLs mixed with 404, 500, a 3 s slow
# endpoint, resets, invalid URLs, a refused port). One JSON line per run goes
# to target/bench/fetch-vs-peers-STAMP/results.jsonl; the medians and the
# target checks (PASS/FAIL) are printed at the end, and again by --report.
# For scale it also runs the floor (benches/peers/fetch_floor.c, built with cc
# when there is one): the least work a fetcher that writes files safely can do.
# --only keeps the named tools (netkit curl wget2 aria2c aiohttp floor) and/or
# corpora (small 1mib 100mib faults). Exits 1 if a target or a run failed.
# All traffic goes to 127.0.0.1; every wait is bounded; the corpus and the
# servers are removed when the script exits, however it exits.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
parse_args "$@"

# ---------------------------------------------------------------------------
# The table: medians per (corpus, tool), the fault list, the target checks.
# ---------------------------------------------------------------------------
report() {
    "$PYTHON" - "$1" <<'PY'
import statistics, sys

sys.path.insert(0, "benches")
from lib import print_table, read_results

path = sys.argv[1]
TOOLS = ["netkit", "curl", "wget2", "aria2c", "aiohttp"]
FLOOR = "floor"  # benches/peers/fetch_floor.c: for scale, never the fastest peer
CORPORA = ["small", "1mib", "100mib"]
runs, faults = {}, []
meta, records = read_results(path)
for rec in records:
    if rec.get("corpus") == "faults":
        faults.append(rec)
    else:
        runs.setdefault((rec["corpus"], rec["tool"]), []).append(rec)


def med(key, field, ok_only=True):
    vals = [r[field] for r in runs.get(key, []) if (r.get("ok") or not ok_only)
            and isinstance(r.get(field), (int, float))]
    return statistics.median(vals) if vals else None


def peak(key):
    vals = [r["rss_mib"] for r in runs.get(key, []) if isinstance(r.get("rss_mib"), (int, float))]
    return max(vals) if vals else None


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


if meta:
    print(f"fetch vs peers: rounds {meta.get('rounds')}, {meta.get('cpu', '?')}, {meta.get('when', '')}, "
          f"git {meta.get('git') or '?'}")
    for k, v in (meta.get("versions") or {}).items():
        print(f"  {k}: {v}")
    print()
head = ["corpus", "tool", "verified ok", "wall s", "URLs/s", "MB/s", "CPU s", "nginx CPU s", "peak RSS MiB",
        "vs fastest peer"]
rows = []
bad_runs = 0
fastest = {}
for corpus in CORPORA:
    peers = [(med((corpus, t), "urls_per_s"), med((corpus, t), "mb_per_s"), t)
             for t in TOOLS[1:] if med((corpus, t), "wall_s") is not None]
    metric = "urls_per_s" if corpus == "small" else "mb_per_s"
    best = max(peers, key=lambda p: p[0] if corpus == "small" else p[1], default=None)
    fastest[corpus] = best
    for tool in TOOLS + [FLOOR]:
        key = (corpus, tool)
        if key not in runs:
            continue
        rs = runs[key]
        nok = sum(bool(r.get("ok")) for r in rs)
        bad_runs += len(rs) - nok
        files = rs[0].get("urls", 0)
        missing = sum(r.get("missing") or 0 for r in rs)
        bad = sum(r.get("bad") or 0 for r in rs)
        verified = f"{nok}/{len(rs)} runs"
        if missing or bad:
            verified += f" ({missing} missing, {bad} bad of {files * len(rs)})"
        elif nok < len(rs):
            verified += " (exit " + ",".join(str(r.get("exit")) for r in rs if not r.get("ok")) + ")"
        vs = ""
        if tool in ("netkit", FLOOR) and best is not None:
            nk = med(key, metric)
            ref = best[0] if corpus == "small" else best[1]
            if nk is not None and ref:
                vs = f"{nk / ref:.2f}x {best[2]}"
        rows.append([corpus, tool, verified, fmt(med(key, "wall_s"), ".2f"), fmt(med(key, "urls_per_s"), ",.0f"),
                     fmt(med(key, "mb_per_s"), ",.1f"), fmt(med(key, "cpu_s"), ".2f"),
                     fmt(med(key, "nginx_cpu_s"), ".2f"), fmt(peak(key), ",.1f"), vs])
if rows:
    print("medians over the runs whose every file verified; peak RSS is the largest of all runs;")
    print("MB/s counts 10^6 bytes of body per second of wall time; CPU s is user + system of the fetcher;")
    print("nginx CPU s is the server's, near wall s when it is the bottleneck")
    print_table(head, rows, left=(0, 1, 2, 9))

fails = 0


def verdict(ok, label):
    global fails
    fails += not ok
    print(f"{'PASS' if ok else 'FAIL'}  {label}")


for rec in faults:
    print(f"fault list (netkit only), {rec.get('urls')} URLs: {rec.get('good')} good, {rec.get('bad_urls')} meant to fail; "
          f"exit {rec.get('exit')}, wall {fmt(rec.get('wall_s'), '.2f')} s, peak RSS {fmt(rec.get('rss_mib'), '.1f')} MiB")
    for cat in rec.get("categories") or []:
        print(f"  {cat}")
    for p in rec.get("problems") or []:
        print(f"  problem: {p}")
    print()

for corpus in CORPORA:
    if (corpus, "netkit") not in runs:
        continue
    rs = runs[(corpus, "netkit")]
    nok = sum(bool(r.get("ok")) for r in rs)
    verdict(nok == len(rs), f"netkit {corpus}: every file of every run verified ({nok}/{len(rs)} runs)")
for corpus, metric, factor, unit in (("small", "urls_per_s", 2.0, "URLs/s"), ("1mib", "mb_per_s", 0.95, "MB/s"),
                                     ("100mib", "mb_per_s", 0.95, "MB/s")):
    if (corpus, "netkit") not in runs:
        continue
    best = fastest.get(corpus)
    nk = med((corpus, "netkit"), metric)
    if best is None:
        print(f"SKIP  netkit {corpus}: no peer run verified, nothing to compare with")
        continue
    ref = best[0] if metric == "urls_per_s" else best[1]
    if nk is None:
        verdict(False, f"netkit {corpus}: >= {factor}x the {unit} of the fastest peer ({best[2]}): no verified netkit run")
        continue
    verdict(nk >= factor * ref, f"netkit {corpus}: >= {factor}x the {unit} of the fastest peer: "
            f"{nk:,.1f} vs {best[2]} {ref:,.1f} = {nk / ref:.2f}x")
for corpus in CORPORA:
    rss = [r["rss_mib"] for r in runs.get((corpus, "netkit"), []) if isinstance(r.get("rss_mib"), (int, float))]
    if (corpus, "netkit") in runs:
        verdict(bool(rss) and max(rss) <= 32, f"netkit {corpus}: peak RSS <= 32 MiB in every run: "
                + (f"max {max(rss):.1f} MiB" if rss else "not measured"))
for rec in faults:
    for name, ok, detail in rec.get("checks") or []:
        verdict(ok, f"netkit faults: {name}: {detail}")
if bad_runs:
    print(f"warning: {bad_runs} run(s) failed (exit code or verification); see {path}")
sys.exit(1 if fails or bad_runs else 0)
PY
}

[[ -z $report_only ]] || { report "$report_only"; exit; }

all_tools=(netkit curl wget2 aria2c aiohttp floor)
all_corpora=(small 1mib 100mib faults)
tools=()
corpora=()
if [[ -n $only ]]; then
    IFS=, read -r -a names <<<"$only"
    for name in "${names[@]}"; do
        if [[ " ${all_tools[*]} " == *" $name "* ]]; then
            tools+=("$name")
        elif [[ " ${all_corpora[*]} " == *" $name "* ]]; then
            corpora+=("$name")
        else
            usage_error "--only: '$name' is neither a tool (${all_tools[*]}) nor a corpus (${all_corpora[*]})"
        fi
    done
fi
((${#tools[@]})) || tools=("${all_tools[@]}")
((${#corpora[@]})) || corpora=("${all_corpora[@]}")
want_corpus() { [[ " ${corpora[*]} " == *" $1 "* ]]; }
want_tool() { [[ " ${tools[*]} " == *" $1 "* ]]; }
bench_corpora=()
for c in small 1mib 100mib; do
    want_corpus "$c" && bench_corpora+=("$c")
done
run_faults=0
want_corpus faults && want_tool netkit && run_faults=1
if ! ((${#bench_corpora[@]})) && ! ((run_faults)); then
    usage_error "--only $only leaves nothing to run (the fault list is netkit's alone)"
fi

# Only loopback traffic: no proxy may be asked for 127.0.0.1.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export no_proxy=127.0.0.1,localhost NO_PROXY=127.0.0.1,localhost

# ---------------------------------------------------------------------------
# Setup: what is missing, the build, CPU pinning, output files, cleanup.
# ---------------------------------------------------------------------------
as_root=()
((EUID == 0)) || as_root=(sudo)
missing_pkgs=()
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing_pkgs+=(nginx)
command -v curl >/dev/null || missing_pkgs+=(curl)
command -v wget2 >/dev/null || missing_pkgs+=(wget2)
command -v aria2c >/dev/null || missing_pkgs+=(aria2)
[[ -x /usr/bin/time ]] || missing_pkgs+=(time)
command -v taskset >/dev/null || missing_pkgs+=(util-linux)
if ((${#missing_pkgs[@]})); then
    warn "installing ${missing_pkgs[*]}"
    timeout 600 "${as_root[@]}" apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive timeout 900 "${as_root[@]}" apt-get install -y -q "${missing_pkgs[@]}" >&2
fi
if want_tool aiohttp && ! "$PYTHON" -c 'import aiohttp' 2>/dev/null; then
    warn "installing aiohttp"
    timeout 600 "$PYTHON" -m pip install -q aiohttp
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

build_netkit fetch --input --jobs --per-host --output --quiet --report
pin_cpus
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true

make_outdir

# The floor (benches/peers/fetch_floor.c), built when there is a C compiler.
if want_tool floor && ! build_floor fetch_floor; then
    kept=()
    for t in "${tools[@]}"; do [[ $t == floor ]] || kept+=("$t"); done
    tools=("${kept[@]}")
fi

# Everything big lives on tmpfs, in one directory removed at exit.
shm=$(mktemp -d /dev/shm/netkit-fetch-bench.XXXXXX)
chmod 755 "$shm" # nginx's worker runs as nobody when started as root
corpus_dir=$shm/corpus
mkdir -p "$corpus_dir" "$shm/nginx" "$shm/out"

nginx_pid=
fault_pid=
fetch_pid=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$fetch_pid" fetcher --group || true
    stop_pid "$fault_pid" "fault server" --group || true
    stop_pid "$nginx_pid" nginx --group || true
    if [[ -n ${shm:-} && $shm == /dev/shm/netkit-fetch-bench.* ]]; then
        rm -rf -- "$shm"
    fi
    exit "$rc"
}
on_exit cleanup

# ---------------------------------------------------------------------------
# The corpus: files with random sizes and content, and sha256 manifests
# ("HEX SIZE PATH", PATH relative to the corpus root, which is nginx's root).
# ---------------------------------------------------------------------------
gen=()
for c in "${bench_corpora[@]}"; do gen+=("$c"); done
((run_faults)) && ! want_corpus small && gen+=(small)
warn "building the corpus (${gen[*]}) in $shm"
timeout 600 "$PYTHON" - "$corpus_dir" "$shm" "${gen[@]}" <<'PY'
import hashlib, os, random, sys

root, shm, wanted = sys.argv[1], sys.argv[2], sys.argv[3:]
SPEC = {"small": (10000, lambda r: r.randint(1024, 8192), "{:05d}.bin"),
        "1mib": (200, lambda r: 1 << 20, "{:03d}.bin"),
        "100mib": (5, lambda r: 100 << 20, "{:d}.bin")}
rng = random.Random()
for name in wanted:
    count, size_of, pattern = SPEC[name]
    os.makedirs(os.path.join(root, name), exist_ok=True)
    lines = []
    for i in range(count):
        rel = f"{name}/{pattern.format(i)}"
        size = size_of(rng)
        h = hashlib.sha256()
        with open(os.path.join(root, rel), "wb") as f:
            left = size
            while left:
                block = os.urandom(min(left, 4 << 20))
                h.update(block)
                f.write(block)
                left -= len(block)
        lines.append(f"{h.hexdigest()} {size} {rel}\n")
    with open(os.path.join(shm, f"manifest-{name}.txt"), "w") as f:
        f.writelines(lines)
with open(os.path.join(root, "ping.txt"), "w") as f:
    f.write("pong\n")
PY

# ---------------------------------------------------------------------------
# nginx: Debian's binary, our config, pinned to CPU 0.
# ---------------------------------------------------------------------------
start_nginx() {
    local try i
    for try in 1 2 3; do
        port=$(free_port)
        sed -e "s|@PREFIX@|$shm/nginx|g" -e "s|@ROOT@|$corpus_dir|g" -e "s|@PORT@|$port|g" \
            benches/nginx/nginx.conf >"$shm/nginx/nginx.conf"
        setsid "${pin_server[@]}" "$NGINX" -c "$shm/nginx/nginx.conf" -p "$shm/nginx/" -e "$shm/nginx/error.log" \
            -g 'daemon off;' >"$logdir/nginx.out" 2>&1 </dev/null &
        nginx_pid=$!
        for ((i = 0; i < 100; i++)); do # 10 s
            if [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$port/ping.txt" || true) == 200 ]]; then
                base_url=http://127.0.0.1:$port
                return 0
            fi
            alive "$nginx_pid" || break
            sleep 0.1
        done
        warn "nginx did not serve on 127.0.0.1:$port (try $try); its log:"
        tail -n 5 "$logdir/nginx.out" "$shm/nginx/error.log" >&2 2>/dev/null || true
        stop_pid "$nginx_pid" nginx --group
        nginx_pid=
    done
    return 1
}
start_nginx || die "could not start nginx"
warn "nginx (pid $nginx_pid) serves $corpus_dir on $base_url"

# Inputs for every tool, from the manifests.
for c in "${gen[@]}"; do
    awk -v b="$base_url" '{ print b "/" $3 }' "$shm/manifest-$c.txt" >"$shm/urls-$c.txt"
    awk -v b="$base_url" '{ printf "url = \"%s/%s\"\noutput = \"%s\"\n", b, $3, $3 }' "$shm/manifest-$c.txt" >"$shm/curl-$c.cfg"
    awk -v b="$base_url" '{ printf "%s/%s\n  out=%s\n", b, $3, $3 }' "$shm/manifest-$c.txt" >"$shm/aria2-$c.txt"
done

version_of() { timeout 10 "$@" 2>&1 | head -n 1 || true; }
write_meta rounds:="$rounds" pin_server="${pin_server[*]:-none}" pin_fetch="${pin_client[*]:-none}" \
    versions.netkit="$(version_of "$netkit" --version)" versions.curl="$(version_of curl --version)" \
    versions.wget2="$(version_of wget2 --version)" versions.aria2c="$(version_of aria2c --version)" \
    versions.aiohttp="$(version_of "$PYTHON" -c 'import sys, aiohttp; print("Python", sys.version.split()[0], "aiohttp", aiohttp.__version__)')" \
    versions.nginx="$(version_of "$NGINX" -v)" cpu kernel git when >"$results"

# ---------------------------------------------------------------------------
# One run: the fetcher pinned to CPU 1 under /usr/bin/time and timeout(1),
# then every file checked against the manifest.
# ---------------------------------------------------------------------------
# fetch_command TOOL CORPUS OUT: sets cmd. Each peer gets its usual way of
# fetching a list with 64 at once, and no handicap: aria2c does not preallocate
# files (its default on file systems without fallocate support would write
# every large file twice).
fetch_command() {
    local tool=$1 c=$2 out=$3
    case $tool in
        netkit) cmd=("$netkit" fetch -i "$shm/urls-$c.txt" -j 64 --per-host 64 -o "$out" --quiet) ;;
        curl) cmd=(curl --parallel --parallel-max 64 -Z --create-dirs --output-dir "$out" --no-progress-meter --fail
            -K "$shm/curl-$c.cfg") ;;
        wget2) cmd=(wget2 --max-threads=64 -i "$shm/urls-$c.txt" -P "$out" --force-directories
            --no-host-directories -q) ;;
        aria2c) cmd=(aria2c -j 64 -i "$shm/aria2-$c.txt" -d "$out" --max-connection-per-server=16
            --allow-overwrite=true --auto-file-renaming=false --console-log-level=error
            --summary-interval=0 --download-result=hide --file-allocation=none) ;;
        aiohttp) cmd=("$PYTHON" "$root/benches/peers/aiohttp_fetch.py" -i "$shm/urls-$c.txt" -o "$out" -j 64) ;;
        floor) cmd=("$floor_bin" "$shm/urls-$c.txt" "$out" 64) ;;
        *) echo "unknown tool $tool" >&2; return 1 ;;
    esac
}

# Where under OUT a tool puts the corpus root: netkit names files HOST_PORT/PATH.
files_root() {
    if [[ $1 == netkit ]]; then echo "$2/127.0.0.1_${base_url##*:}"; else echo "$2"; fi
}

# timed_run BASE TIMEOUT CMD...: runs CMD pinned, in its own process group;
# sets run_exit, run_wall (s), run_rss_kib and run_cpu (user + system s).
timed_run() {
    local base=$1 limit=$2 t0 t1
    shift 2
    t0=$EPOCHREALTIME
    # /usr/bin/time measures timeout(1), whose rusage covers its child: %M is the
    # fetcher's peak RSS (timeout's own is far smaller), %U + %S its CPU time.
    setsid /usr/bin/time -o "$base.time" -f '%e %M %U %S' timeout -k 5 "$limit" "${pin_client[@]}" "$@" \
        >"$base.out" 2>"$base.err" </dev/null &
    fetch_pid=$!
    run_exit=0
    wait "$fetch_pid" || run_exit=$?
    t1=$EPOCHREALTIME
    fetch_pid=
    run_wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    run_rss_kib=$(awk 'NF == 4 && $2 ~ /^[0-9]+$/ { v = $2 } END { print v + 0 }' "$base.time" 2>/dev/null || echo 0)
    run_cpu=$(awk 'NF == 4 && $2 ~ /^[0-9]+$/ { v = $3 + $4 } END { printf "%.2f", v + 0 }' "$base.time" 2>/dev/null || echo 0)
}

# verify MANIFEST ROOT OUT: JSON {ok, missing, bad, extra, bytes, examples} on stdout.
verify() {
    "$PYTHON" - "$@" <<'PY'
import hashlib, json, os, sys

manifest, root, out = sys.argv[1:4]
ok = missing = bad = nbytes = 0
expected, examples = set(), []
for line in open(manifest):
    hexd, size, rel = line.split(maxsplit=2)
    rel = rel.rstrip("\n")
    p = os.path.join(root, rel)
    expected.add(os.path.normpath(p))
    h = hashlib.sha256()
    try:
        with open(p, "rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
    except OSError:
        missing += 1
        if len(examples) < 5:
            examples.append(f"missing {rel}")
        continue
    if h.hexdigest() == hexd:
        ok += 1
        nbytes += int(size)
    else:
        bad += 1
        if len(examples) < 5:
            examples.append(f"bad {rel} ({os.path.getsize(p)} bytes, want {size})")
extra = []
for d, _, files in os.walk(out):
    extra += [os.path.relpath(os.path.join(d, f), out) for f in files if os.path.normpath(os.path.join(d, f)) not in expected]
print(json.dumps({"ok_files": ok, "missing": missing, "bad": bad, "verified_bytes": nbytes,
                  "extra": len(extra), "extra_examples": sorted(extra)[:5], "examples": examples}))
PY
}

# record CORPUS TOOL ROUND BASE VERIFY_JSON: one JSON line per run.
record() {
    "$PYTHON" - "$@" "$run_exit" "$run_wall" "$run_rss_kib" "$shm/manifest-$1.txt" "$run_cpu" "$run_nginx_cpu" \
        <<'PY' >>"$results"
import json, sys
corpus, tool, rnd, base, ver, code, wall, rss, manifest, cpu, nginx_cpu = sys.argv[1:12]
v = json.loads(ver)
sizes = [int(l.split()[1]) for l in open(manifest)]
wall, code = float(wall), int(code)
rec = {"corpus": corpus, "tool": tool, "round": int(rnd), "exit": code, "wall_s": wall,
       "rss_mib": int(rss) / 1024 if int(rss) else None, "cpu_s": float(cpu),
       "nginx_cpu_s": float(nginx_cpu) if nginx_cpu else None, "urls": len(sizes), "bytes": sum(sizes),
       "urls_per_s": len(sizes) / wall if wall > 0 else None,
       "mb_per_s": sum(sizes) / 1e6 / wall if wall > 0 else None, **v}
rec["ok"] = code == 0 and v["missing"] == 0 and v["bad"] == 0
if not rec["ok"]:
    rec["stderr_tail"] = open(base + ".err", errors="replace").read()[-2000:]
print(json.dumps(rec))
extra = f", {v['extra']} extra file(s) e.g. {v['extra_examples'][:2]}" if v["extra"] else ""
print(f"    exit {code}, {wall:.2f} s, {rec['urls_per_s']:,.0f} URLs/s, {rec['mb_per_s']:,.1f} MB/s, "
      f"peak RSS {int(rss) / 1024:.1f} MiB, CPU {float(cpu):.2f} s; verified {v['ok_files']}/{len(sizes)}"
      + (f", {v['missing']} missing, {v['bad']} bad {v['examples'][:3]}" if v['missing'] or v['bad'] else "")
      + extra + ("" if rec["ok"] else "  FAILED"), file=sys.stderr)
PY
}

# nginx_cpu_ticks: user + system clock ticks of nginx's worker (empty if unknown).
nginx_cpu_ticks() {
    local worker
    worker=$(pgrep -P "$nginx_pid" | head -n 1) || return 0
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$worker/stat" 2>/dev/null || true
}

declare -A limit_of=([small]=180 [1mib]=180 [100mib]=300)
total=$((${#bench_corpora[@]} * rounds * ${#tools[@]}))
n=0
for c in "${bench_corpora[@]}"; do
    # One unrecorded pass first, so that no tool pays for a cold start.
    echo "[warm-up] $c with curl" >&2
    mkdir -p "$shm/out/warm-up"
    fetch_command curl "$c" "$shm/out/warm-up"
    timed_run "$logdir/$c-warm-up" "${limit_of[$c]}" "${cmd[@]}"
    rm -rf -- "$shm/out/warm-up"
    for ((round = 1; round <= rounds; round++)); do
        for tool in "${tools[@]}"; do
            n=$((n + 1))
            echo "[$n/$total] $c, round $round, $tool" >&2
            alive "$nginx_pid" || die "nginx died; see $shm/nginx/error.log"
            base=$logdir/$c-$round-$tool
            out=$shm/out/$c-$round-$tool
            mkdir -p "$out"
            fetch_command "$tool" "$c" "$out"
            nginx_t0=$(nginx_cpu_ticks)
            timed_run "$base" "${limit_of[$c]}" "${cmd[@]}"
            nginx_t1=$(nginx_cpu_ticks)
            run_nginx_cpu=
            if [[ -n $nginx_t0 && -n $nginx_t1 ]]; then
                run_nginx_cpu=$(awk -v a="$nginx_t0" -v b="$nginx_t1" -v hz="$(getconf CLK_TCK)" \
                    'BEGIN { printf "%.2f", (b - a) / hz }')
            fi
            ver=$(verify "$shm/manifest-$c.txt" "$(files_root "$tool" "$out")" "$out")
            rm -rf -- "$out"
            record "$c" "$tool" "$round" "$base" "$ver"
        done
    done
done

# ---------------------------------------------------------------------------
# The fault list, netkit only: good URLs mixed with ones that must fail.
# ---------------------------------------------------------------------------
if ((run_faults)); then
    echo "[faults] netkit on a list of good URLs mixed with 404, 500, slow, reset, invalid, refused" >&2
    # A small threaded server for what nginx cannot do: a response after 3 s
    # (GET /slow/N) and resets (GET /reset/early: RST before any response;
    # GET /reset/mid: headers and part of the body, then RST).
    cat >"$shm/faultsrv.py" <<'PY'
import http.server, socket, struct, sys, time

def body(path):
    return (f"slow response for {path}\n" * 64).encode()

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def rst(self):
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def do_GET(self):
        if self.path.startswith("/slow/"):
            time.sleep(3)
            b = body(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            self.wfile.write(b)
        elif self.path.startswith("/reset/early"):
            self.rst()
        elif self.path.startswith("/reset/mid"):
            self.send_response(200)
            self.send_header("Content-Length", str(1 << 20))
            self.end_headers()
            self.wfile.write(b"x" * (100 << 10))
            self.wfile.flush()
            time.sleep(0.05)
            self.rst()
        else:
            self.send_error(404)

class S(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        pass

srv = S(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
PY
    setsid "${pin_server[@]}" "$PYTHON" "$shm/faultsrv.py" >"$shm/faultsrv.port" 2>"$logdir/faultsrv.err" </dev/null &
    fault_pid=$!
    fault_port=
    for ((i = 0; i < 100; i++)); do
        fault_port=$(head -n 1 "$shm/faultsrv.port" 2>/dev/null || true)
        [[ -n $fault_port ]] && break
        alive "$fault_pid" || break
        sleep 0.1
    done
    [[ -n $fault_port ]] || { warn "the fault server did not start"; cat "$logdir/faultsrv.err" >&2; exit 1; }
    refused_port=$(free_port) # nothing listens there

    base=$logdir/faults-netkit
    out=$shm/out/faults
    mkdir -p "$out"
    "$PYTHON" - "$shm/manifest-small.txt" "$base_url" "http://127.0.0.1:$fault_port" "$refused_port" \
        "$shm/urls-faults.txt" "$shm/faults-expected.json" <<'PY'
import json, random, sys

manifest, good_base, fault_base, refused, urls_path, exp_path = sys.argv[1:7]
entries = [l.split() for l in open(manifest)][:300]
cases = [(f"{good_base}/{rel}", "good", {"sha256": h, "rel": rel}) for h, _, rel in entries]
import hashlib
for i in (1, 2):
    path = f"/slow/{i}"
    b = (f"slow response for {path}\n" * 64).encode()
    cases.append((fault_base + path, "slow", {"sha256": hashlib.sha256(b).hexdigest(), "rel": path.lstrip("/")}))
cases += [(f"{good_base}/small/missing-{i}.bin", "404", None) for i in range(5)]
cases += [(f"{good_base}/fault/500/{i}", "500", None) for i in range(3)]
cases += [(f"{fault_base}/reset/early/{i}", "reset", None) for i in range(2)]
cases += [(f"{fault_base}/reset/mid/{i}", "reset", None) for i in range(2)]
cases += [(f"http://127.0.0.1:{refused}/refused/{i}", "refused", None) for i in range(2)]
cases += [(u, "invalid", None) for u in ("http://", "not a url", "http://127.0.0.1:99999/x",
                                         "http://[::1/x", "ftp://127.0.0.1/x")]
random.Random(5).shuffle(cases)
with open(urls_path, "w") as f:
    f.write("# the fault list of benches/fetch-vs-peers.sh\n\n")
    for u, _, _ in cases:
        f.write(u + "\n")
json.dump(cases, open(exp_path, "w"))
PY
    fault_root=$out/127.0.0.1_${base_url##*:}
    fault_alt_root=$out/127.0.0.1_$fault_port
    timed_run "$base" 60 "$netkit" fetch -i "$shm/urls-faults.txt" -j 64 --per-host 64 -o "$out" --quiet \
        --report "$base.report.jsonl" --json
    "$PYTHON" - "$shm/faults-expected.json" "$base.report.jsonl" "$base.out" "$out" "$fault_root" "$fault_alt_root" \
        "$run_exit" "$run_wall" "$run_rss_kib" "$run_cpu" <<'PY' >>"$results"
import collections, hashlib, json, os, sys

exp_path, report_path, stdout_path, out, root, alt_root, code, wall, rss, cpu = sys.argv[1:11]
cases = json.load(open(exp_path))
code, wall, rss = int(code), float(wall), int(rss)
problems, checks = [], []
records = []
try:
    for n, line in enumerate(open(report_path), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except ValueError:
                problems.append(f"report line {n} is not JSON: {line[:100]!r}")
except OSError as e:
    problems.append(f"no report: {e}")
by_url = collections.defaultdict(list)
for r in records:
    by_url[r.get("url")].append(r)
inputs = [u for u, _, _ in cases]
dups = [u for u in inputs if len(by_url.get(u, [])) > 1]
absent = [u for u in inputs if u not in by_url]
unknown = [u for u in by_url if u not in set(inputs)]
once = not dups and not absent and not unknown and len(records) == len(inputs)
checks.append(("every URL in the report exactly once", once,
               f"{len(records)} records for {len(inputs)} URLs; {len(absent)} absent, {len(dups)} repeated, "
               f"{len(unknown)} unknown" + (f" e.g. {(absent + dups + unknown)[:3]}" if not once else "")))

# The README's kinds: how each URL that must fail should be reported.
EXPECTED_KINDS = {"404": ["status"], "500": ["status"], "reset": ["transfer", "connect"],
                  "refused": ["connect"], "invalid": ["invalid_url"]}
good_ok, good_total, bad_ok, bad_total, saved = 0, 0, 0, 0, set()
cat_stats = collections.defaultdict(lambda: collections.Counter())
for url, cat, want in cases:
    recs = by_url.get(url, [])
    r = recs[0] if recs else {}
    cat_stats[cat][f"error={r.get('error')} status={r.get('status')} attempts={r.get('attempts')}"] += 1
    if want:
        good_total += 1
        p = os.path.join(root if cat == "good" else alt_root, want["rel"])
        try:
            got = hashlib.sha256(open(p, "rb").read()).hexdigest()
        except OSError:
            got = None
        saved.add(os.path.normpath(p))
        if got == want["sha256"] and r.get("error") is None:
            good_ok += 1
        else:
            problems.append(f"good URL {url}: file {'missing' if got is None else 'wrong'}, report {r}")
    else:
        bad_total += 1
        kinds = EXPECTED_KINDS[cat]
        if r.get("error") in kinds:
            bad_ok += 1
        elif r:
            problems.append(f"{cat} URL {url}: want error {' or '.join(kinds)}, report says {r}")
checks.append(("every good URL saved and verified", good_ok == good_total, f"{good_ok}/{good_total}"))
checks.append(("every failing URL reported as a failure of its kind", bad_ok == bad_total, f"{bad_ok}/{bad_total}"))
leftover = []
for d, _, files in os.walk(out):
    for f in files:
        p = os.path.normpath(os.path.join(d, f))
        if p not in saved:
            leftover.append(os.path.relpath(p, out))
parts = [p for p in leftover if p.endswith(".netkit-part")]
others = [p for p in leftover if not p.endswith(".netkit-part")]
if others:
    problems.append(f"{len(others)} file(s) saved for URLs that failed: {sorted(others)[:5]}")
checks.append(("no file under a final name for a failed URL", not others,
               f"{len(others)} such files" + (f"; {len(parts)} .netkit-part left (documented for broken transfers)" if parts else "")))
checks.append(("exit code 1 (some URLs failed)", code == 1, f"exit {code}"))
checks.append(("wall time a little over the slow endpoint's 3 s (3.0-4.0 s)", 3.0 <= wall <= 4.0, f"{wall:.2f} s"))
summary = None
try:
    summary = json.loads(open(stdout_path).read())
except (OSError, ValueError):
    problems.append("--json printed no single JSON object on stdout")
if isinstance(summary, dict):
    bad = sum(1 for _, _, w in cases if w is None)
    if summary.get("urls") != len(cases) or summary.get("succeeded") != good_total or summary.get("failed") != bad:
        problems.append(f"--json summary {summary} does not say {len(cases)} URLs, {good_total} succeeded, {bad} failed")
cats = [f"{cat:8} {sum(c.values()):3}: " + "; ".join(f"{n} x {k}" for k, n in sorted(c.items()))
        for cat, c in sorted(cat_stats.items())]
rec = {"corpus": "faults", "tool": "netkit", "exit": code, "wall_s": wall, "rss_mib": rss / 1024 if rss else None,
       "cpu_s": float(cpu),
       "urls": len(cases), "good": good_total, "bad_urls": len(cases) - good_total, "summary": summary,
       "categories": cats, "problems": problems, "checks": checks, "leftover_parts": parts[:10]}
print(json.dumps(rec))
PY
    rm -rf -- "$out"
    stop_pid "$fault_pid" "fault server" --group
    fault_pid=
fi

echo "results: $results" >&2
echo
report "$results"
