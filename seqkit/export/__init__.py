"""Export trained models to ONNX or TorchScript (``scripts/export.py``), and use the exported files."""

from seqkit.export.exporter import FORMATS
from seqkit.export.legacy import export_checkpoint

__all__ = ["FORMATS", "export_checkpoint"]
