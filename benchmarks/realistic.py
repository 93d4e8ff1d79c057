"""W1 real with its variants, and old-against-new comparisons, for finding where server CPU per message goes.

    python -m benchmarks.realistic                                  # 500 pairs, 300 msgs/s, default settings
    python -m benchmarks.realistic --rate 150,300,600 --runs 3      # a sweep
    python -m benchmarks.realistic --no-reads --no-rate-limit       # controlled variants
    python -m benchmarks.realistic --pairs 50 --rate 300            # fewer connections, same total rate
    python -m benchmarks.realistic --base /tmp/main/src --runs 3    # old (that source tree) vs new, interleaved
    python -m benchmarks.realistic --profile /tmp/w1real            # py-spy the server while measuring

Each run starts a fresh server process (like benchmarks/run.py). With --base, every run is made twice in a row,
once with the server imported from that tree and once from this checkout, so that both see the same machine
(other work on it moves the figures by ±15%). Prints one line per run and medians with min–max; writes the
runs as JSON to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import workloads as w
from benchmarks.common import machine, make_users, pick, server_process, write_result


async def one(
    pairs: int,
    rate: float,
    seconds: float,
    *,
    client: str,
    reads: bool,
    rate_limit: bool,
    server_src: str = "",
    profile: str = "",
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "var"
        users = await make_users(data, 2 * pairs)
        async with server_process(data, default_limits=rate_limit, server_src=server_src) as (proc, url):
            spy = None
            if profile:
                # Starts with the load (the warm-up of w1_real is 3 s) and samples the measured seconds.
                spy = subprocess.Popen(  # noqa: ASYNC220 - a side process for the length of the run
                    [
                        shutil.which("py-spy") or ".venv/bin/py-spy",
                        "record",
                        "--pid",
                        str(proc.pid),
                        "--threads",
                        "--nonblocking",
                        "--rate",
                        "200",
                        "--duration",
                        str(int(seconds)),
                        "-f",
                        "raw",
                        "-o",
                        profile,
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            r = await w.w1_real(url, proc.pid, users, pairs, seconds, rate, client=client, reads=reads)
            if spy is not None:
                spy.wait(60)
            r["rate_limit"] = rate_limit
            r["server_src"] = server_src or "this checkout"
            return r


def line(tag: str, r: dict[str, Any]) -> str:
    lat, pm = r["latency_ms"], r["per_message"]
    return (
        f"{tag:5} {r['connections']:5} conns {r['offered_rate']:6.0f}/s offered {r['per_second']:7.1f}/s delivered  "
        f"CPU {r['server_cpu_us_per_message']:6.1f} µs/msg ({r['server_cpu_share_of_a_core']:.2f} core)  "
        f"p50 {lat['p50']:6.1f} p99 {lat['p99']:7.1f} ms  lost {r['lost']} dup {r['duplicated']}  "
        f"in {pm['frames_in']} out {pm['frames_out']} ops {pm['commit_ops']} ops/commit {r['ops_per_commit']}  "
        f"threads {r['thread_cpu_us_per_message']}  loadgen {r['loadgen_cpu_share_of_a_core']:.2f}  "
        f"errors {r['errors'] or 0}"
    )


def summary(tag: str, runs: list[dict[str, Any]]) -> str:
    def med(key: str) -> str:
        values = [pick(r, key) for r in runs]
        return f"{statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f})"

    return (
        f"{tag:5} median of {len(runs)}: CPU {med('server_cpu_us_per_message')} µs/msg, "
        f"p50 {med('latency_ms.p50')} ms, p99 {med('latency_ms.p99')} ms, delivered {med('per_second')}/s, "
        f"lost {sum(r['lost'] for r in runs)}, duplicated {sum(r['duplicated'] for r in runs)}"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=int, default=500)
    p.add_argument("--rate", default="300", help="offered msgs/s in all; a comma-separated list for a sweep")
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--client", choices=("browser", "sdk"), default="browser")
    p.add_argument("--no-reads", action="store_true", help="receivers ack but never send read (chats not open)")
    p.add_argument("--no-rate-limit", action="store_true", help="HUDHUD_MESSAGES_PER_MINUTE=0, as W1 runs")
    p.add_argument("--base", default="", help="also run the server from this source tree (old code), interleaved")
    p.add_argument("--src", default="", help="run the (new) server from this source tree instead of this checkout")
    p.add_argument("--profile", default="", help="py-spy raw output file prefix (one file per run)")
    args = p.parse_args()
    report: dict[str, Any] = {"machine": machine(), "args": vars(args), "runs": []}
    versions = [("old", args.base), ("new", args.src)] if args.base else [("new", args.src)]
    for rate in [float(x) for x in args.rate.split(",")]:
        got: dict[str, list[dict[str, Any]]] = {tag: [] for tag, _ in versions}
        for k in range(args.runs):
            order = versions if k % 2 == 0 else versions[::-1]
            for tag, src in order:
                prof = f"{args.profile}-{tag}-{int(rate)}-{k}.txt" if args.profile else ""
                r = asyncio.run(
                    one(
                        args.pairs,
                        rate,
                        args.seconds,
                        client=args.client,
                        reads=not args.no_reads,
                        rate_limit=not args.no_rate_limit,
                        server_src=src,
                        profile=prof,
                    )
                )
                r["version"] = tag
                got[tag].append(r)
                report["runs"].append(r)
                print(line(tag, r), flush=True)
        for tag, runs in got.items():
            print(summary(tag, runs), flush=True)
    print(f"written to {write_result('w1real', report)}")


if __name__ == "__main__":
    main()
