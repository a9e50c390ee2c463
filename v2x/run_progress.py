"""Progress bars of ``v2x run`` (rich): the stages starting (a first run compiles its kernels)
against an estimate, the run's clock and frames published, then the ingest catching up.  On a
console that is not a terminal only the status lines are printed, and a start-up line every 10 s."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from v2x.run import RunProgress


class RunProgressBars:
    """``with RunProgressBars(console) as bars: run_scenario(..., status=bars.status, progress=bars.update)``."""

    def __init__(self, console: Console):
        self.console = console
        self.bars = Progress(
            TextColumn("{task.description:<10}"),
            BarColumn(complete_style="cyan", finished_style="green"),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
            disable=not console.is_terminal,
        )
        self.clock: TaskID | None = None
        self.ingest: TaskID | None = None
        self.startup: TaskID | None = None
        self._said_at = 0.0  # the start-up seconds last told on a console that is not a terminal

    def __enter__(self) -> RunProgressBars:
        self.bars.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.bars.__exit__(kind, value, tb)

    def status(self, message: str) -> None:
        self.console.print(f"[dim]{message}[/]")

    def _starting(self, p: RunProgress) -> None:
        """The stages loading or compiling their kernels: seconds so far against the estimate."""
        detail = f"{p.elapsed_s:3.0f} s of about {p.duration_s:.0f} s"
        if not self.console.is_terminal:
            if p.elapsed_s - self._said_at >= 10:  # a line every 10 s in a log
                self._said_at = p.elapsed_s
                self.console.print(f"[dim]  still starting: {detail}[/]")
            return
        if self.startup is None:
            self.startup = self.bars.add_task("start-up", total=p.duration_s, detail="")
        # the bar stops short of the end when the estimate runs out: it ends when the stages are ready
        self.bars.update(self.startup, completed=min(p.elapsed_s, p.duration_s * 0.98), detail=detail)

    def update(self, p: RunProgress) -> None:
        if p.phase == "starting":
            self._starting(p)
            return
        if self.startup is not None:
            task = self.bars.tasks[self.startup]
            self.bars.update(self.startup, completed=task.total, detail="ready")
            self.startup = None
        if self.clock is None:
            self.clock = self.bars.add_task("devices", total=p.duration_s, detail="")
            self.ingest = self.bars.add_task("ingest", total=1, detail="")
        assert self.ingest is not None
        if p.phase == "running":
            rate = p.published / p.elapsed_s if p.elapsed_s > 0 else 0.0
            # In real time the run's clock; at max pace the share of the run's frames sent.
            done = p.elapsed_s if p.pace == "realtime" else p.published / max(p.nominal_per_s, 1e-9) if p.nominal_per_s else 0.0
            self.bars.update(
                self.clock,
                completed=min(done, p.duration_s),
                detail=f"{p.elapsed_s:5.1f} s  published {p.published:,} ({rate:,.0f}/s)",
            )
        else:
            self.bars.update(self.clock, completed=p.duration_s)
        self.bars.update(
            self.ingest,
            total=max(p.published, 1),
            completed=min(p.received, max(p.published, 1)),
            detail=f"received {p.received:,}  stored {p.stored:,}" + ("  (draining)" if p.phase == "draining" else ""),
        )
