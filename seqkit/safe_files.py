"""Writing a user-named file without losing one: the one home for the rules every output of seqkit follows.

- An output is never a file this run reads (the input, the checkpoint, pretrained vectors): compared by identity
  (device and inode), so ``./x`` and ``x``, a symlink or a hard link to the same file are caught too.
- A regular file is written atomically: into a temporary file beside it, flushed and fsync'ed, then renamed over
  the target (os.replace), so a crash, a full disk or Ctrl-C leaves the previous file whole, never half of one.
  Devices and pipes (``/dev/null``, a FIFO) are written in place.
- An OSError a user can cause (a full disk, no permission, a directory in the way) is one line naming the path.

Lightning-free and Hydra-free: the fast prediction path imports it.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import os
import re
import secrets
import stat
from pathlib import Path
from typing import IO, Iterator, Mapping, Optional, Tuple, Type, Union

from seqkit.data.errors import DataError

PathLike = Union[str, Path]
Reads = Mapping[str, Optional[PathLike]]  # role ("input", "checkpoint", ...) -> a file this run reads

_NO_FSYNC = {errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP}  # a device or file system without fsync
_TEMP = re.compile(r"\..*\.[0-9a-f]{8}\.tmp(\.[^.]*)?")  # the names _temp_name gives
_READING: contextvars.ContextVar[Tuple[Tuple[str, str], ...]] = contextvars.ContextVar("seqkit_reading", default=())


def same_file(a: PathLike, b: PathLike) -> bool:
    """Whether two paths name the same existing file (os.stat identity); False when either does not exist."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def check_not_read(output: PathLike, reads: Reads = {}) -> None:
    """Refuse ``output`` when it is a file this run reads: one of ``reads`` or of an enclosing ``reading`` block."""
    for role, path in [*reads.items(), *_READING.get()]:
        if path is not None and str(path) != "-" and same_file(output, path):
            raise DataError(output, None, f"is the same file as the {role} {path}; choose another output")


@contextlib.contextmanager
def reading(reads: Reads) -> Iterator[None]:
    """Inside the block every atomic write (the output, plots) refuses the files of ``reads``."""
    token = _READING.set(_READING.get() + tuple((r, str(p)) for r, p in reads.items() if p is not None))
    try:
        yield
    finally:
        _READING.reset(token)


def write_error(path: PathLike, error: OSError) -> DataError:
    """An OSError while writing ``path`` -> ``path: cannot write the output: <reason>``."""
    return DataError(path, None, f"cannot write the output: {error.strerror or error}")


@contextlib.contextmanager
def atomic_path(target: PathLike, keep_on: Tuple[Type[BaseException], ...] = ()) -> Iterator[Path]:
    """A temporary path to write ``target``'s new contents to (a library's ``save(path)``); renamed onto
    ``target`` when the block ends. On an exception the temporary file goes and ``target`` stays as it was,
    except for the exception types ``keep_on``, on which what was written is published first. OSErrors without
    a file name (those of writing and renaming) come out as a DataError naming ``target``."""
    target = Path(target)
    with _named_errors(target):
        check_not_read(target)
        if _is_special(target):
            yield target  # a device or a pipe: nothing to rename, nothing to keep
            return
        real = Path(os.path.realpath(target))  # a symlink keeps pointing at the new file
        temp = _new_temp(real)
        if temp is None:
            yield target  # only the file itself is writable, not its folder: written in place
            return
        try:
            yield temp
        except keep_on:
            _publish(temp, real)
            raise
        except BaseException:
            _discard(temp)
            raise
        _publish(temp, real)


@contextlib.contextmanager
def atomic_open(
    target: PathLike,
    keep_on: Tuple[Type[BaseException], ...] = (),
    encoding: str = "utf-8",
    newline: Optional[str] = None,
) -> Iterator[IO[str]]:
    """A text stream onto ``target``, published atomically as ``atomic_path`` publishes (flushed and fsync'ed)."""
    with atomic_path(target, keep_on) as path:
        stream = open(path, "w", encoding=encoding, newline=newline)
        try:
            yield stream
        except keep_on:
            _close(stream)
            raise
        except BaseException:
            with contextlib.suppress(OSError):
                stream.close()
            raise
        _close(stream)


@contextlib.contextmanager
def _named_errors(target: Path) -> Iterator[None]:
    """OSErrors of writing (which name no file, or the temporary one) -> DataError naming ``target``."""
    try:
        yield
    except (BrokenPipeError, ConnectionResetError):  # a pipe closed by its reader: the scripts end quietly
        raise
    except OSError as e:
        if e.filename is not None and not _is_temp(e.filename) and str(e.filename) != str(target):
            raise  # about another file: reported with its own name
        raise write_error(target, e) from None


def _is_special(path: Path) -> bool:
    """An existing target that is not a regular file nor a directory (a device, a FIFO): written in place."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    return not stat.S_ISREG(mode)


def _temp_name(real: Path) -> Path:
    """``.<name>.<random>.tmp<suffix>`` beside the target: hidden, and with its extension (matplotlib reads it)."""
    return real.with_name(f".{real.stem}.{secrets.token_hex(4)}.tmp{real.suffix}")


def _is_temp(filename: PathLike) -> bool:
    return _TEMP.fullmatch(Path(os.fsdecode(filename)).name) is not None


def _new_temp(real: Path) -> Optional[Path]:
    """Create the temporary file (the umask's permissions, or the target's when it exists); None when the folder
    refuses it but the existing target itself is writable."""
    for _ in range(100):
        temp = _temp_name(real)
        try:
            os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        except PermissionError:
            if real.is_file() and os.access(real, os.W_OK):
                return None
            raise
        with contextlib.suppress(OSError):
            os.chmod(temp, stat.S_IMODE(os.stat(real).st_mode))
        return temp
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(real))


def _close(stream: IO[str]) -> None:
    """Flush and fsync before closing, so the rename publishes contents that are on the disk."""
    try:
        stream.flush()
        _fsync(stream.fileno())
    finally:
        stream.close()


def _fsync(fd: int) -> None:
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno not in _NO_FSYNC:
            raise


def _publish(temp: Path, real: Path) -> None:
    try:
        fd = os.open(temp, os.O_RDONLY)
        try:
            _fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, real)
    except BaseException:
        _discard(temp)
        raise
    _sync_folder(real.parent)


def _discard(temp: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(temp)


def _sync_folder(folder: Path) -> None:
    """fsync the folder so the rename itself survives a crash (not every file system allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
