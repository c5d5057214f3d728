"""One loader for every shape: a checkpoint file -> (network, codec), without Lightning.

New checkpoints (``checkpoint["seqkit"]["shape"]``, written by ``seqkit.training.TaskModule``) carry the codec's
class, settings and state; their weights sit under ``network.``. Old ones (``model_class`` of a shape's
``legacy_models``) are converted here: the codec is rebuilt from Lightning's data-module entry (keyed by the old
data module's class name) and ``datamodule_hyper_parameters``, and the weights have no prefix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Mapping, Tuple

from seqkit import tasks
from seqkit.checkpoint import read_checkpoint, seqkit_metadata, weights_misfit
from seqkit.data.errors import DataError
from seqkit.data.pretrained import vectors_source
from seqkit.tasks.registry import Shape

# the paths a data module read at training time: not read again when a checkpoint's codec is rebuilt
# the paths a data module reads at training time, cleared when a checkpoint's codec is rebuilt (pretrained vectors:
# read again only from the packaged set or a file the command line names, see seqkit.data.pretrained.vectors_source)
TRAINING_SOURCES = {
    "train_path": None,
    "val_path": None,
    "test_path": None,
    "builtin": None,
    "root": None,
    "pretrained": None,
}


def given_vectors(cfg: Any) -> Dict[str, str]:
    """``{"pretrained": <file>}`` when the command line names the vectors (``data.pretrained=``), else {}: the
    only way a vectors file other than the packaged set is read for a checkpoint."""
    given = (cfg.get("data") or {}).get("pretrained")
    return {"pretrained": str(given)} if given else {}


_LAST: Dict[str, Any] = {}  # the last file read: checkpoint_shape (or an export) then load read it once


def read(path: Path) -> Dict[str, Any]:
    """``seqkit.checkpoint.read_checkpoint``, once per file state (path, size, modification time)."""
    try:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    except OSError:
        return read_checkpoint(path)  # the one-line error of a missing or unreadable file
    if _LAST.get("key") != key:
        _LAST.clear()
        _LAST.update(key=key, checkpoint=read_checkpoint(path))
    return _LAST["checkpoint"]


def metadata(checkpoint: Mapping[str, Any], path: Path) -> Dict[str, Any]:
    """The checkpoint's ``"seqkit"`` entry, checked (a new one needs no ``model_class``)."""
    meta = checkpoint.get("seqkit")
    if isinstance(meta, dict) and meta.get("shape") and not meta.get("model_class"):
        meta = {**meta, "model_class": tasks.registry.TASK_MODULE}
        checkpoint = {**checkpoint, "seqkit": meta}
    return seqkit_metadata(dict(checkpoint), path)


def codec_source(
    checkpoint: Mapping[str, Any], meta: Mapping[str, Any], shape: Shape, path: Path
) -> Tuple[str, Dict[str, Any], Dict[str, Any]]:
    """-> (codec "module:Name", settings, state) of a new or legacy checkpoint."""
    if meta.get("shape"):
        if not meta.get("codec_class"):
            raise DataError(
                path,
                None,
                "holds no codec (trained without a data module): it has no vocabularies or label maps to predict with",
            )
        if meta["codec_class"] not in {shape.codec, *legacy_codecs(shape)}:  # a checkpoint never chooses code
            raise DataError(
                path,
                None,
                f"names codec {str(meta['codec_class'])[:200]!r}, which is not a codec of the "
                f"{shape.name} shape; refused (a checkpoint is data, it does not choose code)",
            )
        return meta["codec_class"], dict(meta.get("codec_settings") or {}), dict(meta.get("codec") or {})
    datamodule = meta.get("datamodule_class")
    if not datamodule:
        raise DataError(
            path,
            None,
            "holds no data module (trained without one, not by scripts/train.py): it has no "
            "vocabularies or label maps to predict with",
        )
    if datamodule not in shape.legacy_datamodules:
        raise DataError(path, None, f"its data module {datamodule} is not one the {shape.name} shape converts")
    codecs = dict(zip(shape.legacy_datamodules, legacy_codecs(shape)))
    state = checkpoint.get(datamodule.rsplit(".", 1)[-1])  # Lightning keys a data module's state by its class name
    return codecs[datamodule], dict(checkpoint.get("datamodule_hyper_parameters") or {}), dict(state or {})


def legacy_codecs(shape: Shape) -> Tuple[str, ...]:
    """The codec of each of ``shape.legacy_datamodules`` (same order): ``shape.legacy_codecs``, else the shape's codec."""
    return tuple(
        shape.legacy_codecs[i] if i < len(shape.legacy_codecs) and shape.legacy_codecs[i] else shape.codec
        for i in range(len(shape.legacy_datamodules))
    )


def network_weights(checkpoint: Mapping[str, Any], new: bool) -> Dict[str, Any]:
    """The network's state_dict: ``network.`` stripped (new checkpoints), as stored (legacy)."""
    weights = checkpoint.get("state_dict") or {}
    if not new:
        return dict(weights)
    return {k[len("network.") :]: v for k, v in weights.items() if k.startswith("network.")}


def load(ckpt_path: Any, **data_overrides: Any) -> Tuple[Any, Any]:
    """(network in eval mode, codec) of a checkpoint; ``data_overrides`` (e.g. ``test_path``, ``format``,
    ``eval_batch_size``, ``pretrained``) change the codec's settings. One-line DataError for a bad file."""
    path = Path(str(ckpt_path))
    checkpoint = read(path)
    _LAST.clear()  # the weights are copied into the network: keep no second copy
    meta = metadata(checkpoint, path)
    tasks.registry.check_classes(meta, path)  # what it names must be seqkit's, even where the shape decides
    shape = tasks.for_checkpoint(meta, path)
    codec_spec, settings, state = codec_source(checkpoint, meta, shape, path)
    cleared = {k: v for k, v in TRAINING_SOURCES.items() if k in settings}  # the settings this codec has
    settings = {**settings, **cleared, **{k: v for k, v in data_overrides.items() if v is not None}}
    if "pretrained" in state:  # before anything is read: a vectors file only where the command line names it
        vectors_source(state["pretrained"], settings.get("pretrained"), path)
    codec = tasks.load(codec_spec).from_checkpoint(settings, state)
    hparams = dict(checkpoint.get("hyper_parameters") or {})
    network_class = tasks.load(shape.network)
    extra = {
        k: v
        for k, v in codec.network_kwargs().items()
        if k in ("pretrained_vectors", "pretrained_rows", "pretrained_words", "embedding_dim")
    }
    try:
        network = network_class.from_hparams({**hparams, **extra})
    except TypeError as e:
        raise DataError(
            path,
            None,
            f"its hyper-parameters do not build the {shape.name} network ({e}): the file was "
            f"edited or mixes two models",
        ) from None
    try:
        network.load_state_dict(network_weights(checkpoint, bool(meta.get("shape"))))
    except RuntimeError as e:
        misfit = weights_misfit(e, path)
        if misfit is None:
            raise
        raise misfit from None
    network.eval()
    return network, codec


def checkpoint_shape(ckpt_path: Any) -> Shape:
    """The registered shape of a checkpoint (new, or a legacy model a shape converts); a one-line DataError
    otherwise. Reads the file once (``read`` keeps it for the ``load`` that follows)."""
    path = Path(str(ckpt_path))
    return tasks.for_checkpoint(metadata(read(path), path), path)
