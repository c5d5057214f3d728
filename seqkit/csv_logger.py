"""Lightning's CSVLogger, made to survive an interrupted and resumed run.

Lightning's writer deletes an existing ``metrics.csv`` when it starts, and buffers rows for 100 steps: a run
killed and resumed in the same directory would lose everything logged before. This one flushes at every
checkpoint (so the file holds at least what the checkpoint has seen), keeps the file when it starts, and on
its first write drops the rows the killed process logged after the checkpoint it resumes from (steps from
the first new row on), which the resumed run logs again.
"""
from __future__ import annotations

import csv
from pathlib import Path

from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.utilities import rank_zero_only


class ResumableCSVLogger(CSVLogger):
    """Same arguments as ``pytorch_lightning.loggers.CSVLogger``."""

    _kept_rows = False

    @property
    def experiment(self):
        if self._experiment is not None or rank_zero_only.rank != 0:  # DDP: only rank 0 writes (others: a no-op)
            return super().experiment
        path = Path(self.log_dir) / "metrics.csv"
        kept = path.read_bytes() if path.is_file() else None
        writer = super().experiment  # deletes metrics.csv
        if kept is not None:
            path.write_bytes(kept)
            with open(path, newline="") as f:
                writer.metrics_keys = sorted(next(csv.reader(f), []))
            self._kept_rows = True
        return writer

    def after_save_checkpoint(self, checkpoint_callback) -> None:
        self.save()

    @rank_zero_only
    def save(self) -> None:
        writer = self.experiment
        if self._kept_rows and writer.metrics:
            self._kept_rows = False
            first_new = min(row["step"] for row in writer.metrics)
            path = Path(writer.metrics_file_path)
            with open(path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if r.get("step") and int(float(r["step"])) < first_new]
            with open(path, "w", newline="") as f:
                out = csv.DictWriter(f, fieldnames=writer.metrics_keys)
                out.writeheader()
                out.writerows(rows)
        super().save()
