"""Names of a package imported on first use (PEP 562): ``from seqkit.data import Vocabulary`` loads only the
module that defines it, so light paths (``scripts/predict.py``'s fast path) never import Lightning."""

import importlib
from typing import Callable, Dict, List, Tuple


def lazy_exports(package: str, homes: Dict[str, str]) -> Tuple[List[str], Callable, Callable]:
    """``(__all__, __getattr__, __dir__)`` for ``package`` whose public name N lives in ``package.homes[N]``."""
    names = sorted(homes)

    def __getattr__(name: str):
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{homes[name]}"), name)

    def __dir__():
        return sorted(set(vars(importlib.import_module(package))) | set(names))

    return names, __getattr__, __dir__
