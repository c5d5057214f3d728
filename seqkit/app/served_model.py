"""One checkpoint as the server runs it: requests checked, batches predicted on the path ``predict.py`` takes
(seqkit.app.predict_stream.predict_lines over the codec's ``set_predict_input`` / batches / ``format_predictions``),
and language-model samples made as ``generate.py`` makes them. Plain Python and torch: no HTTP, no Lightning.

Every method that touches the network or the codec runs on one thread at a time (the server's model thread):
``set_predict_input`` keeps the prediction set on the codec, and a seq2seq network's decoding settings are set per
batch.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

from seqkit.app.checkpoint import checkpoint_shape, load
from seqkit.app.generate import chooser, condition_ids, continue_prompt
from seqkit.app.heap import HeapTrimmer
from seqkit.app.predict_stream import MAX_LENGTH, TOO_LONG, Limit, predict_lines

SOURCE = "<request>"  # how an error names a request's text (its line: 1, or the line of a forecaster's CSV)
# predict.py's options that write files or change the output format: not taken over HTTP (answers are JSON)
NOT_SERVED = ("plot", "attention_plot", "output_format")
GENERATION_DEFAULTS = {  # the sampling options of a /generate request and their defaults (generate.yaml's)
    "prompt": "",
    "condition": None,
    "max_new_tokens": 100,
    "temperature": 0.8,
    "top_k": None,
    "top_p": None,
    "seed": 0,
}


_KINDS = {str: str, int: int, float: (int, float), bool: bool}  # an option's value: the type of its default
_NAMES = {str: "a string", int: "a whole number", float: "a number", bool: "true or false"}


class RequestError(ValueError):
    """A request the model cannot take (an unknown option, a text over the limit): a 4xx answer, one line."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class ServedModel:
    """A checkpoint's (network, codec), loaded once (``seqkit.app.checkpoint.load``).

    Args:
        ckpt_path: the checkpoint file.
        max_text_length: the most characters of a request's text (a forecaster's: its whole CSV history).
        load_kwargs: data overrides for ``load`` (``pretrained``: a vectors file).
    """

    def __init__(self, ckpt_path: Any, max_text_length: int = 100_000, **load_kwargs: Any):
        self.shape = checkpoint_shape(ckpt_path).name
        self.network, self.codec = load(ckpt_path, **load_kwargs)
        self.ckpt_path = str(ckpt_path)
        self.max_text_length = int(max_text_length)
        self.whole_input = (
            getattr(self.codec, "predict_unit", "line") == "file"
        )  # one request is the whole input (a CSV history)
        self.decode_defaults = dict(getattr(self.network, "decode_settings", None) or {})
        self.generates = hasattr(self.codec, "encode_prompt") and hasattr(self.network, "generate")
        self.streams_predictions = hasattr(self.network, "greedy_decode")  # seq2seq: /predict/stream
        # a conditional language model scores no lines (its codec refuses them): it only generates
        self.predicts = hasattr(self.codec, "set_predict_input") and not getattr(self.network, "num_conditions", 0)
        self.options = self._predict_options()
        self.trim_heap = HeapTrimmer()  # a long-running server's RSS stays flat (seqkit.app.heap)

    # ---- what the model takes ---------------------------------------------------------------------
    def _predict_options(self) -> Dict[str, Any]:
        """option -> its default (None: the codec's), as predict.py's ``options.*`` for this model."""
        if not self.predicts:
            return {}
        params = inspect.signature(self.codec.set_predict_input).parameters
        found: Dict[str, Any] = {
            name: p.default
            for name, p in params.items()
            if name not in ("lines", "source", *NOT_SERVED) and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        }
        if "input_format" in found and not self.whole_input:
            found["input_format"] = "text"  # a request's text is the text (a tagger's: tokens between spaces)
        found.update(self.decode_defaults)
        if not self.whole_input:
            found["max_length"] = MAX_LENGTH
            if hasattr(self.codec, "join_pieces"):
                found["too_long"] = TOO_LONG[0]
        return found

    def info(self) -> Dict[str, Any]:
        """What ``/info`` answers: the model and the options its requests take."""
        labels = getattr(self.codec, "labels", None)
        return {
            "checkpoint": self.ckpt_path,
            "shape": self.shape,
            "network": type(self.network).__name__,
            "codec": type(self.codec).__name__,
            "labels": list(labels.itos) if hasattr(labels, "itos") else None,
            "predict": {"options": self.options, "input": "csv history" if self.whole_input else "one text"}
            if self.predicts
            else None,
            "generate": dict(GENERATION_DEFAULTS) if self.generates else None,
            "predict_stream": self.streams_predictions,
            "max_text_length": self.max_text_length,
        }

    # ---- checking a request -----------------------------------------------------------------------
    def check_text(self, text: str) -> None:
        if len(text) > self.max_text_length:
            raise RequestError(
                f"text of {len(text)} characters is longer than the server's max_text_length={self.max_text_length}",
                413,
            )
        if not text.strip():
            raise RequestError("text is empty")
        if not self.whole_input and "\n" in text:
            raise RequestError("text holds a line end: send one text a request (a line, as predict.py reads one)")

    def predict_key(self, options: Dict[str, Any]) -> Tuple:
        """The request's options, checked, as a batch key (requests with the same options are batched)."""
        if not self.predicts:
            raise RequestError(f"a {self.shape} model of {type(self.codec).__name__} has no /predict; use /generate")
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise RequestError(f"unknown option {unknown[0]!r}; this model takes: {', '.join(sorted(self.options))}")
        for name, value in options.items():
            default = self.options[name]
            kind = str if default is None or isinstance(default, str) else type(default)
            if value is not None and (isinstance(value, bool) != (kind is bool) or not isinstance(value, _KINDS[kind])):
                raise RequestError(f"option {name!r} must be {_NAMES[kind]}, got {value!r}")
        merged = {k: v for k, v in {**self.options, **options}.items() if v is not None}
        return tuple(sorted(merged.items(), key=lambda kv: kv[0]))

    # ---- running it (the model thread) ------------------------------------------------------------
    def predict_batch(self, key: Tuple, texts: List[str]) -> List[Any]:
        """The answers of requests with the same options: each predict.py's row (a forecaster: its rows), or the
        exception of a request that failed. A batch that fails is retried request by request, so a bad one
        fails alone."""
        self.trim_heap()
        try:
            return self._predict(dict(key), texts)
        except Exception as error:  # noqa: BLE001 - each request gets its own answer below
            if len(texts) == 1:
                return [error]
        answers: List[Any] = []
        for text in texts:
            try:
                answers += self._predict(dict(key), [text])
            except Exception as error:  # noqa: BLE001 - the request's answer is its error
                answers.append(error)
        return answers

    def _predict(self, options: Dict[str, Any], texts: List[str]) -> List[Any]:
        decode = getattr(self.network, "decode_settings", None)
        try:
            if hasattr(self.network, "predict_options"):  # per request: the checkpoint's, then the request's
                decode.update(self.decode_defaults)
                options = self.network.predict_options(options)
            if self.whole_input:
                lines = list(enumerate(texts[0].split("\n"), start=1))
                return [predict_lines(self.network, self.codec, lines, SOURCE, options)]
            return predict_lines(self.network, self.codec, list(enumerate(texts, start=1)), SOURCE, options)
        finally:
            if decode is not None:
                decode.update(self.decode_defaults)

    def decode_stream(self, text: str, on_piece: Callable[[str], None]) -> Dict[str, Any]:
        """A seq2seq model's output for ``text`` decoded greedily, each output token handed to ``on_piece`` as it
        is picked -> ``{"source", "output"}`` (predict.py's row with ``options.beam_size=1``, without the score)."""
        if not self.streams_predictions:
            raise RequestError(f"a {self.shape} model answers whole; /predict/stream is for seq2seq models")
        self.check_text(text)
        tokens = len(text.split())
        if tokens > MAX_LENGTH:
            raise Limit(MAX_LENGTH, False, SOURCE, "text", "send it to /predict with a larger one").refuse(1, tokens)
        records = self.codec.set_predict_input([(1, text)], SOURCE)
        batch = next(iter(self.codec.predict_batches()))
        eos = self.network.eos_index

        def stream(ids: torch.Tensor) -> None:
            if int(ids[0]) != eos:
                on_piece(self.codec.target_tokens([int(ids[0])])[0])

        with torch.inference_mode():
            ids = self.network.greedy_decode(batch.source, batch.source_lengths, on_token=stream)[0]
        return {"source": records[0].text, "output": self.codec.detokenize(self.codec.output_units(ids))}

    def generation(self, request: Dict[str, Any]) -> Tuple[str, Optional[torch.Tensor], Dict[str, Any]]:
        """A /generate request's settings, checked -> (prompt, condition ids, settings)."""
        if not self.generates:
            raise RequestError(f"a {self.shape} model does not generate; use /predict")
        unknown = sorted(set(request) - set(GENERATION_DEFAULTS) - {"stream"})
        if unknown:
            raise RequestError(
                f"unknown option {unknown[0]!r}; /generate takes: {', '.join(sorted([*GENERATION_DEFAULTS, 'stream']))}"
            )
        settings = {**GENERATION_DEFAULTS, **{k: v for k, v in request.items() if v is not None and k != "stream"}}
        if not isinstance(settings["prompt"], str):
            raise RequestError("field 'prompt' must be a string")
        if len(settings["prompt"]) > self.max_text_length:
            self.check_text(settings["prompt"])  # the length's error
        _check_number(settings, "max_new_tokens", int, 0)
        _check_number(settings, "temperature", (int, float), 0)
        _check_number(settings, "seed", int, 0)
        if settings["top_k"] is not None:
            _check_number(settings, "top_k", int, 1)
        if settings["top_p"] is not None:
            _check_number(settings, "top_p", (int, float), 0)
        if settings["condition"] is not None and not self.network.num_conditions:
            raise RequestError("option 'condition' is for conditional language models; this one has no classes")
        if settings["condition"] is None and self.network.num_conditions:
            raise RequestError(
                f'this model generates from a class: give "condition": one of {self.codec.condition_names()}'
            )
        condition = condition_ids(self.network, self.codec, settings["condition"])
        return settings["prompt"], condition, settings

    def generate(
        self, prompt: str, condition: Optional[torch.Tensor], settings: Dict[str, Any], on_piece: Callable[[str], None]
    ) -> str:
        """One sample, as ``generate.py`` with these settings and ``num_samples=1`` writes it (without its line
        end); each piece goes to ``on_piece`` as it is made."""
        with torch.inference_mode():
            prompt_ids = torch.tensor([self.codec.encode_prompt(prompt)])
            s = settings
            choose = chooser(self.codec, s["temperature"], s["top_k"], s["top_p"], s["seed"])
            return continue_prompt(
                self.network, self.codec, prompt, prompt_ids, condition, choose, s["max_new_tokens"], on_piece
            )


def _check_number(settings: Dict[str, Any], name: str, kind: Any, least: float) -> None:
    value = settings[name]
    if isinstance(value, bool) or not isinstance(value, kind) or value < least:
        what = "a whole number" if kind is int else "a number"
        raise RequestError(f"option {name!r} must be {what} >= {least}, got {value!r}")
