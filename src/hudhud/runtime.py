"""Interpreter settings for the server process, chosen by measurement (docs/performance.md).

- The cyclic garbage collector: a chat server allocates many short-lived objects per frame (frames, dicts,
  rows, futures) and holds many long-lived ones (connections, feeds, caches). With the default threshold a
  young-generation collection ran every 700 allocations and the older generations, which walk every long-lived
  object, followed often; raising the threshold and freezing what exists at start-up (modules, the app) took
  about a sixth off the server's CPU per message on the one-to-one benchmark. Reference counting still frees
  almost everything at once; only cycles wait longer.
- The GIL switch interval: the SQLite writer thread gives up the GIL inside every statement and must take it
  back from the event loop, which, while busy, holds it for up to the interval (5 ms by default). A batch of a
  few hundred statements then spent most of its time waiting. At 0.5 ms the writer gets it back sooner; the
  event loop pays a little in extra switches.
"""

from __future__ import annotations

import gc
import sys

GC_THRESHOLD = (20_000, 50, 100)
SWITCH_INTERVAL_S = 0.0005


def tune() -> None:
    """Apply the settings; call once in the server process, after start-up imports."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
