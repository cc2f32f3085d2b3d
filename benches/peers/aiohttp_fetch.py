#!/usr/bin/env python3
"""The tutorials' fetcher, as a peer for benches/fetch-vs-peers.sh.

    python3 aiohttp_fetch.py -i urls.txt -o DIR [-j 64]

Reads every URL from the file (blank lines and # comments skipped), starts one
task per URL with asyncio.gather, lets at most -j of them run at once through an
asyncio.Semaphore, shares one aiohttp.ClientSession, and streams each body to
DIR/PATH (PATH being the URL's path, so http://h:p/small/00001.bin is saved as
DIR/small/00001.bin) in 64 KiB chunks. Exits 0 when every URL gave a 2xx and was
saved, 1 otherwise (failures are counted on stderr), 2 for bad usage.
"""

import argparse
import asyncio
import os
import sys
from urllib.parse import unquote, urlsplit

import aiohttp

CHUNK = 64 * 1024


def target(out_dir, url):
    parts = [p for p in unquote(urlsplit(url).path).split("/") if p not in ("", ".", "..")]
    return os.path.join(out_dir, *(parts or ["index.html"]))


async def fetch(session, sem, url, out_dir, failures):
    async with sem:
        try:
            async with session.get(url) as resp:
                if resp.status // 100 != 2:
                    failures.append((url, f"HTTP {resp.status}"))
                    return
                path = target(out_dir, url)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as f:
                    async for chunk in resp.content.iter_chunked(CHUNK):
                        f.write(chunk)
        except Exception as e:  # a failed URL never stops the others
            failures.append((url, f"{type(e).__name__}: {e}"))


async def main(urls, out_dir, jobs):
    sem = asyncio.Semaphore(jobs)
    failures = []
    connector = aiohttp.TCPConnector(limit=jobs)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(fetch(session, sem, u, out_dir, failures) for u in urls))
    return failures


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-i", "--input", required=True, help="file of URLs, one per line")
    ap.add_argument("-o", "--output", required=True, help="directory to save bodies under")
    ap.add_argument("-j", "--jobs", type=int, default=64, help="requests at once (default 64)")
    args = ap.parse_args()
    with open(args.input) as f:
        urls = [l.strip() for l in f if l.strip() and not l.lstrip().startswith("#")]
    failures = asyncio.run(main(urls, args.output, args.jobs))
    for url, why in failures[:20]:
        print(f"aiohttp_fetch: {url}: {why}", file=sys.stderr)
    if failures:
        print(f"aiohttp_fetch: {len(failures)} of {len(urls)} URLs failed", file=sys.stderr)
    sys.exit(1 if failures else 0)
