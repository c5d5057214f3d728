"""What every script does around its work, importing neither Lightning nor Hydra's application: the thread
count, and bad data or settings reported as one line ``error: ...`` with exit status 1."""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import re
import sys
from typing import Any, List, Optional

from omegaconf.errors import MissingMandatoryValue

from seqkit.data.errors import DataError


def set_threads(cfg: Any) -> None:
    """``threads=N`` -> torch.set_num_threads(N); null keeps torch's default."""
    threads = cfg.get("threads")
    if threads is None:
        return
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(
            f"threads={threads}: give a positive number of torch threads, or threads=null for torch's default"
        )
    import torch

    torch.set_num_threads(threads)


def _instantiation_error(error: BaseException) -> bool:
    hydra_errors = sys.modules.get("hydra.errors")  # only raised where Hydra was imported
    return hydra_errors is not None and isinstance(error, hydra_errors.InstantiationException)


def report_errors(fn):
    """Wrap a script's main: bad data or settings, and OS errors (a full disk, no permission), end with one line
    ``error: file:line: reason`` and exit 1 (set SEQKIT_DEBUG=1 for the traceback); a closed standard output
    (``| head -1``) ends quietly with exit status 141, as Unix tools killed by SIGPIPE do."""

    @functools.wraps(fn)  # Hydra names the job after the wrapped function's module
    def wrapper(cfg: Any):
        try:
            result = fn(cfg)
            sys.stdout.flush()  # here, not at interpreter exit, so a closed pipe is caught below
            return result
        except BrokenPipeError:
            discard_stdout()
            sys.exit(141)
        except MissingMandatoryValue as e:
            print(f"error: missing setting {e.full_key}=...", file=sys.stderr)
            sys.exit(1)
        except KeyboardInterrupt:  # Ctrl-C outside training (which reports itself): no traceback
            print("error: interrupted (Ctrl-C)", file=sys.stderr)
            sys.exit(130)
        except (DataError, ValueError, ImportError) as e:
            if os.environ.get("SEQKIT_DEBUG"):
                raise
            print(f"error: {e}", file=sys.stderr)
            sys.exit(1)
        except OSError as e:
            if os.environ.get("SEQKIT_DEBUG"):
                raise
            print(f"error: {os_error_message(e)}", file=sys.stderr)
            sys.exit(1)
        except Exception as e:
            if not isinstance(e, TypeError) and not _instantiation_error(e):
                raise

            message = unknown_option_message(e)
            if message is None or os.environ.get("SEQKIT_DEBUG"):
                raise
            print(f"error: {message}", file=sys.stderr)
            sys.exit(1)

    return wrapper


def os_error_message(error: OSError) -> str:
    """``<file>: <reason>`` (``[Errno 28] No space left on device: 'x'`` -> ``x: No space left on device``)."""
    reason = error.strerror or str(error)
    return reason if error.filename is None else f"{os.fsdecode(error.filename)}: {reason}"


def discard_stdout() -> None:
    """Point standard output at /dev/null, so the interpreter's last flush of a closed pipe raises nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no file descriptor (a test's captured stdout)
        pass


LIBRARY_LOGGERS = ("pytorch_lightning", "lightning.pytorch", "lightning_fabric")  # where Lightning's notices go


class _NoProductTips:
    """A logging filter that drops Lightning's product tips ("💡 Tip: ... try installing litlogger ...")."""

    def filter(self, record) -> bool:
        return "💡 Tip:" not in record.getMessage()


def quiet_product_tips() -> None:
    """For train.py: Lightning's INFO lines on devices and the model stay (they say what runs where); its product
    tips (a logging-service advert), a deprecation warning it raises about torch's pytree API, and its advice to
    lower ``log_every_n_steps`` below an epoch's batches (seqkit logs every epoch's mean loss anyway) go."""
    import logging
    import warnings

    for name in ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)  # where rank_zero_info writes
        if not any(isinstance(f, _NoProductTips) for f in logger.filters):
            logger.addFilter(_NoProductTips())
    warnings.filterwarnings("ignore", category=FutureWarning, message=r".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=r".*is smaller than the logging interval.*")


_UNEXPECTED = re.compile(r"(\w+)\.(\w+)\(\) got an unexpected keyword argument '(\w+)'")
# where the classes that configs name live, to list the options of one that was given a misspelt one
_OPTION_HOMES = (
    "seqkit.nn",
    "seqkit.training",
    "seqkit.data",
    "torch.optim",
    "torch.optim.lr_scheduler",
    "pytorch_lightning",
    "pytorch_lightning.callbacks",
    "pytorch_lightning.loggers",
)


def unknown_option_message(error: BaseException) -> Optional[str]:
    """``X.__init__() got an unexpected keyword argument 'k'`` (a misspelt ``+key=value`` override reaching a
    class) -> "unknown option 'k' of X; X takes: a, b, ..." (None for any other error)."""
    match = _UNEXPECTED.search(str(error))
    if match is None:
        return None
    owner, method, key = match.groups()
    message = f"unknown option {key!r} of {owner}" + ("" if method == "__init__" else f".{method}")
    options = _options_of(owner, method)
    if options:
        message += f"; it takes: {', '.join(options)}"
    return message + " (check the spelling of the override, or of the config file that sets it)"


def _options_of(owner: str, method: str) -> List[str]:
    from seqkit import tasks

    shapes = [tasks.get(name) for name in tasks.registry.names()]
    parts = (spec for s in shapes for spec in (s.network, s.codec, *s.datamodules))  # data.* and options.* are theirs
    for home in dict.fromkeys((*_OPTION_HOMES, *(spec.split(":")[0] for spec in parts))):
        cls = getattr(importlib.import_module(home), owner, None)
        if isinstance(cls, type):
            break
    else:
        return []
    return _init_parameters(cls, method)


def _init_parameters(cls: type, method: str = "__init__") -> List[str]:
    """The keyword arguments ``cls.<method>`` takes, following ``**kwargs`` up to the base class that names them."""
    names: List[str] = []
    for klass in cls.__mro__:  # follow **kwargs up to the base class that names them
        fn = klass.__dict__.get(method)
        if fn is None:
            continue
        params = list(inspect.signature(fn).parameters.values())
        names += [p.name for p in params if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return sorted(set(names))
