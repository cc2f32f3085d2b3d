"""The Python side of lib.sh: what the report() of every benches/*-vs-peers.sh
shares. Its heredoc imports it with

    sys.path.insert(0, "benches")  # lib.sh has cd'd to the checkout
    from lib import read_results, print_table

read_results(path)  -> (meta, records): the last {"meta": ...} line's object
                       and every other line of a results.jsonl, in order; a
                       line that is not JSON is skipped with a warning.
print_table(head, rows, left)  the header, a rule, the rows (a blank line
                       where the first column changes), then a blank line;
                       the columns whose index is in `left` are left-aligned.
"""

import json
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
