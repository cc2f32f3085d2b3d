"""The Python side of lib.sh: what the report() of every benches/*.sh
shares. Its heredoc imports it with

    sys.path.insert(0, "benches")  # lib.sh has cd'd to the checkout
    from lib import read_results, print_table

read_results(path)  -> (meta, records): the last {"meta": ...} line's object
                       and every other line of a results.jsonl, in order; a
                       line that is not JSON is skipped with a warning.
print_table(head, rows, left)  the header, a rule, the rows (a blank line
                       where the first column changes), then a blank line;
                       the columns whose index is in `left` are left-aligned.
group_runs(records)  -> (runs, order): records by (scenario, server), and the
                       scenarios in the order first seen.
number(res, *path)   res[path][...] when it is a number (not a bool), else None.
median(records, *path)  the median of number(rec["result"], *path) over the
                       records that have it, or None.
fmt(v, spec, suffix)  "-" for None, else format(v, spec) + suffix.
run_record(scenario, server, round, bench_exit, died, base, srv_exit, killed)
                       the results.jsonl record of one `netkit bench` run, from
                       its BASE.bench.out (the --json report) and .bench.err.
chat_run_line(rec)   the progress line of one `netkit bench chat` run, from
                       its record.
"""

import json
import statistics
import sys


def read_results(path):
    meta, records = None, []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                print(f"warning: {path}:{n}: not JSON, skipped", file=sys.stderr)
                continue
            if "meta" in rec:
                meta = rec["meta"]
            else:
                records.append(rec)
    return meta, records


def print_table(head, rows, left):
    width = [max(len(str(x)) for x in col) for col in zip(head, *rows)]

    def line(cells):
        return "  ".join(str(c).ljust(w) if i in left else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(cells, width)))

    print(line(head))
    print("  ".join("-" * w for w in width))
    prev = None
    for r in rows:
        if prev is not None and r[0] != prev:
            print()
        prev = r[0]
        print(line(r))
    print()


def group_runs(records):
    runs, order = {}, []
    for rec in records:
        if rec["scenario"] not in order:
            order.append(rec["scenario"])
        runs.setdefault((rec["scenario"], rec["server"]), []).append(rec)
    return runs, order


def number(res, *path):
    for p in path:
        if not isinstance(res, dict):
            return None
        res = res.get(p)
    return res if isinstance(res, (int, float)) and not isinstance(res, bool) else None


def median(records, *path):
    vals = [v for r in records if (v := number(r.get("result"), *path)) is not None]
    return statistics.median(vals) if vals else None


def fmt(v, spec, suffix=""):
    return "-" if v is None else format(v, spec) + suffix


def run_record(scenario, server, rnd, bench_exit, died, base, srv_exit, killed):
    out = open(base + ".bench.out", errors="replace").read()
    err = open(base + ".bench.err", errors="replace").read()
    rec = {"scenario": scenario, "server": server, "round": int(rnd), "bench_exit": int(bench_exit),
           "server_exit": int(srv_exit) if srv_exit else None, "server_sigkilled": killed == "true",
           "server_died_during_bench": died == "true", "result": None}
    try:
        rec["result"] = json.loads(out)
    except ValueError:
        # Not exactly one JSON object: keep the last line that is one, and say so.
        for line in reversed(out.splitlines()):
            try:
                rec["result"] = json.loads(line)
                break
            except ValueError:
                pass
        rec["stdout_not_one_json_object"] = out[-2000:]
    if rec["bench_exit"] != 0 or rec["result"] is None:
        rec["stderr_tail"] = err[-2000:]
    return rec


def warn_bad_runs(runs, bad_runs, path):
    """Warns of runs whose stdout was not one JSON object, and of failed
    ones; gives how many were of the first kind."""
    junk = sum("stdout_not_one_json_object" in r for rs in runs.values() for r in rs)
    if junk:
        print(f"warning: {junk} run(s) did not print exactly one JSON object on stdout; see {path}")
    if bad_runs:
        print(f"warning: {bad_runs} run(s) failed or lost their server; see bench_exit/stderr_tail in {path}")
    return junk


def chat_run_line(rec):
    r = rec["result"] if isinstance(rec["result"], dict) else {}
    s = r.get("server") if isinstance(r.get("server"), dict) else {}

    def g(d, k, f):
        return format(d[k], f) if number(d, k) is not None else "-"

    rss = ""
    if number(s, "rss_per_client_bytes") is not None:
        rss = f", rss/client {g(s, 'rss_per_client_bytes', ',.0f')} B"
    return (f"    exit {rec['bench_exit']}: joined {g(r, 'joined', 'd')}/{g(r, 'clients', 'd')} in "
            f"{g(r, 'setup_s', '.1f')} s, {g(r, 'deliveries_per_s', ',.0f')} deliveries/s, "
            f"p99 {g(r.get('latency_us') or {}, 'p99', ',.0f')} us, server {g(s, 'cpu_us_per_delivery', '.3f')} "
            f"us/delivery{rss}, losses {r.get('losses', '-')}, errors {r.get('errors') or {}}"
            + ("  SERVER DIED" if rec["server_died_during_bench"] else ""))
