"""Lightning's CSVLogger, made to survive an interrupted and resumed run without ever losing a logged row.

Lightning's writer deletes an existing ``metrics.csv`` when it starts, buffers rows for 100 steps, and rewrites
the file in place (truncate, then write) whenever a new metric name appears: a process killed during that
rewrite leaves the file empty or half-written. Here ``metrics.csv`` is only ever appended to (flushed and
fsynced), or, where the header must change (a new metric) or rows must go, replaced whole with
seqkit.safe_files.atomic_open: a reader, or a crash, sees the old file or the new one. Rows are flushed at
every checkpoint (so the file holds at least what the checkpoint has seen); a resumed run keeps the file, and
its first write drops the rows the killed process logged after the checkpoint it resumes from (steps from the
first new row on), which the resumed run logs again.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Dict, List

from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.loggers.logger import rank_zero_experiment

from seqkit.safe_files import atomic_open


class AppendOnlyWriter(ExperimentWriter):
    """Lightning's metrics writer, except that it keeps an existing ``metrics.csv`` and never truncates it."""

    def __init__(self, log_dir: str) -> None:
        super().__init__(log_dir)
        path = Path(self.metrics_file_path)
        self._resumed = path.is_file()
        if self._resumed:
            self.metrics_keys = sorted(_header(path))

    def _check_log_dir_exists(self) -> None:
        """Lightning deletes metrics.csv here; a resumed run keeps it."""

    def save(self) -> None:
        if not self.metrics:
            return
        new_keys = self._record_new_keys()
        path = Path(self.metrics_file_path)
        if path.is_file() and not new_keys and not self._resumed and _ends_a_line(path):
            self._append(path)
        else:
            self._replace(path)
        self._resumed = False
        self.metrics = []

    def _append(self, path: Path) -> None:
        with open(path, "a", newline="", encoding="utf-8") as f:
            csv.DictWriter(f, fieldnames=self.metrics_keys).writerows(self.metrics)
            f.flush()
            os.fsync(f.fileno())

    def _replace(self, path: Path) -> None:
        """The kept rows and the new ones under the full header, as one new file renamed onto the old."""
        kept = _complete_rows(path) if path.is_file() else []
        if self._resumed:  # the killed process's rows from the first step logged again on
            first_new = min(row["step"] for row in self.metrics)
            kept = [r for r in kept if r.get("step") and int(float(r["step"])) < first_new]
        with atomic_open(path, newline="") as f:
            out = csv.DictWriter(f, fieldnames=self.metrics_keys)
            out.writeheader()
            out.writerows(kept + self.metrics)


def _header(path: Path) -> List[str]:
    with open(path, newline="", encoding="utf-8") as f:
        return next(csv.reader(f), [])


def _ends_a_line(path: Path) -> bool:
    """False when the last row was cut short (a process killed while appending): the next write replaces it."""
    with open(path, "rb") as f:
        if f.seek(0, os.SEEK_END) == 0:
            return True
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def _complete_rows(path: Path) -> List[Dict[str, str]]:
    """The file's rows, without a last row cut short."""
    text = path.read_text(encoding="utf-8")
    if not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    return list(csv.DictReader(io.StringIO(text, newline="")))


class ResumableCSVLogger(CSVLogger):
    """Same arguments as ``pytorch_lightning.loggers.CSVLogger``."""

    @property
    @rank_zero_experiment
    def experiment(self) -> AppendOnlyWriter:  # DDP: only rank 0 writes (the others get a no-op)
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = AppendOnlyWriter(log_dir=self.log_dir)
        return self._experiment

    def after_save_checkpoint(self, checkpoint_callback) -> None:
        self.save()
