"""Data notices (IOB1 converted, vocabulary coverage, unknown prompt words) as one stderr line each, so stdout
stays machine-readable; importable without Lightning (the generation readers use it)."""

import sys


def log(message: str) -> None:
    print(f"[seqkit] {message}", file=sys.stderr, flush=True)
