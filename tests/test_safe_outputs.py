"""Never lose a user's file (issue #24): an output is never a file the run reads (compared by identity, so another
spelling or a hard link is caught), files are written atomically (a failed write keeps the previous file), export
replaces nothing without overwrite=true and never the checkpoint, and OS errors (a full disk, a closed pipe, an
oversized CSV field) end as one line, or quietly for a closed pipe, never as a traceback."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_export import make_checkpoint

from seqkit.app.cli import report_errors
from seqkit.data.errors import DataError
from seqkit.safe_files import atomic_open, atomic_path, reading

REPO = Path(__file__).resolve().parents[1]
LINES = ["w1 w2 w3", "w4 w5", "w6 w7 w8 w9"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A one-step sentiment classifier (the application's prediction path reads it), trained once for the file."""
    return make_checkpoint(tmp_path_factory.mktemp("safe_outputs"), "sentiment")


@pytest.fixture
def notes(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    return path


def predict_cli(capsys, *args):
    """scripts/predict.py (seqkit.app.main.main, no Lightning) in this process -> (exit status, stderr lines)."""
    from seqkit.app.main import main

    try:
        main("predict", list(args))
        code = 0
    except SystemExit as e:
        code = e.code
    return code, capsys.readouterr().err.splitlines()


def loaded(checkpoint):
    """(network, codec) of the checkpoint, as the application's predict streams them."""
    from seqkit.app.checkpoint import load

    return load(str(checkpoint))


def run_script(name, *args, **popen):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    env.pop("SEQKIT_DEBUG", None)
    return subprocess.Popen([sys.executable, str(REPO / "scripts" / name), *args], env=env, text=True, **popen)


# ---- the output is not a file the run reads ----------------------------------------------------------------
def test_predict_refuses_an_output_that_is_its_input_under_any_name(checkpoint, notes, tmp_path, capsys, monkeypatch):
    """Today's bug: output=notes.txt with input=notes.txt emptied notes.txt."""
    monkeypatch.chdir(tmp_path)
    before = notes.read_bytes()
    os.link(notes, tmp_path / "alias.txt")
    (tmp_path / "sub").mkdir()
    for output in ("notes.txt", "./sub/../notes.txt", "alias.txt"):
        code, err = predict_cli(capsys, f"ckpt_path={checkpoint}", "input=notes.txt", f"output={output}")
        assert (code, err) == (1, [f"error: {output}: is the same file as the input notes.txt; choose another output"])
        assert notes.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alias.txt", "notes.txt", "sub"]  # no temporary file


def test_predict_refuses_an_output_that_is_its_checkpoint(checkpoint, notes, capsys):
    """Today's bug: output=model.ckpt replaced the checkpoint with JSON. Both ways in: the script's command line,
    and the command called with a config composed by Hydra."""
    from hydra import compose, initialize_config_dir

    from seqkit.app.predict import predict

    before = checkpoint.read_bytes()
    spelled = checkpoint.parent / "." / checkpoint.name
    code, err = predict_cli(capsys, f"ckpt_path={checkpoint}", f"input={notes}", f"output={spelled}")
    assert (code, err) == (
        1,
        [f"error: {spelled}: is the same file as the checkpoint {checkpoint}; choose another output"],
    )
    with initialize_config_dir(config_dir=str(REPO / "seqkit" / "configs"), version_base="1.3"):
        cfg = compose("predict", overrides=[f"ckpt_path={checkpoint}", f"input={notes}", f"output={checkpoint}"])
    with pytest.raises(DataError, match="is the same file as the checkpoint"):
        predict(cfg)
    assert checkpoint.read_bytes() == before


def test_a_plot_is_never_written_over_a_file_the_run_reads(checkpoint, notes, tmp_path):
    """options.plot (forecasters) is checked before any work; any atomic write inside ``reading`` (the attention
    heat maps of seq2seq) refuses those files too."""
    from seqkit.app.predict_stream import stream_predictions

    network, reader = loaded(checkpoint)
    with pytest.raises(DataError, match=f"^{checkpoint}: is the same file as the checkpoint"):
        stream_predictions(
            network, reader, str(notes), None, {"plot": str(checkpoint)}, reads={"checkpoint": str(checkpoint)}
        )
    with reading({"input": notes}), pytest.raises(DataError, match="is the same file as the input"):
        with atomic_path(tmp_path / "." / "notes.txt"):
            pass
    assert notes.read_text(encoding="utf-8").splitlines() == LINES


# ---- atomic writes ---------------------------------------------------------------------------------------------
def test_a_failed_prediction_write_keeps_the_previous_output(checkpoint, notes, tmp_path, monkeypatch):
    """A disk filling up after the first chunk: the previous output stays whole, no temporary file is left, and
    the error names the output (a bad input line, by contrast, publishes the predictions before it:
    tests/test_reliability_predict.py)."""
    import seqkit.app.predict_stream as stream

    out = tmp_path / "out.jsonl"
    out.write_text("yesterday's predictions\n", encoding="utf-8")
    write = stream._predict_chunk
    calls = []

    def filling(*args):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return write(*args)

    monkeypatch.setattr(stream, "_predict_chunk", filling)
    network, reader = loaded(checkpoint)
    with pytest.raises(DataError) as info:
        stream.stream_predictions(network, reader, str(notes), str(out), {}, chunk_lines=1)
    assert str(info.value) == f"{out}: cannot write the output: No space left on device"
    assert out.read_text(encoding="utf-8") == "yesterday's predictions\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "out.jsonl"]
    monkeypatch.setattr(stream, "_predict_chunk", write)
    assert stream.stream_predictions(network, reader, str(notes), str(out), {}, chunk_lines=1) == 3
    assert [json.loads(line)["text"] for line in out.read_text(encoding="utf-8").splitlines()] == LINES


def test_atomic_writes_keep_the_target_on_failure_and_its_link_and_mode_on_success(tmp_path):
    target = tmp_path / "data.json"
    target.write_text("old", encoding="utf-8")
    target.chmod(0o640)
    link = tmp_path / "link.json"
    link.symlink_to(target.name)
    with pytest.raises(KeyboardInterrupt):
        with atomic_open(link) as stream:
            stream.write("half of the new")
            raise KeyboardInterrupt
    assert target.read_text(encoding="utf-8") == "old"
    with atomic_open(link) as stream:
        stream.write("new")
    assert link.is_symlink() and target.read_text(encoding="utf-8") == "new"
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.json", "link.json"]
    with pytest.raises(DataError, match=f"^{tmp_path}: cannot write the output: Is a directory$"):
        with atomic_open(tmp_path):
            pass


# ---- export ----------------------------------------------------------------------------------------------------
def test_export_never_writes_over_its_checkpoint(checkpoint, tmp_path):
    """Today's bug: a checkpoint saved as model.pt, exported with format=torchscript and no output=, was replaced
    by the graph. overwrite=true does not change that."""
    from seqkit.app.export import export_checkpoint

    ckpt = tmp_path / "model.pt"
    ckpt.write_bytes(checkpoint.read_bytes())
    with pytest.raises(DataError) as info:
        export_checkpoint(str(ckpt), "torchscript")
    assert str(info.value) == (
        f"{ckpt}: the export's default name {ckpt} is the checkpoint itself; "
        "pass output=<file> to name the exported graph"
    )
    with pytest.raises(DataError, match=f"^{ckpt}: is the same file as the checkpoint {ckpt}; choose another output$"):
        export_checkpoint(str(ckpt), "torchscript", str(tmp_path / "." / "model"), overwrite=True)
    assert ckpt.read_bytes() == checkpoint.read_bytes() and sorted(tmp_path.iterdir()) == [ckpt]


def test_export_replaces_an_existing_file_only_with_overwrite(checkpoint, tmp_path):
    """An unrelated model.json beside the output stops the export (nothing written) until overwrite=true; the
    option is read from seqkit/configs/export.yaml through the script."""
    sidecar = tmp_path / "model.json"
    sidecar.write_text('{"mine": true}\n', encoding="utf-8")
    args = [f"ckpt_path={checkpoint}", "format=torchscript", f"output={tmp_path / 'model'}"]
    refused = run_script("export.py", *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = refused.communicate(timeout=120)
    assert refused.returncode == 1 and out == ""
    assert err.splitlines() == [
        f"error: {sidecar}: exists; pass overwrite=true to replace it, or choose another output="
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json"]  # the graph was not written either
    done = run_script("export.py", *args, "overwrite=true", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    assert json.loads(out) == {"model": str(tmp_path / "model.pt"), "sidecar": str(sidecar)}
    assert json.loads(sidecar.read_text(encoding="utf-8"))["seqkit_export"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.pt"]


# ---- OS errors are one line; a closed pipe is quiet --------------------------------------------------------------
@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_is_one_error_line(checkpoint, notes):
    done = run_script(
        "predict.py",
        f"ckpt_path={checkpoint}",
        f"input={notes}",
        "output=/dev/full",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = done.communicate(timeout=120)
    assert done.returncode == 1
    assert err.splitlines() == ["error: /dev/full: cannot write the output: No space left on device"]


def test_a_closed_standard_output_ends_quietly(checkpoint, tmp_path):
    """``predict.py ... | head -1``: exit status 141 (128 + SIGPIPE), as Unix tools end, and nothing on stderr."""
    source = tmp_path / "many.txt"
    source.write_text("w1 w2 w3\n" * 3000, encoding="utf-8")  # more than a pipe's buffer of predictions
    process = run_script(
        "predict.py", f"ckpt_path={checkpoint}", f"input={source}", stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    first = process.stdout.readline()
    process.stdout.close()
    err = process.stderr.read()
    process.wait(timeout=120)
    assert json.loads(first)["text"] == "w1 w2 w3"
    assert (process.returncode, err) == (141, "")


def test_an_os_error_anywhere_is_one_line(capsys, monkeypatch):
    def full(cfg):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "runs/x/metrics.csv")

    with pytest.raises(SystemExit) as exit_:
        report_errors(full)(None)
    assert exit_.value.code == 1
    assert capsys.readouterr().err.splitlines() == ["error: runs/x/metrics.csv: No space left on device"]
    monkeypatch.setenv("SEQKIT_DEBUG", "1")
    with pytest.raises(OSError):  # the traceback, for debugging
        report_errors(full)(None)


def test_an_oversized_csv_field_is_one_line_naming_file_and_line():
    from seqkit.data.timeseries import read_series

    lines = [(1, "month,value"), (2, "1949-01,112"), (3, "1949-02," + "1" * 140_000)]
    with pytest.raises(DataError) as info:
        read_series(lines, "series.csv", ["value"], "month")
    assert str(info.value) == "series.csv:3: cannot read the CSV line: field larger than field limit (131072)"
    with pytest.raises(DataError, match=r"^series.csv:1: cannot read the CSV line"):
        read_series([(1, "x" * 140_000)], "series.csv", ["value"])
