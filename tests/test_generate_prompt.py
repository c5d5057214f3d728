"""A prompt with line ends: ``prompt=`` reads ``\\n`` (a line end), ``\\t`` and ``\\\\``, as a shell passes them
through Hydra; ``prompt_file=`` takes a file's text; the model is fed (and the output echoes) the real line end."""

from __future__ import annotations

import pytest
import torch

from seqkit.app.config import compose
from seqkit.app.generate import generate_with, read_prompt
from seqkit.data.errors import DataError
from seqkit.tasks.language_model.datamodule import LanguageModelingDataModule
from seqkit.training import TaskModule


def prompt_of(*args):
    return read_prompt(compose("generate", ["ckpt_path=x", *args]))


def test_escapes_in_prompt_become_line_ends_tabs_and_backslashes():
    assert prompt_of(r"prompt=ROMEO:\nJULIET:") == "ROMEO:\nJULIET:"  # what `prompt='ROMEO:\nJULIET:'` passes
    assert prompt_of(r"prompt='to\tbe'") == "to\tbe"
    assert prompt_of(r"prompt='a\\nb'") == "a\\nb"  # an escaped backslash: the n stays a letter
    assert prompt_of(r"prompt='C:\data'") == "C:\\data"  # any other backslash is kept as written


def test_prompt_file_is_read_whole(tmp_path):
    path = tmp_path / "prompt.txt"
    path.write_text("to be\nor not\n\n", encoding="utf-8")
    assert prompt_of(f"prompt_file={path}") == "to be\nor not\n"  # the last line end dropped, an empty line kept
    with pytest.raises(ValueError, match="give prompt= or prompt_file=, not both"):
        prompt_of(f"prompt_file={path}", "prompt=to")
    with pytest.raises(DataError, match="file not found"):
        prompt_of(f"prompt_file={tmp_path / 'missing.txt'}")


def test_the_model_reads_and_echoes_the_line_end(tmp_path, capsys):
    """An untrained char-level model (no training needed to read a prompt): the line end is one of the prompt's
    ids, the output echoes it, and prompt_file= gives the same ids and the same greedy text."""
    (tmp_path / "train.txt").write_text("to be or not to be\nthat is the question\n" * 4, encoding="utf-8")
    data = LanguageModelingDataModule(train_path=str(tmp_path / "train.txt"), bptt=8, batch_size=2)
    data.setup("fit")
    torch.manual_seed(0)
    network = TaskModule("language_model", **data.model_kwargs(), embedding_dim=4, backbone={"hidden_size": 4}).network
    network.eval()
    cfg = compose("generate", ["ckpt_path=x", r"prompt=to be\nthat", "max_new_tokens=3", "temperature=0"])
    ids = data.codec.encode_prompt(read_prompt(cfg))
    assert data.codec.vocab.stoi["\n"] in ids and len(ids) == 1 + len("to be\nthat")
    (text,) = generate_with(cfg, network, data.codec)
    assert text.startswith("to be\nthat") and len(text) == len("to be\nthat") + 3
    assert capsys.readouterr().out.startswith("to be\nthat")
    (tmp_path / "p.txt").write_text("to be\nthat\n", encoding="utf-8")
    cfg = compose("generate", ["ckpt_path=x", f"prompt_file={tmp_path / 'p.txt'}", "max_new_tokens=3", "temperature=0"])
    assert generate_with(cfg, network, data.codec) == [text]
