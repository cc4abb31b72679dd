"""The live display of a training run (rich): progress to its limit and the numbers that matter."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


@dataclass
class Snapshot:
    """What the display shows; the trainer fills it in."""

    title: str
    max_frames: int | None  # the bar shows progress to max_frames, or else to max_minutes
    max_minutes: float | None = None
    frames: int = 0
    updates: int = 0
    episodes: int = 0
    fps: float = 0.0
    elapsed: float = 0.0
    eta: float | None = None
    recent_return: float | None = None
    last_eval: float | None = None
    best_eval: float | None = None
    status: str = "starting workers"
    workers: list[str] = field(default_factory=list)


def render(s: Snapshot) -> Panel:
    stats = Table.grid(padding=(0, 2))
    for _ in range(3):
        stats.add_column(justify="right", style="bold")
        stats.add_column()
    stats.add_row(f"{s.frames:,}", "frames", f"{s.fps:,.0f}", "frames/s", f"{s.updates:,}", "updates")
    stats.add_row(
        f"{s.episodes:,}", "episodes", number(s.recent_return), "training return", number(s.last_eval), "last eval"
    )
    stats.add_row(number(s.best_eval), "best eval", clock(s.elapsed), "elapsed", clock(s.eta), "ETA")
    if s.max_frames is not None:
        bar = ProgressBar(total=s.max_frames, completed=min(s.frames, s.max_frames))
    elif s.max_minutes is not None:
        bar = ProgressBar(total=s.max_minutes * 60, completed=min(s.elapsed, s.max_minutes * 60))
    else:
        bar = ProgressBar(total=None)  # no limit: a pulsing bar, until Ctrl-C
    return Panel(Group(bar, stats), title=s.title, subtitle=s.status, title_align="left")


class Display:
    """A rich Live panel, refreshed four times a second; does nothing when disabled."""

    def __init__(self, snapshot: Snapshot, enabled: bool):
        self.snapshot = snapshot
        self._live = (
            Live(get_renderable=lambda: render(self.snapshot), refresh_per_second=4, transient=False)
            if enabled
            else None
        )

    def __enter__(self):
        if self._live is not None:
            self._live.start()
        return self

    def __exit__(self, *exc):
        if self._live is not None:
            self._live.stop()
        return False
