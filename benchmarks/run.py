"""Run the benchmark workloads and report: a table on stdout, JSON in benchmarks/results/.

    python -m benchmarks.run                 # every workload, quick sizes (a few minutes)
    python -m benchmarks.run --full          # the sizes of the targets in docs/performance.md
    python -m benchmarks.run --only w1,w4 --runs 3

W1 real (`w1real`, `w1realsweep`) runs the server with its default settings and clients that ack and read as the
web client does; `python -m benchmarks.realistic` runs it with variants and against older code.

Figures are medians over --runs runs, with min and max. Every message is durably stored before it is
acknowledged (the default durability); lost and duplicated messages are counted, never assumed."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import workloads as w
from benchmarks.common import machine, make_users, pick, proc_rss_kib, server_process, write_result

SWEEP = (0.1, 0.25, 0.5, 0.75, 0.9)
REAL_SWEEP = (150, 300, 600)  # W1 real: offered msgs/s in all, 9 to 36 a minute per user with 500 pairs
QUICK = {
    "w1_sweep_seconds": 5,
    "w1_pairs": 50,
    "w1_seconds": 10,
    "w2_members": 50,
    "w2_seconds": 10,
    "w3_connections": 2000,
    "w4_missed": 10_000,
    "w5_clients": 2000,
    "w1real_pairs": 500,
    "w1real_rate": 300,
    "w1real_seconds": 10,
}
FULL = {
    "w1_sweep_seconds": 10,
    "w1_pairs": 50,
    "w1_seconds": 20,
    "w2_members": 1024,
    "w2_seconds": 20,
    "w3_connections": 19_000,  # this machine caps a process at 20,000 open files (docs/performance.md)
    "w4_missed": 10_000,
    "w5_clients": 10_000,
    "w1real_pairs": 500,
    "w1real_rate": 300,
    "w1real_seconds": 20,
}


async def startup() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "var"
        await make_users(data, 1)
        t0 = time.perf_counter()
        async with server_process(data) as (proc, _):
            ready = time.perf_counter() - t0
            await asyncio.sleep(2)
            rss = proc_rss_kib(proc.pid)
    return {"ready_s": round(ready, 2), "idle_rss_mib": round(rss / 1024, 1)}


async def one(name: str, sizes: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "var"
        if name == "startup":
            return await startup()
        if name == "w5":
            users = await make_users(data, sizes["w5_clients"])
            return await w.w5_storm(data, users, sizes["w5_clients"])
        need = {
            "w1": 2 * sizes["w1_pairs"],
            "w1half": 2 * sizes["w1_pairs"],
            "w1sweep": 2 * sizes["w1_pairs"],
            "w2": sizes["w2_members"],
            "w3": sizes["w3_connections"],
            "w4": 2,
            "w1real": 2 * sizes["w1real_pairs"],
            "w1realsweep": 2 * sizes["w1real_pairs"],
        }[name]
        users = await make_users(data, need)
        # W1 real runs the server as it ships (rate limits on); the others measure with them off.
        async with server_process(data, default_limits=name.startswith("w1real")) as (proc, url):
            if name == "w1":
                r = await w.w1_pairs(url, proc.pid, users, sizes["w1_pairs"], sizes["w1_seconds"])
            elif name == "w1sweep":
                r = {"points": []}
                for fraction in SWEEP:
                    rate = max(1.0, sizes["w1_max"] * fraction)
                    point = await w.w1_pairs(
                        url, proc.pid, users, sizes["w1_pairs"], sizes["w1_sweep_seconds"], rate=rate
                    )
                    point["fraction_of_max"] = fraction
                    r["points"].append(point)
                r["max_per_second"] = sizes["w1_max"]
            elif name == "w1half":
                r = await w.w1_pairs(
                    url, proc.pid, users, sizes["w1_pairs"], sizes["w1_seconds"], rate=sizes["w1_half_rate"]
                )
            elif name == "w1real":
                r = await w.w1_real(
                    url, proc.pid, users, sizes["w1real_pairs"], sizes["w1real_seconds"], sizes["w1real_rate"]
                )
            elif name == "w1realsweep":
                r = {"points": []}
                for rate in REAL_SWEEP:
                    r["points"].append(
                        await w.w1_real(url, proc.pid, users, sizes["w1real_pairs"], sizes["w1real_seconds"], rate)
                    )
                r["cpu_us_per_message_at_top_rate"] = r["points"][-1]["server_cpu_us_per_message"]
            elif name == "w2":
                r = await w.w2_group(url, proc.pid, users, sizes["w2_members"], sizes["w2_seconds"])
            elif name == "w3":
                r = await w.w3_idle(url, proc.pid, users, sizes["w3_connections"])
            else:
                r = await w.w4_catch_up(url, proc.pid, users, sizes["w4_missed"])
            r["server_peak_rss_mib"] = round(proc_rss_kib(proc.pid, peak=True) / 1024, 1)
            return r


HEADLINE = {
    "startup": ("ready_s", "s until ready"),
    "w1": ("per_second", "delivered msgs/s"),
    "w1half": ("latency_ms.p99", "p99 ms at half rate"),
    "w1sweep": ("max_per_second", "max msgs/s (sweep below it)"),
    "w2": ("deliveries_per_second", "deliveries/s"),
    "w3": ("kib_per_connection", "KiB per idle connection"),
    "w4": ("seconds_until_up_to_date", "s to catch up"),
    "w5": ("all_back_s", "s until all back"),
    "w1real": ("server_cpu_us_per_message", "server µs/msg, real clients"),
    "w1realsweep": ("cpu_us_per_message_at_top_rate", f"µs/msg at {REAL_SWEEP[-1]} msgs/s"),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--full", action="store_true", help="target sizes instead of quick ones")
    p.add_argument("--only", default="startup,w1,w1half,w1sweep,w1real,w1realsweep,w2,w3,w4,w5")
    p.add_argument("--chart", default="docs/img/w1-load.png", help="where to draw the W1 load chart ('' for none)")
    p.add_argument("--runs", type=int, default=1)
    args = p.parse_args()
    sizes = dict(FULL if args.full else QUICK)
    report: dict[str, Any] = {"machine": machine(), "sizes": sizes, "workloads": {}}
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    for name in names:
        if name in ("w1half", "w1sweep"):
            # Relative to the measured maximum of W1 (measured now if W1 was not part of this run).
            w1 = report["workloads"].get("w1") or {"median": asyncio.run(one("w1", sizes))["per_second"]}
            sizes["w1_half_rate"] = max(1.0, pick(w1, "median") / 2)
            sizes["w1_max"] = pick(w1, "median")
        runs = [asyncio.run(one(name, sizes)) for _ in range(args.runs)]
        key, label = HEADLINE[name]
        values = [pick(r, key) for r in runs]
        report["workloads"][name] = {
            "label": label,
            "median": statistics.median(values),
            "min": min(values),
            "max": max(values),
            "runs": runs,
        }
        print(
            f"{name:8} {label:28} median {statistics.median(values):10.2f}  "
            f"(min {min(values):.2f}, max {max(values):.2f}, {len(runs)} run{'s' * (len(runs) > 1)})",
            flush=True,
        )
    path = write_result("bench", report)
    if args.chart and "w1sweep" in report["workloads"]:
        from benchmarks.chart import draw

        print(f"chart: {draw(path, Path(args.chart))}")
    print(json.dumps({k: v["median"] for k, v in report["workloads"].items()}, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
