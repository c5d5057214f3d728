"""Lightning callbacks of seqkit (chosen in configs/callbacks/)."""
from seqkit.callbacks.gradient_flow import GradientFlow

__all__ = ["GradientFlow"]
