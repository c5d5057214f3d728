"""Copy what a run prints (stdout and stderr) into its run directory's ``train.log``.

Lightning attaches its own console handler to its logger, so Hydra's log file never sees its messages,
and seqkit's notices are plain prints: copying the two streams, and adding a handler for Lightning's
loggers, keeps the log file the same as the console.
Progress bars redraw a line with carriage returns: the file keeps only each line's final state, without
terminal control sequences.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from pathlib import Path
from typing import IO, Iterator

from seqkit.app.cli import LIBRARY_LOGGERS as _LIBRARY_LOGGERS

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # terminal control sequences (progress bars move the cursor)


class _Tee:
    """A text stream that writes to ``stream`` and, line by line, to ``log``."""

    def __init__(self, stream: IO[str], log: IO[str]):
        self._stream, self._log, self._pending = stream, log, ""

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._log.write(_ANSI.sub("", line.rsplit("\r", 1)[-1]) + "\n")
        self._log.flush()
        return self._stream.write(text)

    def close_line(self) -> None:
        final = _ANSI.sub("", self._pending.rsplit("\r", 1)[-1])
        if final.strip():
            self._log.write(final + "\n")
        self._pending = ""

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str):  # isatty, fileno, encoding, ... as the real stream
        return getattr(self._stream, name)


@contextlib.contextmanager
def tee_console(path: Path) -> Iterator[None]:
    """Within the block, everything written to sys.stdout / sys.stderr, and Lightning's log messages, is also
    appended to ``path``; an exception that ends the block is noted there too."""
    with open(path, "a", encoding="utf-8") as log:
        saved = sys.stdout, sys.stderr
        out, err = _Tee(sys.stdout, log), _Tee(sys.stderr, log)
        # Lightning's console handler holds the sys.stderr of import time, so the tee never sees its messages
        handler = logging.StreamHandler(log)
        handler.setFormatter(logging.Formatter("%(message)s"))
        loggers = [logging.getLogger(name) for name in _LIBRARY_LOGGERS]
        for logger in loggers:
            logger.addHandler(handler)
        sys.stdout, sys.stderr = out, err
        try:
            yield
        except BaseException as e:
            err.close_line()
            log.write(f"[seqkit] stopped: {type(e).__name__}: {e}\n")
            raise
        finally:
            sys.stdout, sys.stderr = saved
            for logger in loggers:
                logger.removeHandler(handler)
            out.close_line()
            err.close_line()
