"""An opt-in probe for `bench/tui_stream.py`: event-loop lag and garbage-collection pauses, inside the app.

Enabled by `BATON_TUI_PROBE=/path/result.json`; off, it costs nothing. The lag sampler sleeps 10 ms at
a time and records how late it wakes up; a collection's pause is kept as wall time and as the CPU time it
took (on a busy machine the two differ: the process may wait for a core in the middle). Samples carry
`time.monotonic()` (one clock for every process on the machine), so the benchmark keeps only those
taken while the agents were streaming. On exit the samples and the app's own account of what it showed go
to the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import time
from pathlib import Path
from typing import Any

PROBE_ENV = "BATON_TUI_PROBE"
TICK_S = 0.01


class Probe:
    """Collects samples while the app runs; `write` saves them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lag_ms: list[tuple[float, float]] = []
        self.frames = 0
        self.started = time.monotonic()
        self.extra: dict[str, Any] = {}
        self._task: asyncio.Task[None] | None = None
        self.gc_ms: list[tuple[float, int, float, float]] = []
        self._gc_start = 0.0
        self._gc_cpu = 0.0

    @classmethod
    def from_env(cls) -> Probe | None:
        """A probe when `BATON_TUI_PROBE` names a file."""
        value = os.environ.get(PROBE_ENV)
        return cls(Path(value)) if value else None

    def start(self) -> None:
        """Start sampling the event loop (and timing garbage collections, a common cause of pauses)."""
        self._task = asyncio.ensure_future(self._sample())
        gc.callbacks.append(self._gc)

    def _gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
            self._gc_cpu = time.thread_time()
        elif self._gc_start:
            elapsed = (time.perf_counter() - self._gc_start) * 1000
            cpu = (time.thread_time() - self._gc_cpu) * 1000
            if elapsed >= 1.0:
                self.gc_ms.append((time.monotonic(), int(info.get("generation", -1)), elapsed, cpu))

    async def _sample(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(TICK_S)
            self.lag_ms.append((time.monotonic(), max(0.0, (loop.time() - before - TICK_S) * 1000)))

    async def stop(self) -> None:
        """Stop sampling."""
        if self._gc in gc.callbacks:
            gc.callbacks.remove(self._gc)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def write(self) -> None:
        """Save everything measured (atomically: the bench polls for the file)."""
        data = {
            "lag_ms": [(round(t, 4), round(v, 3)) for t, v in self.lag_ms],
            "gc_ms": [(round(t, 4), g, round(v, 3), round(c, 3)) for t, g, v, c in self.gc_ms],
            "seconds": round(time.monotonic() - self.started, 3),
            **self.extra,
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(self.path)
