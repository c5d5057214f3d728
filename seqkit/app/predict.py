"""``scripts/predict.py`` on (network, codec): any registered shape, without Lightning.

The predictions stream through ``seqkit.app.predict_stream`` (chunks, input order, errors at the bad line), over the
codec's ``predict_batches`` (the batches ``Trainer.predict`` ran), so the output is the same bytes as before.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from omegaconf import DictConfig, OmegaConf

from seqkit import tasks
from seqkit.app.checkpoint import given_vectors, load
from seqkit.app.cli import set_threads
from seqkit.app.predict_stream import stream_predictions


def predict_with(
    network: Any,
    codec: Any,
    source: str,
    output: Optional[str],
    options: Dict[str, Any],
    reads: Optional[Dict[str, Any]] = None,
) -> int:
    """Predict every example of ``source`` (a file, ``.gz``, or ``-``) into ``output`` -> the number of examples.
    reads: the other files the command read (checkpoint, vectors), which the output may not be."""
    if hasattr(network, "predict_options"):  # the network keeps its own settings (seq2seq: beam_size, n_best)
        options = network.predict_options(options)
    return stream_predictions(network, codec, source, output, options, reads=reads or {})


def predict(cfg: DictConfig) -> int:
    """``seqkit/configs/predict.yaml``'s command -> the number of examples."""
    set_threads(cfg)
    tasks.registry.import_plugins(cfg.get("plugins"))
    network, codec = load(cfg.ckpt_path, **given_vectors(cfg))
    if not hasattr(codec, "set_predict_input"):
        raise ValueError(
            f"{cfg.ckpt_path}: trained on generated data ({type(codec).__name__}), which has no input format to "
            "predict from; its training run reported its validation and test figures"
        )
    options = {k: v for k, v in OmegaConf.to_container(cfg.get("options") or {}, resolve=True).items() if v is not None}
    vectors = getattr(codec, "vectors", None)
    reads = {"checkpoint": str(cfg.ckpt_path), "pretrained vectors": vectors.source if vectors is not None else None}
    return predict_with(network, codec, str(cfg.input), cfg.get("output"), options, reads)
