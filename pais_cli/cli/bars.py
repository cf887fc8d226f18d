"""Progress columns that print sizes as the summaries do: IEC units through pais_cli.units."""

from __future__ import annotations

from rich.progress import ProgressColumn, Task
from rich.text import Text

from ..units import format_size


class IecSizeColumn(ProgressColumn):
    """`1.5 MiB/2.0 GiB`, or the bytes so far while the total is unknown."""

    def render(self, task: Task) -> Text:
        done = format_size(int(task.completed))
        if task.total is None:
            return Text(done, style="progress.download")
        return Text(f"{done}/{format_size(int(task.total))}", style="progress.download")


class IecSpeedColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("?" if speed is None else f"{format_size(int(speed))}/s", style="progress.data.speed")
