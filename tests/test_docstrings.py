"""The docstrings of seqkit.nn and of the shapes' networks are torch-style, and no docstring in seqkit quotes a
measured timing (figures go stale: they belong to the README and the benchmarks).

What a class docstring must have (sections are lines starting at the docstring's left margin, as in torch's
``nn.LSTM``: ``Args:``, ``Inputs: ...``, ``Outputs: ...``, ``Shape:``), each with text on its line or indented
below it, in that order:

- every class: ``Args:`` naming each constructor argument, and ``Shape:``;
- callable classes (``nn.Module`` subclasses, or classes defining ``__call__``): also ``Inputs:`` and ``Outputs:``,
  and ``Inputs:`` names each argument of the class's own ``forward`` (or ``__call__``);
- a shape's network: also a docstring on each of ``loss``, ``evaluate``, ``predict`` and, where the class has
  them, ``step``, ``init_state``, ``generate``.

Public functions of seqkit.nn have ``Args:`` and, unless they return None, ``Returns:``.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import pkgutil
import re
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest
from torch import nn

import seqkit
import seqkit.nn
import seqkit.tasks  # noqa: F401 (registers the built-in shapes)
from seqkit.tasks import registry

SECTIONS = ("Args", "Inputs", "Outputs", "Shape")
NETWORK_METHODS = ("loss", "evaluate", "predict")
NETWORK_METHODS_WHERE_PRESENT = ("step", "init_state", "generate")

# A measured timing or speed figure: "1.6x faster", "3x slower", "12 ms", "0.4 seconds", "38% of a tagger step",
# "about four times what X takes", "saves about a tenth of the step", "a speed-up of", "12,000 tokens/s".
TIMING = re.compile(
    r"\b\d+(?:\.\d+)?\s*[x×]\s*(?:faster|slower|quicker|speed-?ups?|the\s+speed)\b"
    r"|\b(?:twice|thrice|(?:two|three|four|five|six|seven|eight|nine|ten|\d+(?:\.\d+)?)\s+times)\s+"
    r"(?:as\s+(?:fast|slow|long)|faster|slower|quicker|what)\b"
    r"|\b\d+(?:\.\d+)?\s*%\s+(?:faster|slower|quicker|less\s+time|more\s+time"
    r"|of\s+(?:a|an|the|each|every)\s+(?:\S+\s+){0,3}?(?:step|epoch|run|batch|time))\b"
    r"|\b(?:saves?|saving|takes?|costs?)\s+(?:about\s+|roughly\s+|around\s+|nearly\s+|almost\s+)?(?:a|an|one)\s+"
    r"(?:tenth|fifth|quarter|third|half)\s+of\b"
    r"|\bspeed-?ups?\s+of\b"
    r"|\b\d+(?:\.\d+)?\s*(?:ms|msec|µs|us|ns|secs?|seconds?|minutes?|mins?|hours?)\b"
    r"|\b\d(?:[\d,.]*\d)?\s*k?\s*(?:tokens|sentences|samples|sequences|windows|forecasts|batches|steps|it)\s*/\s*s\b",
    re.IGNORECASE,
)


# ---- reading sections -----------------------------------------------------------------------------------------


def sections(doc: str) -> Dict[str, str]:
    """``{name: text}`` of the docstring's sections: a line ``Name:`` (text may follow on it) at the left margin,
    up to the next line at the left margin."""
    found: Dict[str, str] = {}
    current = None
    for line in inspect.cleandoc(doc).splitlines():
        header = re.match(r"^([A-Z][A-Za-z ]*):(.*)$", line)
        if header:
            current = header.group(1)
            found[current] = header.group(2).strip()
        elif line and not line[0].isspace():
            current = None  # a paragraph at the margin ends the section
        elif current is not None and line.strip():
            found[current] += "\n" + line.strip()
    return found


def section_order(doc: str) -> List[str]:
    return [m.group(1) for m in re.finditer(r"^([A-Z][A-Za-z ]*):", inspect.cleandoc(doc), re.MULTILINE)]


def names_in(text: str) -> set:
    return set(re.findall(r"[A-Za-z_][A-Za-z_0-9]*", text))


def own(cls: type, name: str):
    """``cls``'s own definition of ``name`` (or one of its seqkit bases'), not torch's or object's."""
    for klass in cls.__mro__:
        if klass.__module__.startswith("torch") or klass is object:
            return None
        if name in vars(klass):
            return vars(klass)[name]
    return None


def parameters(fn) -> List[str]:
    kinds = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return [p.name for p in inspect.signature(fn).parameters.values() if p.name != "self" and p.kind not in kinds]


def constructor_arguments(cls: type) -> List[str]:
    return parameters(cls.__init__) if cls.__init__ is not object.__init__ else []


def class_problems(cls: type) -> List[str]:
    """What ``cls``'s docstring lacks (empty: nothing)."""
    doc = cls.__doc__ or ""
    if not doc.strip():
        return ["no docstring"]
    found = sections(doc)
    callable_ = issubclass(cls, nn.Module) or own(cls, "__call__") is not None
    wanted = SECTIONS if callable_ else ("Args", "Shape")
    problems = [f"no {name}: section" for name in wanted if not found.get(name, "").strip()]
    order = [name for name in section_order(doc) if name in wanted]
    if not problems and order != list(wanted):
        problems.append(f"sections in the order {order}, expected {list(wanted)}")
    args = names_in(found.get("Args", ""))
    problems += [f"Args: does not name {a!r}" for a in constructor_arguments(cls) if a not in args]
    call = own(cls, "forward") or own(cls, "__call__")
    if callable_ and call is not None:
        inputs = names_in(found.get("Inputs", ""))
        problems += [f"Inputs: does not name {a!r}" for a in parameters(call) if a not in inputs]
    return problems


def function_problems(fn) -> List[str]:
    doc = fn.__doc__ or ""
    if not doc.strip():
        return ["no docstring"]
    found = sections(doc)
    problems = [] if found.get("Args", "").strip() else ["no Args: section"]
    args = names_in(found.get("Args", ""))
    problems += [f"Args: does not name {a!r}" for a in parameters(fn) if a not in args]
    returns_none = inspect.signature(fn).return_annotation in (None, "None")
    if not returns_none and not found.get("Returns", "").strip():
        problems.append("no Returns: section")
    return problems


# ---- what is checked ------------------------------------------------------------------------------------------


def nn_modules() -> List[object]:
    return [importlib.import_module(f"seqkit.nn.{m.name}") for m in pkgutil.iter_modules(seqkit.nn.__path__)]


def nn_public(kind) -> Dict[str, object]:
    """Public classes (``kind=inspect.isclass``) or functions of seqkit.nn: ``seqkit.nn.__all__``'s and those
    defined in a seqkit.nn module under a name without a leading underscore."""
    objects = [getattr(seqkit.nn, name) for name in seqkit.nn.__all__]
    for module in nn_modules():
        objects += [obj for name, obj in vars(module).items() if not name.startswith("_") and obj_in(obj, module)]
    return {f"{obj.__module__}.{obj.__qualname__}": obj for obj in objects if kind(obj)}


def obj_in(obj: object, module) -> bool:
    return getattr(obj, "__module__", None) == module.__name__


NN_CLASSES = nn_public(inspect.isclass)
NN_FUNCTIONS = nn_public(inspect.isfunction)
NETWORKS = {shape.name: shape.network for shape in registry.shapes()}


def test_what_is_checked_is_not_empty():
    exported = {
        f"{obj.__module__}.{obj.__qualname__}"
        for obj in map(vars(seqkit.nn).get, seqkit.nn.__all__)
        if inspect.isclass(obj) or inspect.isfunction(obj)
    }
    assert exported <= set(NN_CLASSES) | set(NN_FUNCTIONS)
    assert {"seqkit.nn.encoder.RecurrentEncoder", "seqkit.nn.attention.Attention"} <= set(NN_CLASSES)
    assert "seqkit.nn.padding.lengths_to_mask" in NN_FUNCTIONS
    assert {"classification", "tagging", "language_model", "seq2seq", "forecasting"} <= set(NETWORKS)


@pytest.mark.parametrize("name", sorted(NN_CLASSES))
def test_nn_class_docstring_is_torch_style(name):
    assert class_problems(NN_CLASSES[name]) == []


@pytest.mark.parametrize("name", sorted(NN_FUNCTIONS))
def test_nn_function_docstring_has_args_and_returns(name):
    assert function_problems(NN_FUNCTIONS[name]) == []


@pytest.mark.parametrize("shape", sorted(NETWORKS))
def test_network_docstring_is_torch_style(shape):
    cls = registry.load(NETWORKS[shape])
    problems = class_problems(cls)
    for method in NETWORK_METHODS + tuple(m for m in NETWORK_METHODS_WHERE_PRESENT if hasattr(cls, m)):
        if not (getattr(cls, method).__doc__ or "").strip():
            problems.append(f"{method} has no docstring")
    assert problems == []


def test_the_section_check_catches_a_missing_section_and_argument():
    class Documented(nn.Module):
        """One line.

        Args:
            size: features. Default: 3

        Inputs: x
        Outputs: y

        Shape:
            - x: ``[B, size]``
        """

        def __init__(self, size: int = 3, extra: int = 0):
            super().__init__()

        def forward(self, x, lengths):
            return x

    assert class_problems(Documented) == ["Args: does not name 'extra'", "Inputs: does not name 'lengths'"]
    Documented.__doc__ = Documented.__doc__.replace("Shape:", "Notes:")
    assert "no Shape: section" in class_problems(Documented)


# ---- no measured timings --------------------------------------------------------------------------------------


def docstrings(path: Path) -> Iterator[Tuple[str, str]]:
    """(where, docstring) of a module and of every class and function in it, nested ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            if doc:
                yield getattr(node, "name", "<module>"), doc


def seqkit_module_files() -> Dict[str, Path]:
    """Every module of the seqkit package (pkgutil's walk; read as source, so nothing is imported)."""
    files = {"seqkit": Path(seqkit.__file__)}
    for info in pkgutil.walk_packages(seqkit.__path__, "seqkit."):
        spec = importlib.util.find_spec(info.name)
        if spec is not None and spec.origin and spec.origin.endswith(".py"):
            files[info.name] = Path(spec.origin)
    return files


@pytest.mark.parametrize(
    "text",
    [
        "about 1.6x faster forward + backward",
        "ATen's float tanh is about 3x slower than its sigmoid",
        "each step takes 12 ms",
        "predicts in 0.4 seconds",
        "38% of a CoNLL-2003 tagger step",
        "which takes about four times what ``rand_like`` does",
        "this saves about a tenth of the step",
        "a speed-up of 1.3",
        "runs at 12,000 tokens/s",
    ],
)
def test_the_timing_pattern_catches(text):
    assert TIMING.search(text)


@pytest.mark.parametrize(
    "text",
    [
        "the 80% interval",
        "a character BiLSTM of 2 x 25 = 50 features",
        "about twice the training cost",
        "first 90% of the text trains",
        "tokens/s (the real, non-pad tokens)",
        "half of a BiLSTM's multiply-adds gone",
        "a 10x fall of one curve",
    ],
)
def test_the_timing_pattern_leaves(text):
    assert not TIMING.search(text)


def test_no_docstring_in_seqkit_quotes_a_timing():
    files = seqkit_module_files()
    assert len(files) > 50 and "seqkit.nn.encoder" in files
    hits = [
        f"{module}:{where}: {match.group(0)!r}"
        for module, path in files.items()
        for where, doc in docstrings(path)
        for match in TIMING.finditer(doc)
    ]
    assert not hits, "\n".join(hits)
