"""The parts of exporting a network to ONNX or TorchScript (graphs, the masked copy that traces, writing the files
and the sidecar) and of running the exported files (``runtime``); ``seqkit.app.export`` puts them together for a
checkpoint of any shape."""

from seqkit.export.exporter import FORMATS

__all__ = ["FORMATS"]
