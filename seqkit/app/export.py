"""``scripts/export.py`` on (network, codec): the shape's graphs (``seqkit/tasks/<shape>/export.py``: ``graphs``,
``SIDECAR_SHAPE`` and, where the outputs need more than the data's label maps to decode, ``decoding``) written as
ONNX or TorchScript, and the JSON sidecar; no Lightning. Files are checked and written as
``seqkit.export.exporter`` does (never the checkpoint or the vectors, nothing replaced without ``overwrite``)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Dict, Optional

import torch
from omegaconf import DictConfig

from seqkit import tasks
from seqkit.app.checkpoint import given_vectors, load, metadata, read
from seqkit.app.cli import set_threads
from seqkit.export.exporter import (
    EXPORT_VERSION,
    _describe,
    check_format,
    check_outputs,
    data_record,
    graph_paths,
    output_path,
    plain,
    write_graph,
)
from seqkit.safe_files import atomic_open, write_error


def export_checkpoint(
    ckpt_path: str, fmt: str, output: Optional[str] = None, overwrite: bool = False, pretrained: Optional[str] = None
) -> Dict[str, str]:
    """Write the graphs and the sidecar of a checkpoint of a registered shape -> {graph name or "sidecar": path}."""
    check_format(fmt)
    path = Path(ckpt_path)
    checkpoint = read(path)  # once: load below takes it from there
    meta = metadata(checkpoint, path)
    shape = tasks.for_checkpoint(meta, path)
    if not shape.export:
        raise ValueError(f"{path}: the {shape.name} shape has no export graphs")
    network, codec = load(ckpt_path, **({"pretrained": pretrained} if pretrained else {}))
    if hasattr(codec, "export_refusal") and codec.export_refusal():  # what the graphs cannot hold
        raise ValueError(f"{path}: {codec.export_refusal()}")
    module = importlib.import_module(shape.export.partition(":")[0])
    sidecar_shape = module.SIDECAR_SHAPE
    graphs = module.graphs(network)
    base = output_path(Path(output) if output else path, fmt)
    paths = graph_paths(base, graphs, fmt)
    sidecar = base.with_suffix(".json")
    check_outputs(ckpt_path, [*paths.values(), sidecar], overwrite, default_name=not output, pretrained=pretrained)
    described = {}
    for graph in graphs:
        target = paths[graph.name]
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise write_error(target, e) from None
        write_graph(graph, target, fmt)
        with torch.no_grad():
            outs = graph.module(*graph.example_args())
        outs = outs if isinstance(outs, tuple) else (outs,)
        described[graph.name] = {
            "file": target.name,
            "inputs": _describe(graph.inputs, graph.example_args()),
            "outputs": _describe(graph.outputs, outs),
        }
    decoding = getattr(module, "decoding", None)
    legacy = not meta.get("shape")  # an old checkpoint's sidecar names its old model class, as before
    record = {
        "seqkit_export": EXPORT_VERSION,
        "shape": sidecar_shape,
        "format": fmt,
        "model_class": str(meta["model_class"]).rsplit(".", 1)[-1] if legacy else type(network).__name__,
        "checkpoint": str(ckpt_path),
        "graphs": described,
        "decoding": decoding(network) if decoding is not None else {},
        "model": plain(dict(checkpoint.get("hyper_parameters") or {})),
        "data": data_record(codec),
    }
    with atomic_open(sidecar) as stream:
        stream.write(json.dumps(record))
    return {**{k: str(v) for k, v in paths.items()}, "sidecar": str(sidecar)}


def export(cfg: DictConfig) -> Dict[str, str]:
    """``seqkit/configs/export.yaml``'s command: prints one JSON line naming the files."""
    set_threads(cfg)
    tasks.registry.import_plugins(cfg.get("plugins"))
    files = export_checkpoint(
        str(cfg.ckpt_path),
        str(cfg.format),
        cfg.get("output"),
        bool(cfg.get("overwrite")),
        given_vectors(cfg).get("pretrained"),
    )
    print(json.dumps(files), flush=True)
    return files
