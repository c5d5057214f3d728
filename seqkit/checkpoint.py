"""Reading a checkpoint file safely, with one clear error for each way it can be wrong.

Always ``torch.load(weights_only=True)``: a checkpoint is data (tensors, numbers, strings, lists, dicts), and
a file that needs anything else unpickled is refused rather than trusted. ``FORMAT_VERSION`` is written into
every checkpoint's ``"seqkit"`` metadata (seqkit.training.TaskModule); bump it when a change makes old seqkit unable to
read new checkpoints, so the old one says "upgrade" instead of failing somewhere inside.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path
from typing import Any, Dict, Optional, Union

import torch

from seqkit.data.errors import DataError

FORMAT_VERSION = 2  # of the "seqkit" metadata and what it promises about the rest of the file


def class_path(obj: Any) -> str:
    """``module.QualName`` of a class or of an object's class: how a checkpoint names it."""
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def read_checkpoint(path: Union[str, Path]) -> Dict[str, Any]:
    """The checkpoint's contents, loaded on CPU with weights_only=True; DataError naming the file otherwise."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, None, "checkpoint not found")
    if path.is_dir():
        raise DataError(path, None, "is a directory, expected a checkpoint file (.ckpt)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"GLOBAL (\S+)", str(e))
        if found:
            raise DataError(
                path,
                None,
                f"refused: it holds a pickled Python object ({found.group(1)}), not only tensors"
                f" and plain data; seqkit loads checkpoints with weights_only=True and never"
                f" runs code from one",
            ) from None
        raise DataError(path, None, "is corrupted or not a checkpoint (its contents cannot be read)") from None
    except PermissionError as e:
        raise DataError(path, None, f"cannot read the checkpoint: {e.strerror}") from None
    except (
        RuntimeError,
        EOFError,
        zipfile.BadZipFile,
        ValueError,
        OSError,
    ):  # what torch's zip reader raises on damage
        raise DataError(
            path, None, "cannot read the checkpoint: truncated or corrupted (was it copied completely?)"
        ) from None
    except Exception:  # any other file (a text file can end in the unpickler's KeyError): never torch's advice
        raise DataError(path, None, "is corrupted or not a checkpoint (its contents cannot be read)") from None
    if not isinstance(checkpoint, dict):
        raise DataError(path, None, f"not a Lightning checkpoint (holds a {type(checkpoint).__name__})")
    return checkpoint


def seqkit_metadata(checkpoint: Dict[str, Any], path: Union[str, Path]) -> Dict[str, Any]:
    """The ``"seqkit"`` entry (model and data module classes, format version), checked for this seqkit."""
    meta = checkpoint.get("seqkit")
    if not isinstance(meta, dict) or not meta.get("model_class"):
        raise DataError(
            path, None, 'not a seqkit checkpoint (no "seqkit" metadata: was it written by scripts/train.py?)'
        )
    version = meta.get("format_version", 1)  # checkpoints written before versioning are version 1
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise DataError(
            path,
            None,
            f"written by a newer seqkit (checkpoint format {version}; this seqkit reads up to "
            f"{FORMAT_VERSION}): upgrade seqkit to use it",
        )
    return meta


def check_model_class(meta: Dict[str, Any], path: Union[str, Path], expected: Optional[str], what: str) -> None:
    """DataError unless the checkpoint's model class is ``expected`` (a dotted class path; None: any)."""
    found = meta["model_class"]
    if expected is not None and found != expected:
        raise DataError(
            path,
            None,
            f"is a {found.rsplit('.', 1)[-1]} checkpoint, but {what} a "
            f"{expected.rsplit('.', 1)[-1]} ({found} vs {expected})",
        )


_SIZE_MISMATCH = re.compile(
    r"size mismatch for (\S+): copying a param with shape torch\.Size\((\[.*?\])\) from checkpoint, "
    r"the shape in current model is torch\.Size\((\[.*?\])\)"
)
_KEYS = re.compile(r"(Missing|Unexpected) key\(s\) in state_dict: \"([^\"]+)\"")


def weights_misfit(error: RuntimeError, path: Union[str, Path]) -> Optional[DataError]:
    """The DataError for torch's ``load_state_dict`` complaint (weights of another shape than the model the
    checkpoint's hyper-parameters build: an edited file, or parts of two models), naming the first weight;
    None for any other RuntimeError."""
    text = str(error)
    if "Error(s) in loading state_dict" not in text:
        return None
    size, keys = _SIZE_MISMATCH.search(text), _KEYS.search(text)
    if size:
        what = f"{size.group(1)} is {size.group(2)} in the checkpoint but {size.group(3)} in the model its hyper-parameters build"
    elif keys:
        what = f"weight {keys.group(2)} is {'missing from' if keys.group(1) == 'Missing' else 'unexpected in'} the checkpoint"
    else:
        what = text.splitlines()[-1].strip()
    return DataError(
        path,
        None,
        f"its weights do not fit its own hyper-parameters ({what}): the file was edited or "
        f"mixes two models; predict with the checkpoint the training run wrote",
    )
