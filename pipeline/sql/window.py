"""A test window: the frames received from one instant to another, ``2026-12-01T16:00+08:00/2026-12-01T17:00+08:00``
(ISO 8601 time interval, start/end; the end excluded).

In a destination on object storage (:mod:`pipeline.ingest.bucket_store`) telemetry and content
are partitioned by the hour (UTC) frames reached the cluster: a window selects the files of the
hours it touches before anything is read, and the views keep the rows inside it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

HOUR_PATH = re.compile(r"(?:^|/)day=(\d{4}-\d{2}-\d{2})/hour=(\d{2})/")


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @classmethod
    def parse(cls, text: str) -> Window:
        """``START/END``, each an ISO 8601 date and time with its offset (``Z``, ``+08:00``);
        ValueError saying what is wrong."""
        first, sep, last = text.partition("/")
        if not sep:
            raise ValueError(f"{text!r}: expected START/END, e.g. 2026-12-01T16:00+08:00/2026-12-01T17:00+08:00")
        ends = []
        for part in (first, last):
            try:
                at = datetime.fromisoformat(part.strip())
            except ValueError:
                raise ValueError(f"{part!r} is not an ISO 8601 date and time") from None
            if at.tzinfo is None:
                raise ValueError(f"{part!r}: give its offset (Z for UTC, +08:00 for the zone's time)")
            ends.append(at.astimezone(UTC))
        if ends[1] <= ends[0]:
            raise ValueError(f"{text!r}: the end must come after the start")
        return cls(ends[0], ends[1])

    def __str__(self) -> str:
        return f"{self.start.isoformat()}/{self.end.isoformat()}"

    def hours(self) -> set[tuple[str, str]]:
        """(day, hour) of every UTC hour the window touches, as the partitions name them."""
        out = set()
        at = self.start.replace(minute=0, second=0, microsecond=0)
        while at < self.end:
            out.add((f"{at:%Y-%m-%d}", f"{at:%H}"))
            at += timedelta(hours=1)
        return out

    def holds_file(self, relative: str) -> bool:
        """Whether a file of a destination may hold rows of the window (a file not partitioned by hour may)."""
        match = HOUR_PATH.search(relative)
        return match is None or (match.group(1), match.group(2)) in self.hours()

    def sql(self, column: str = "received_at") -> str:
        """The SQL condition that ``column`` (TIMESTAMP WITH TIME ZONE) is inside the window."""
        return f"({column} >= TIMESTAMPTZ '{self.start.isoformat()}' AND {column} < TIMESTAMPTZ '{self.end.isoformat()}')"
