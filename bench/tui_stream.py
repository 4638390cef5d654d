"""The full-screen UI under 16 streaming agents, in a real terminal (tmux), on the offline model.

    python bench/tui_stream.py [--agents 16] [--tps 100] [--seconds 10] [--keys 100] [--busy]
                               [--variants coalesced,naive] [--map N] [--zoom TOKENS]

For each variant, `baton run` starts a runner and the TUI in tmux; 16 agents stream 100 tokens/s each
for 10 s. Measured while they stream:

- UI event-loop lag (p50/p95/p99/max): an in-app probe (`BATON_TUI_PROBE`) sleeps 10 ms at a time and
  records how late it wakes;
- CPU of runner + viewer, from /proc/<pid>/stat (utime + stime), as cores used over the stream, and the
  viewer's share of one core;
- keystroke-to-screen: `j` (focus the next agent) sent with tmux send-keys `--keys` times, spread over
  the stream, then capture-pane polled until the focus view shows the new agent (includes tmux's own
  latency);
- every token shown by the end: each pane's text equals its call's final text (a pane off the grid's
  window: the buffer it is drawn from when shown);
- and, separately, the time from starting bare `baton` to the Home screen's first frame (≤ 1.0 s).

`--map N` streams a map of N items at 8 concurrent calls instead (each item's share of `--seconds`);
`--zoom TOKENS` adds a run whose 3 agents each write a Markdown answer of about TOKENS tokens, then, once
it is over, times pane switches (`j`, the focus view shows the next agent's finished output) and zoom
toggles (`z`). `--busy` keeps one other core busy while each run streams (a spinning process).

Variants: `coalesced` is baton (per-pane buffers, one 25 Hz frame timer, visible panes only);
`naive` writes every token into a Textual `Log` as it arrives (the reference the design warns about).
Targets: lag p99 ≤ 50 ms, CPU ≤ 1 core of 2, keystroke p95 ≤ 50 ms; with a 200-item map the viewer
≤ 25% of a core; zoom and pane switch ≤ 50 ms. Numbers on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BATON = str(Path(sys.executable).parent / "baton")
TICKS = os.sysconf("SC_CLK_TCK")
POLL_S = 0.004
"""Between two captures of the screen while a key is timed (polling flat out kept a core busy)."""

sys.path.insert(0, str(ROOT))
from tests.helpers import fan_out  # noqa: E402


class Tmux:
    """A private tmux server running one command."""

    def __init__(self, env: dict[str, str], width: int, height: int) -> None:
        self.socket = f"baton-bench-{uuid.uuid4().hex[:8]}"
        self.env = env
        self.size = (str(width), str(height))

    def run(self, *args: str) -> str:
        out = subprocess.run(["tmux", "-L", self.socket, *args], env=self.env, capture_output=True, text=True)
        return out.stdout

    def start(self, line: str) -> None:
        self.run("new-session", "-d", "-s", "b", "-x", self.size[0], "-y", self.size[1], line)
        self.run("set-option", "-s", "escape-time", "0")

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "b")

    def key(self, key: str) -> None:
        self.run("send-keys", "-t", "b", key)

    def pane_pid(self) -> int:
        text = self.run("display-message", "-p", "-t", "b", "#{pane_pid}").strip()
        return int(text) if text else 0

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process, in seconds (None once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


RUNNERS = (b"baton.sessions.runner_main", b"baton.sessions.host_main")


def runner_pid(db: Path) -> int:
    """The process running the bench's session (a runner, or the runner host `baton run` started)."""
    mine = str(db).encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            line = cmdline(int(entry.name))
            if any(name in line for name in RUNNERS) and mine in line:
                return int(entry.name)
    return 0


def query(db: Path, sql: str) -> list[tuple[object, ...]]:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return list(conn.execute(sql))
    except sqlite3.Error:
        return []


def focused(screen: str) -> str:
    """The step in the focus view's title (the second row of the Run screen)."""
    rows = screen.splitlines()
    match = re.search(r"╭─ (fan/a\d+|each\[\d+\]\S*)", rows[1]) if len(rows) > 1 else None
    return match.group(1) if match else ""


def zoomed(screen: str) -> bool:
    """The focus view fills the screen (the step tree is hidden)."""
    rows = screen.splitlines()
    return len(rows) > 1 and "─ steps ─" not in rows[1]


def timed_key(term: Tmux, key: str, changed: Callable[[str], bool], timeout: float = 2.0) -> float | None:
    """Milliseconds from sending `key` until `changed(screen)` holds (None if it never did)."""
    sent = time.monotonic()
    term.key(key)
    while time.monotonic() - sent < timeout:
        if changed(term.screen()):
            return (time.monotonic() - sent) * 1000
        time.sleep(POLL_S)
    return None


def map_flow(items: int, tokens_per_s: float, tokens: int, concurrency: int = 8) -> str:
    """A map of `items` agents, `concurrency` calls at once, each streaming `tokens` tokens."""
    return f"""
name: big-map
state:
  files: {{type: "list[str]", default: {json.dumps([f"f{i:03d}.py" for i in range(items)])}}}
  notes: {{type: "list[str]", reducer: append}}
models:
  fast: {{model: mock/fast, mock: {{tokens_per_s: {tokens_per_s}, min_tokens: {tokens}, max_tokens: {tokens}}}}}
defaults:
  concurrency: {concurrency}
  max_tokens: {tokens + 100}
steps:
  - id: each
    kind: map
    over: files
    as: file
    max_items: {items}
    step: {{id: review, kind: agent, model: fast, writes: [notes], prompt: "Review {{file}}"}}
"""


class Busy:
    """One process spinning on a core for as long as it is open (the loaded measurement)."""

    def __init__(self, on: bool) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", "while 1: pass"]) if on else None

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


@dataclass
class Result:
    """What one variant measured."""

    variant: str
    wall_s: float = 0.0
    runner_cpu_s: float = 0.0
    viewer_cpu_s: float = 0.0
    lag_ms: list[float] = field(default_factory=list)
    key_tmux_ms: list[float] = field(default_factory=list)
    key_at: list[float] = field(default_factory=list)
    """When each timed key was sent (seconds into the stream)."""
    missed_keys: int = 0
    switch_ms: list[float] = field(default_factory=list)
    zoom_ms: list[float] = field(default_factory=list)
    panes_complete: int = 0
    panes: int = 0
    expected_panes: int = 0
    live_chars: int = 0
    final_chars: int = 0
    status: str = ""
    spikes: list[tuple[float, float]] = field(default_factory=list)
    gc: list[tuple[float, int, float, float]] = field(default_factory=list)

    @property
    def cores(self) -> float:
        return (self.runner_cpu_s + self.viewer_cpu_s) / self.wall_s if self.wall_s else float("nan")

    @property
    def viewer_share(self) -> float:
        return self.viewer_cpu_s / self.wall_s if self.wall_s else float("nan")


@dataclass
class Plan:
    """What one measurement runs: the flow, how many panes it makes, and what is probed."""

    name: str
    flow: str
    panes: int
    seconds: float
    keys: int
    zoom: int = 0
    """Pane switches and zoom toggles timed once the session is over (0: none)."""


def fan_out_plan(agents: int, tps: float, seconds: float, keys: int) -> Plan:
    tokens = int(tps * seconds)
    flow = fan_out(agents, tokens_per_s=tps, tokens=tokens, max_tokens=tokens + 100)
    return Plan(f"{agents} agents", flow, agents, seconds, keys)


def map_plan(items: int, tps: float, seconds: float, keys: int, concurrency: int = 8) -> Plan:
    tokens = max(10, int(tps * seconds * concurrency / items))
    return Plan(f"map of {items}", map_flow(items, tps, tokens, concurrency), items, seconds, keys)


def zoom_plan(tokens: int, probes: int) -> Plan:
    flow = fan_out(3, tokens_per_s=0, tokens=tokens, max_tokens=tokens + 100)
    return Plan(f"zoom {tokens:,} tok", flow, 3, 0.0, 0, zoom=probes)


def measure(variant: str, plan: Plan, busy: bool) -> Result:
    """Run one variant in its own temporary home and tmux server."""
    result = Result(variant, expected_panes=plan.panes)
    home = Path(tempfile.mkdtemp(prefix="baton-bench-"))
    db = home / "baton.db"
    probe = home / "probe.json"
    flow_file = home / "bench.yaml"
    flow_file.write_text(plan.flow)
    env = dict(os.environ)
    env.update(
        XDG_DATA_HOME=str(home / "data"),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_STATE_HOME=str(home / "state"),
        BATON_DB=str(db),
        BATON_TUI_PROBE=str(probe),
        TERM="xterm-256color",
        PYTHONPATH=str(ROOT),
    )
    env.pop("BATON_TUI_NAIVE", None)
    if variant == "naive":
        env["BATON_TUI_NAIVE"] = "1"
    term = Tmux(env, 220, 62)
    spinner = Busy(busy)
    try:
        term.start(f"cd {ROOT} && {BATON} run {flow_file}; echo $? > {home / 'exit'}")
        deadline = time.monotonic() + 120
        runner = viewer = 0
        while time.monotonic() < deadline and not (runner and viewer):
            runner = runner or runner_pid(db)
            shell = term.pane_pid()
            viewer = viewer or next((p for p in children(shell) if b"baton" in cmdline(p)), 0) if shell else 0
            time.sleep(0.05)
        if not (runner and viewer):
            raise SystemExit(f"{variant}: baton did not start; screen:\n{term.screen()}")
        first_calls = min(plan.panes, 8) if plan.name.startswith("map") else plan.panes
        while time.monotonic() < deadline:
            started = query(db, "SELECT COUNT(*) FROM events WHERE kind = 'LLMCallStarted'")
            if started and int(started[0][0]) >= first_calls:  # type: ignore[call-overload]
                break
            time.sleep(0.02)
        t0 = time.monotonic()
        cpu0 = {runner: cpu_seconds(runner) or 0.0, viewer: cpu_seconds(viewer) or 0.0}
        last = dict(cpu0)
        every = max(0.03, plan.seconds * 0.9 / plan.keys) if plan.keys else 0.0
        next_key = t0 + min(0.2, every)
        next_check = t0
        done = False
        while time.monotonic() < t0 + plan.seconds * 4 + 60:
            now = time.monotonic()
            if now >= next_check:
                next_check = now + 0.2
                for pid in (runner, viewer):
                    value = cpu_seconds(pid)
                    if value is not None:
                        last[pid] = value
                ended = query(db, "SELECT COUNT(*) FROM events WHERE kind IN ('SessionCompleted', 'SessionFailed')")
                if ended and int(ended[0][0]):  # type: ignore[call-overload]
                    done = True
                    break
            if len(result.key_tmux_ms) + result.missed_keys < plan.keys and now >= next_key:
                before = focused(term.screen())
                took = timed_key(term, "j", lambda screen, was=before: focused(screen) != was)
                if took is None:
                    result.missed_keys += 1
                else:
                    result.key_tmux_ms.append(took)
                    result.key_at.append(now - t0)
                next_key = max(now + every, time.monotonic() + 0.01)
                continue
            time.sleep(0.01)
        t1 = time.monotonic()
        spinner.close()
        result.wall_s = t1 - t0
        result.runner_cpu_s = last[runner] - cpu0[runner]
        result.viewer_cpu_s = last[viewer] - cpu0[viewer]
        if not done:
            print(f"{variant}: the session did not end in time", file=sys.stderr)
        time.sleep(1.0)
        if plan.zoom:
            zoom_probes(term, plan.zoom, result)
        term.key("q")
        for _ in range(200):
            if probe.exists():
                break
            time.sleep(0.05)
        data = json.loads(probe.read_text()) if probe.exists() else {}
        result.lag_ms = [lag for t, lag in data.get("lag_ms", []) if t0 <= t <= t1]
        result.gc = [
            (round(t - t0, 2), g, ms, cpu) for t, g, ms, *more in data.get("gc_ms", []) if t0 <= t <= t1
            for cpu in (more[0] if more else ms,)
        ]
        result.spikes = [(round(t - t0, 2), lag) for t, lag in data.get("lag_ms", []) if t0 <= t <= t1 and lag > 40]
        panes = data.get("panes", {})
        result.panes = len(panes)
        result.panes_complete = sum(1 for p in panes.values() if p.get("complete"))
        result.live_chars = sum(int(p.get("live_chars") or 0) for p in panes.values())
        result.final_chars = sum(int(p.get("final_chars") or 0) for p in panes.values())
        result.status = str(data.get("status", ""))
    finally:
        spinner.close()
        term.close()
        pid = runner_pid(db)
        if pid:
            os.kill(pid, 9)
        shutil.rmtree(home, ignore_errors=True)
    return result


def zoom_probes(term: Tmux, count: int, result: Result) -> None:
    """Once the session is over: `j` (the next agent's finished output) and `z` (zoom in or out), in turn."""
    for _ in range(count):
        before = focused(term.screen())
        took = timed_key(term, "j", lambda screen, was=before: focused(screen) not in ("", was))
        if took is not None:
            result.switch_ms.append(took)
        time.sleep(0.1)
        was_zoomed = zoomed(term.screen())
        took = timed_key(term, "z", lambda screen, was=was_zoomed: zoomed(screen) != was)
        if took is not None:
            result.zoom_ms.append(took)
        time.sleep(0.1)


def first_frame(runs: int) -> list[float]:
    """Seconds from starting bare `baton` (Home) in tmux to its first frame on screen."""
    out: list[float] = []
    for _ in range(runs):
        home = Path(tempfile.mkdtemp(prefix="baton-bench-"))
        env = dict(os.environ)
        env.update(
            XDG_DATA_HOME=str(home / "data"),
            XDG_CONFIG_HOME=str(home / "config"),
            XDG_STATE_HOME=str(home / "state"),
            BATON_DB=str(home / "baton.db"),
            TERM="xterm-256color",
        )
        term = Tmux(env, 160, 45)
        try:
            started = time.monotonic()
            term.start(f"cd {ROOT} && {BATON}")
            while time.monotonic() - started < 30:
                if "workflows" in term.screen():
                    out.append(time.monotonic() - started)
                    break
                time.sleep(0.01)
            term.key("q")
        finally:
            term.close()
            shutil.rmtree(home, ignore_errors=True)
    return out


def spread(values: list[float]) -> str:
    """`p50/p95/max ms` (n)."""
    if not values:
        return "not measured"
    return f"{pct(values, 50):.0f}/{pct(values, 95):.0f}/{max(values):.0f} ms (n={len(values)})"


def report(results: list[Result], plan: Plan, busy: bool) -> None:
    """Print the numbers and the targets."""
    load = "one other core busy" if busy else "quiet"
    print(f"\n{plan.name}, runner + TUI in tmux, {load}")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} (numbers are noisy when shared)\n")
    head = (
        f"{'variant':10} {'lag p50':>8} {'p95':>7} {'p99':>7} {'max':>7}  {'runner':>7} {'viewer':>7} {'cores':>6}"
        f" {'viewer%':>7}  {'key p50/p95/max':>24}  {'shown':>9}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        print(
            f"{r.variant:10} {pct(r.lag_ms, 50):6.1f}ms {pct(r.lag_ms, 95):5.1f}ms {pct(r.lag_ms, 99):5.1f}ms "
            f"{max(r.lag_ms, default=float('nan')):5.0f}ms  {r.runner_cpu_s:6.2f}s {r.viewer_cpu_s:6.2f}s "
            f"{r.cores:6.2f} {r.viewer_share * 100:6.0f}%  {spread(r.key_tmux_ms):>24}  "
            f"{r.panes_complete:>4}/{r.panes:<4}"
        )
    print()
    for r in results:
        verdict = {
            "lag p99 ≤ 50 ms": pct(r.lag_ms, 99) <= 50,
            "CPU ≤ 1 core": r.cores <= 1.0,
            "every token shown": r.panes == r.expected_panes and r.panes_complete == r.expected_panes,
        }
        if plan.keys:
            verdict["keystroke p95 ≤ 50 ms"] = pct(r.key_tmux_ms, 95) <= 50 and not r.missed_keys
        if plan.name.startswith("map"):
            verdict["viewer ≤ 25% of a core"] = r.viewer_share <= 0.25
        if plan.zoom:
            verdict["pane switch ≤ 50 ms"] = max(r.switch_ms, default=float("inf")) <= 50
            verdict["zoom ≤ 50 ms"] = max(r.zoom_ms, default=float("inf")) <= 50
        marks = "  ".join(f"{name}: {'yes' if ok else 'NO'}" for name, ok in verdict.items())
        print(f"{r.variant:10} {marks}")
        print(
            f"{'':10} session {r.status or '?'}, {r.wall_s:.1f} s streaming, {len(r.lag_ms)} lag samples, "
            f"{r.live_chars:,} of {r.final_chars:,} characters arrived live, "
            f"lag mean {statistics.fmean(r.lag_ms) if r.lag_ms else float('nan'):.1f} ms"
        )
        if r.missed_keys:
            print(f"{'':10} {r.missed_keys} keystrokes never showed within 2 s")
        if r.key_tmux_ms:
            slow = sorted(zip(r.key_tmux_ms, r.key_at, strict=True), reverse=True)[:5]
            print(f"{'':10} slowest keys: " + ", ".join(f"{ms:.0f} ms at +{t:.1f}s" for ms, t in slow))
        if plan.zoom:
            print(f"{'':10} pane switch p50/p95/max {spread(r.switch_ms)}; zoom {spread(r.zoom_ms)}")
        if r.spikes:
            shown = ", ".join(f"{lag:.0f} ms at +{t:.1f}s" for t, lag in r.spikes[:60])
            print(f"{'':10} lag over 40 ms: {len(r.spikes)} samples: {shown}{' …' if len(r.spikes) > 60 else ''}")
        if r.gc:
            slow = [g for g in r.gc if g[2] >= 10]
            total = sum(g[2] for g in r.gc)
            cpu = sum(g[3] for g in r.gc)
            shown = ", ".join(f"gen{g} {ms:.0f} ms ({c:.0f} CPU) at +{t:.1f}s" for t, g, ms, c in slow[:20])
            print(
                f"{'':10} garbage collection: {len(r.gc)} pauses ≥ 1 ms, {total:.0f} ms in all ({cpu:.0f} ms CPU); "
                f"≥ 10 ms: {shown}"
            )
    if not plan.zoom and not plan.name.startswith("map"):
        print("\nreference (naive per-token writes into 8 Log panes, measured before): ~100% of a core, p95 lag 150 ms")


def report_first_frame(times: list[float]) -> None:
    """Print the start-up numbers."""
    if not times:
        print("\nfirst frame of Home: not measured")
        return
    ok = "yes" if max(times) <= 1.0 else "NO"
    print(
        f"\nfirst frame of Home (bare `baton`, tmux): median {statistics.median(times):.2f} s, "
        f"max {max(times):.2f} s over {len(times)} starts — target ≤ 1.0 s: {ok}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=16)
    parser.add_argument("--tps", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--keys", type=int, default=100, help="keystroke probes spread over the stream")
    parser.add_argument("--variants", default="coalesced,naive")
    parser.add_argument("--map", type=int, default=0, help="stream a map of this many items instead")
    parser.add_argument("--zoom", type=int, default=0, help="also time pane switches and zoom on outputs this long")
    parser.add_argument("--zoom-probes", type=int, default=20)
    parser.add_argument("--busy", action="store_true", help="keep one other core busy while each run streams")
    parser.add_argument("--starts", type=int, default=5, help="first-frame measurements of the Home screen")
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        raise SystemExit("tmux is needed (apt-get install tmux)")
    starts = first_frame(args.starts)
    variants = [v for v in args.variants.split(",") if v]
    if args.map:
        plans = [map_plan(args.map, args.tps, args.seconds, args.keys)]
    elif args.agents:
        plans = [fan_out_plan(args.agents, args.tps, args.seconds, args.keys)]
    else:
        plans = []
    if args.zoom:
        plans.append(zoom_plan(args.zoom, args.zoom_probes))
    for plan in plans:
        results = [measure(v, plan, args.busy) for v in variants]
        if results:
            report(results, plan, args.busy)
    report_first_frame(starts)


if __name__ == "__main__":
    main()
