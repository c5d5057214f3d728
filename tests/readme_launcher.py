"""Run ``python scripts/<name>.py ...`` without paying the library imports again for every README command.

Importing torch, Lightning (with torchmetrics, scipy, torch._dynamo), Hydra and matplotlib costs seconds of
CPU before a script does anything, and the README test runs about seventy commands. So the test starts one
*preloader* process that imports them once and then waits on a Unix socket; the README commands still run
through ``bash`` exactly as written, but the ``python`` they find first on ``PATH`` is a small launcher that
hands its arguments, working directory, environment and its stdin/stdout/stderr file descriptors to the
preloader. The preloader forks: the child takes over those descriptors, directory and environment, runs the
script as ``__main__`` (as ``python script.py`` would: ``sys.argv``, ``sys.path[0]``, exit code, uncaught
exceptions printed to stderr, ``atexit`` handlers) and reports its exit code back to the launcher, which
exits with it. Anything that is not ``python <file>.py ...`` is passed to the real interpreter unchanged.
The installed command is launched the same way: ``seqkit ...`` runs as ``python -m seqkit ...`` would.

Forking is safe here because the preloader only imports: with ``OMP_NUM_THREADS=1`` no OpenMP thread pool
exists yet, and it has no other threads.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Optional

PRELOAD = ("torch", "pytorch_lightning", "torchmetrics", "hydra", "omegaconf", "matplotlib", "seqkit.app.train")

LAUNCHER = """#!{python} -S
# seqkit's README test: run `python <file>.py ...` (or `seqkit ...`: python -m seqkit ...) in a fork of the
# preloader (tests/readme_launcher.py)
import json, os, socket, sys
args = sys.argv[1:]
if os.path.basename(sys.argv[0]) == "seqkit":
    args = ["-m", "seqkit"] + args
elif not args or not args[0].endswith(".py") or not os.path.isfile(args[0]):
    os.execv({python!r}, [{python!r}] + args)
conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
conn.connect({address!r})
message = json.dumps({{"argv": args, "cwd": os.getcwd(), "env": dict(os.environ)}}).encode()
socket.send_fds(conn, [len(message).to_bytes(8, "big") + message], [0, 1, 2])
reply = b""
while True:
    chunk = conn.recv(64)
    if not chunk:
        break
    reply += chunk
sys.exit(int(reply) if reply.strip() else 1)
"""

SERVER = r"""
import atexit, importlib, json, os, runpy, signal, socket, sys, traceback
matplotlib_backend = os.environ.setdefault("MPLBACKEND", "Agg")
for name in sys.argv[2].split(","):
    importlib.import_module(name)
address = sys.argv[1]
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(address)
server.listen(64)
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
print("ready", flush=True)


def receive(conn):
    data, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
    size = int.from_bytes(data[:8], "big")
    while len(data) < size + 8:
        data += conn.recv(1 << 20)
    return json.loads(data[8:].decode()), fds


def run(conn):
    request, fds = receive(conn)
    for target, fd in zip((0, 1, 2), fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    argv = list(request["argv"])
    code = 0
    try:
        if argv[0] == "-m":  # python -m <module> ...: sys.argv[0] becomes the module's file, as python sets it
            sys.argv = argv[1:]
            sys.path[0] = os.getcwd()
            runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = argv
            sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))
            runpy.run_path(os.path.abspath(argv[0]), run_name="__main__")  # __file__ absolute, as python gives it
    except SystemExit as stop:
        if stop.code is None:
            code = 0
        elif isinstance(stop.code, int):
            code = stop.code
        else:
            print(stop.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    try:
        atexit._run_exitfuncs()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        conn.sendall(str(code).encode())
        conn.close()
        os._exit(code)


while True:
    conn, _ = server.accept()
    if os.fork() == 0:
        server.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the script's own subprocesses must be waitable
        run(conn)
    conn.close()
"""


class Preloader:
    """The preloader process and the folder holding the ``python`` launcher (put it first on ``PATH``)."""

    def __init__(self, folder: Path, env: dict):
        folder.mkdir(parents=True, exist_ok=True)
        self.bin = folder / "bin"
        self.bin.mkdir(exist_ok=True)
        address = str(folder / "preloader.sock")
        for name in ("python", "seqkit"):  # the same launcher: it looks at the name it was called by
            (self.bin / name).write_text(LAUNCHER.format(python=sys.executable, address=address))
            (self.bin / name).chmod(0o755)
        log = folder / "preloader.log"
        with open(log, "w") as errors:
            self.process: Optional[subprocess.Popen] = subprocess.Popen(
                [sys.executable, "-c", SERVER, address, ",".join(PRELOAD)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
            )
        if self.process.stdout.readline().strip() != "ready":
            self.process.kill()
            raise RuntimeError(f"the README preloader did not start:\n{log.read_text()}")

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None
