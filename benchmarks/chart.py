"""Draw the W1 chart from a benchmark JSON: delivered rate and latency against offered load.

python -m benchmarks.chart benchmarks/results/bench-….json docs/img/w1-load.png
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def draw(result_json: Path, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    report = json.loads(result_json.read_text())
    sweep = report["workloads"]["w1sweep"]["runs"][0]
    points = sorted(sweep["points"], key=lambda p: p["offered_rate"])
    offered = [p["offered_rate"] for p in points]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    left.plot(offered, [p["per_second"] for p in points], "o-", label="delivered")
    left.plot(offered, offered, ":", color="grey", label="offered")
    left.set_xlabel("offered messages per second")
    left.set_ylabel("delivered messages per second")
    left.set_title("W1 one-to-one: throughput")
    left.legend()
    right.plot(offered, [p["latency_ms"]["p50"] for p in points], "o-", label="p50")
    right.plot(offered, [p["latency_ms"]["p99"] for p in points], "s-", label="p99")
    right.axhline(25, color="red", linestyle="--", linewidth=1, label="p99 target (25 ms)")
    right.set_xlabel("offered messages per second")
    right.set_ylabel("send → deliver latency, ms")
    right.set_title("W1 one-to-one: latency")
    right.legend()
    m = report["machine"]
    fig.suptitle(
        f"Hudhud, {sweep['points'][0]['pairs']} pairs, SQLite, {m['cores']} cores, Python {m['python']}; "
        f"measured max {sweep['max_per_second']:.0f} msgs/s"
    )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    return out


if __name__ == "__main__":
    print(draw(Path(sys.argv[1]), Path(sys.argv[2])))
