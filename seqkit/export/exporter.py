"""Export a checkpoint to ONNX or TorchScript, with a JSON sidecar holding what the checkpoint knows.

``export_checkpoint(ckpt, "onnx" | "torchscript", output)`` writes the shape's graphs (seqkit.export.graphs)
and ``<output stem>.json``: the vocabularies, label maps, tokeniser settings and scaler of the checkpoint's
data module, the model's hyper-parameters, each graph's inputs and outputs (names, dtypes, axes) and, for a
CRF tagger, the transition scores that ``seqkit.export.runtime.viterbi`` decodes the emissions with. So the
exported files need neither the checkpoint nor seqkit: onnxruntime (or torch.jit.load) and the sidecar.
"""

from __future__ import annotations

import base64
import os
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch

from seqkit.data.errors import DataError
from seqkit.export.graphs import Graph
from seqkit.safe_files import atomic_path, check_not_read, same_file

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
EXPORT_VERSION = 1  # of the sidecar's layout
OPSET = 17
EXTRA_HINT = "install the optional extra seqkit[export]: pip install -e '.[export]' (onnx and onnxruntime)"


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"format={fmt}: choose one of {', '.join(FORMATS)}")
    if fmt == "onnx":
        try:
            import onnx  # noqa: F401  (torch's exporter writes the file through it)
        except ImportError:
            raise ImportError(f"format=onnx needs the onnx package: {EXTRA_HINT}") from None
    return fmt


def output_path(output: Path, fmt: str) -> Path:
    """``output`` with the format's extension (``model`` or ``model.ckpt`` -> ``model.onnx``)."""
    ext = FORMATS[fmt]
    return output if output.suffix == ext else output.with_suffix(ext)


def graph_paths(output: Path, graphs: List[Graph], fmt: str) -> Dict[str, Path]:
    """One graph: ``output`` itself; several (seq2seq): ``<stem>.<graph name><ext>`` beside it."""
    if len(graphs) == 1:
        return {graphs[0].name: output}
    return {g.name: output.with_name(f"{output.stem}.{g.name}{output.suffix}") for g in graphs}


def write_graph(graph: Graph, path: Path, fmt: str) -> None:
    """Trace ``graph.module`` on its example inputs and save it as ONNX (dynamic axes) or TorchScript, atomically
    (a temporary file renamed onto ``path``: a failed export leaves any previous file whole)."""
    args = graph.example_args()
    graph.module.eval()  # dropout off, whatever mode an earlier export left it in
    with torch.no_grad(), warnings.catch_warnings(), atomic_path(path) as temp:
        warnings.simplefilter("ignore")  # the tracer's and legacy exporter's notices: the tests check the result
        if fmt == "torchscript":
            torch.jit.trace(graph.module, args, check_trace=False).save(str(temp))
            return
        axes = {p.name: p.axes for p in graph.inputs + graph.outputs if p.axes}
        torch.onnx.export(
            graph.module,
            args,
            str(temp),
            dynamo=False,
            opset_version=OPSET,
            input_names=[p.name for p in graph.inputs],
            output_names=[p.name for p in graph.outputs],
            dynamic_axes=axes,
        )


def check_outputs(
    ckpt_path: str, paths: List[Path], overwrite: bool, default_name: bool, pretrained: Optional[str] = None
) -> None:
    """Before anything is written: no output is the checkpoint or the vectors file (even with ``overwrite``),
    and none exists unless ``overwrite``."""
    reads = {"checkpoint": ckpt_path, **({"vectors": pretrained} if pretrained else {})}
    for path in paths:
        if default_name and same_file(path, ckpt_path):
            raise DataError(
                ckpt_path,
                None,
                f"the export's default name {path} is the checkpoint itself; "
                "pass output=<file> to name the exported graph",
            )
        check_not_read(path, reads)
        if not overwrite and os.path.lexists(path):
            raise DataError(path, None, "exists; pass overwrite=true to replace it, or choose another output=")


def _describe(ports, tensors) -> List[Dict[str, Any]]:
    return [
        {
            "name": p.name,
            "dtype": str(t.dtype).replace("torch.", ""),
            "shape": [p.axes.get(i, size) for i, size in enumerate(t.shape)],
        }
        for p, t in zip(ports, tensors)
    ]


def plain(obj: Any) -> Any:
    """Checkpoint contents -> JSON: tensors become lists, bytes base64 (``{"base64": ...}``)."""
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, bytes):
        return {"base64": base64.b64encode(obj).decode("ascii")}
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)


def data_record(datamodule) -> Dict[str, Any]:
    """The data module's checkpointed state (vocabularies, labels, tokeniser, scaler) and options; with
    pretrained vectors also their word list, which open-vocabulary ids ``>= len(vocab)`` index."""
    record = {"state": plain(datamodule.state_dict()), "options": plain(dict(datamodule.hparams))}
    vectors = getattr(datamodule, "vectors", None)
    if vectors is not None:
        rows = sorted(vectors.exact.items(), key=lambda kv: kv[1])
        record["pretrained_words"] = [w for w, _ in rows]  # row i + 1 <-> word i; id = len(vocab) - 1 + row
    return record
