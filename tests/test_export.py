"""Exported graphs (ONNX through onnxruntime, TorchScript through torch.jit.load) give the eager model's
numbers within 1e-5 on variable-length batches of other sizes than the traced example, for every shape;
the masked recurrence they run equals packed sequences; CRF Viterbi on exported emissions equals the
model's decoding; bad arguments are one error line."""

from __future__ import annotations

import random
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from seqkit.app.checkpoint import load
from seqkit.app.export import export_checkpoint
from seqkit.export.masked import MaskedRecurrent
from seqkit.export.runtime import decode_tags, load_sidecar, onnx_session
from seqkit.nn import RecurrentEncoder

REPO = Path(__file__).resolve().parents[1]
TOL = 1e-5
LENGTHS = [9, 1, 4, 6]  # not the traced example's (3 sequences, longest 7)
WORDS = [f"w{i}" for i in range(30)]


# ---- tiny checkpoints, built from the task configs ----------------------------------------------------------
def _write(path: Path, lines) -> str:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def _texts(n, seed):
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 9))) for _ in range(n)]


def _data_overrides(task: str, folder: Path):
    if task in ("sentiment", "conditional_lm"):
        rows = [f"{t}\t{'pos' if i % 2 else 'neg'}" for i, t in enumerate(_texts(40, 1))]
        return [
            "data.builtin=null",
            f"data.train_path={_write(folder / 'train.tsv', rows)}",
            f"data.val_path={_write(folder / 'val.tsv', rows[:8])}",
        ]
    if task == "ner":
        rng, lines = random.Random(2), []
        for i in range(30):
            lines += ["Peter B-PER", "Blackburn I-PER"] if i % 2 else ["EU B-ORG"]
            lines += [f"{rng.choice(WORDS)} O" for _ in range(rng.randint(1, 6))] + [""]
        path = _write(folder / "train.conll", lines)
        return ["data.builtin=null", f"data.train_path={path}", f"data.val_path={path}", "embedding.pretrained=null"]
    if task == "lm":
        return ["data.builtin=null", f"data.train_path={_write(folder / 'text.txt', _texts(40, 3))}", "data.bptt=8"]
    if task == "g2p":
        rows = [f"{w}\t{' '.join(w.upper())}" for w in WORDS]
        return [
            "data.builtin=null",
            f"data.train_path={_write(folder / 'g2p.tsv', rows)}",
            f"data.val_path={folder / 'g2p.tsv'}",
        ]
    return ["data.input_length=12", "data.horizon=4", "data.season=4"]  # forecast: the shipped AirPassengers series


def checkpoint_name(variant) -> str:
    """A folder name for one task and its overrides."""
    return "_".join(re.sub(r"[^A-Za-z0-9]+", "-", part) for part in variant)


def make_checkpoint(folder: Path, task: str, *overrides: str) -> Path:
    """One training step of ``task=<task>`` with tiny sizes, saved as a checkpoint in ``folder``."""
    from hydra import compose, initialize_config_dir

    from seqkit.app.train import build

    folder.mkdir(parents=True, exist_ok=True)
    small = ["backbone.hidden_size=6", "embedding.dim=5", "seed=0"]
    with initialize_config_dir(config_dir=str(REPO / "seqkit" / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=[f"task={task}", *small, *_data_overrides(task, folder), *overrides])
    pl.seed_everything(0, verbose=False)
    datamodule = build(cfg.data)
    datamodule.setup("fit")
    model = build(cfg.model, **datamodule.model_kwargs())
    trainer = pl.Trainer(
        max_steps=1,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        default_root_dir=folder,
    )
    trainer.fit(model, datamodule=datamodule)
    path = folder / "model.ckpt"
    trainer.save_checkpoint(path, weights_only=True)
    return path


# ---- running the exported files -----------------------------------------------------------------------------
def run_exported(files, sidecar, graph: str, *inputs):
    """The graph's outputs for ``inputs`` (tensors, in the sidecar's input order) as a list of tensors."""
    spec = sidecar["graphs"][graph]
    path = Path(files[graph])
    if sidecar["format"] == "onnx":
        session = onnx_session(path)
        feed = {p["name"]: t.numpy() for p, t in zip(spec["inputs"], inputs)}
        return [torch.from_numpy(np.asarray(o)) for o in session.run(None, feed)]
    out = torch.jit.load(str(path))(*inputs)
    return list(out) if isinstance(out, tuple) else [out]


def assert_close(got, expected):
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape and g.dtype == e.dtype, (g.shape, e.shape, g.dtype, e.dtype)
        if e.dtype == torch.bool:
            assert torch.equal(g, e)
        else:
            assert float((g.double() - e.double()).abs().max()) <= TOL


def token_batch(vocab_size: int, lengths=LENGTHS, seed=5):
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    tokens = torch.randint(2, vocab_size, (len(lengths), int(lengths.max())), generator=gen)
    return tokens.masked_fill(torch.arange(tokens.size(1))[None] >= lengths[:, None], 0), lengths


def char_batch(num_chars: int, tokens, lengths, seed=6):
    gen = torch.Generator().manual_seed(seed)
    char_lengths = torch.randint(1, 8, tokens.shape, generator=gen)
    char_lengths = char_lengths.masked_fill(torch.arange(tokens.size(1))[None] >= lengths[:, None], 0)
    chars = torch.randint(2, num_chars, (*tokens.shape, 8), generator=gen)
    return chars.masked_fill(torch.arange(8)[None, None] >= char_lengths[..., None], 0), char_lengths


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("export")


FORMATS = ["onnx", "torchscript"]


def export_both(ckpt: Path, pretrained=None):
    """-> {format: (files, sidecar)} for ONNX and TorchScript exports of ``ckpt`` (trained with the vectors file
    ``pretrained``, if any: a checkpoint never names a file to read)."""
    out = {}
    for fmt in FORMATS:
        files = export_checkpoint(str(ckpt), fmt, str(ckpt.parent / f"exported_{fmt}" / "model"), pretrained=pretrained)
        out[fmt] = (files, load_sidecar(files["sidecar"]))
    return out


def loaded(ckpt: Path, pretrained=None):
    """(network in eval mode, codec) of ``ckpt``, as the export reads it (``seqkit.app.checkpoint.load``)."""
    return load(str(ckpt), **({"pretrained": pretrained} if pretrained else {}))


# ---- the masked recurrence ------------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_masked_recurrence_equals_packed_sequences(cell, bidirectional):
    """Outputs at real positions (zeros at padding) and final states equal RecurrentEncoder's packed run,
    from zeros and from a given initial state."""
    torch.manual_seed(0)
    encoder = RecurrentEncoder(5, 7, cell=cell, num_layers=2, bidirectional=bidirectional).eval()
    masked = MaskedRecurrent(encoder.rnn)
    x, lengths = torch.randn(4, 9, 5), torch.tensor(LENGTHS)
    x = x * (torch.arange(9)[None, :, None] < lengths[:, None, None])
    h0 = torch.randn(2 * (2 if bidirectional else 1), 4, 7)
    for state in (None, (h0, h0.flip(0)) if cell == "lstm" else h0):
        with torch.no_grad():
            expected, got = encoder(x, lengths, state), masked(x, lengths, state)
        flat = lambda r: [r[0], *(r[1] if isinstance(r[1], tuple) else (r[1],))]
        assert_close(flat(got), flat(expected))
        # padding really is padding: changing it changes nothing
        noisy = x + torch.randn_like(x) * (torch.arange(9)[None, :, None] >= lengths[:, None, None])
        with torch.no_grad():
            assert_close(flat(masked(noisy, lengths, state)), flat(expected))


# ---- one test per shape -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "variant",
    [
        ("sentiment", "backbone.bidirectional=true", "model.pooling=last"),
        ("sentiment", "backbone=gru", "model.pooling=attention", "data.char_features=true", "model.char_encoder=lstm"),
    ],
)
def test_classifier_logits_match_eager(folder, variant):
    ckpt = make_checkpoint(folder / checkpoint_name(variant), *variant)
    network, _ = loaded(ckpt)
    tokens, lengths = token_batch(network.vocab_size)
    inputs = [tokens, lengths]
    if network.chars is not None:
        inputs += char_batch(network.num_chars, tokens, lengths)
    with torch.no_grad():
        expected = network(*inputs)
    for fmt, (files, sidecar) in export_both(ckpt).items():
        assert [p["name"] for p in sidecar["graphs"]["model"]["inputs"]][:2] == ["tokens", "lengths"]
        assert sidecar["data"]["state"]["labels"]["itos"] == ["neg", "pos"]
        assert_close(run_exported(files, sidecar, "model", *inputs), [expected])
        one = [t[1:2, : int(lengths[1])] for t in inputs[:1]] + [lengths[1:2]] + [t[1:2, :1] for t in inputs[2:]]
        assert_close(run_exported(files, sidecar, "model", *one), [expected[1:2]])  # batch 1, one token


@pytest.mark.parametrize(
    "variant",
    [
        # the checkpoint's bias decodes the export (one BiLSTM layer: this tiny model's tags move with the bias)
        ("ner", "model.outside_bias=2.0", "backbone.num_layers=1", "backbone.dropout=0.0", "model.char_encoder=cnn"),
        ("ner", "model.char_encoder=lstm", "model.head=softmax", "backbone.num_layers=2", "backbone=gru", "+vectors"),
        ("ner", "model.char_encoder=none", "model.casing=true"),  # the graph reads characters for the casing alone
        ("ner", "model.char_encoder=cnn+lstm", "++model.char.cnn.num_filters=4", "++model.char.lstm.hidden_size=3"),
    ],
)
def test_tagger_emissions_and_decoded_tags_match_eager(folder, variant):
    """With pretrained vectors (+vectors), ids past the training vocabulary read their vectors inside the
    graph, and the sidecar lists the vectors' words those ids stand for."""
    overrides, vectors = list(variant[:-1]), None
    if variant[-1] == "+vectors":
        (folder / "vectors").mkdir(exist_ok=True)
        rows = [
            f"{w} " + " ".join(f"{(i * 7 + j) % 11 / 10 - 0.5:.2f}" for j in range(4))
            for i, w in enumerate(["zebra", "Peter", "quokka", "w3", "yak"])
        ]
        vectors = _write(folder / "vectors" / "tiny.txt", rows)
        overrides.append(f"embedding.pretrained={vectors}")
    else:
        overrides.append(variant[-1])
    ckpt = make_checkpoint(folder / checkpoint_name(variant), *overrides)
    network, codec = loaded(ckpt, vectors)
    pretrained_words = codec.network_kwargs().get("pretrained_words", 0)  # the vectors' words, read again
    assert pretrained_words == (5 if vectors else 0)
    tokens, lengths = token_batch(network.vocab_size + pretrained_words)
    chars, char_lengths = char_batch(network.num_chars, tokens, lengths)
    batch = SimpleNamespace(tokens=tokens, lengths=lengths, chars=chars, char_lengths=char_lengths)
    mask = torch.arange(tokens.size(1))[None] < lengths[:, None]
    with torch.no_grad():
        expected = network.scores(batch)
        expected_tags = network.decode(expected, mask)
    names, bias = network.tags, network.decode_settings["outside_bias"]
    assert bias == (2.0 if "model.outside_bias=2.0" in variant else 0.0)  # kept in the checkpoint
    if bias:  # the bias changes tags here, so the runtime's tags below prove it applies it
        network.predict_options({"outside_bias": 0.0})
        assert not torch.equal(network.decode(expected, mask), expected_tags)
    for fmt, (files, sidecar) in export_both(ckpt, vectors).items():
        (emissions,) = run_exported(files, sidecar, "model", tokens, lengths, chars, char_lengths)
        assert_close([emissions], [expected])
        assert sidecar["decoding"]["method"] == ("viterbi" if network.crf is not None else "argmax")
        assert sidecar["decoding"]["outside_bias"] == bias
        if pretrained_words:
            assert sidecar["data"]["pretrained_words"] == ["zebra", "Peter", "quokka", "w3", "yak"]
            assert int(tokens.max()) >= network.vocab_size  # the batch has words only the vectors know
        decoded = decode_tags(sidecar, emissions.numpy(), lengths.numpy())
        assert decoded == [[names[i] for i in row[: int(n)]] for row, n in zip(expected_tags.tolist(), lengths)]


def test_numpy_viterbi_is_the_crf_viterbi_under_constraints():
    """The runtime's numpy Viterbi picks the CRF's best path (IOB2 constraints included) on random scores."""
    from seqkit.export.runtime import viterbi
    from seqkit.nn import CRF, iob_constraints

    torch.manual_seed(3)
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    crf = CRF(len(tags), iob_constraints(tags))
    with torch.no_grad():
        crf.transitions.normal_()
    emissions, lengths = torch.randn(6, 8, len(tags)) * 3, torch.tensor([8, 1, 2, 5, 7, 3])
    mask = torch.arange(8)[None] < lengths[:, None]
    trans, start, end = crf._effective(torch.float32)
    got = viterbi(
        emissions.numpy(), lengths.numpy(), trans.detach().numpy(), start.detach().numpy(), end.detach().numpy()
    )
    assert np.array_equal(got, crf.viterbi(emissions, mask)[0].numpy())


@pytest.mark.parametrize("variant", [("lm", "backbone.num_layers=2"), ("conditional_lm", "backbone=gru")])
def test_language_model_step_matches_eager_and_the_whole_sequence(folder, variant):
    """Stepping the exported graph over a prompt gives the model's step logits and states at every step, and
    the logits of one forward pass over the whole prompt (the state carried outside the graph)."""
    ckpt = make_checkpoint(folder / checkpoint_name(variant), *variant)
    network, _ = loaded(ckpt)
    prompt, _ = token_batch(network.vocab_size, [6, 6, 6])
    condition = torch.tensor([0, 1, 0]) if network.num_conditions else None
    with torch.no_grad():
        whole, _ = network(prompt, torch.full((3,), 6), condition=condition)
    for fmt, (files, sidecar) in export_both(ckpt).items():
        if condition is not None:
            state = run_exported(files, sidecar, "start", condition)
            with torch.no_grad():
                expected = network.initial_state(condition)
            assert_close(state, list(expected) if isinstance(expected, tuple) else [expected])
        else:
            assert sidecar["decoding"]["initial_state"] == "zeros"
            s = network.encoder.initial_state(3)
            state = list(s) if isinstance(s, tuple) else [s]
        eager_state = tuple(state) if len(state) == 2 else state[0]
        for t in range(6):
            extra = [condition] if condition is not None else []
            logits, *state = run_exported(files, sidecar, "step", prompt[:, t], *state, *extra)
            with torch.no_grad():
                expected, eager_state = network.step(prompt[:, t], eager_state, condition)
            flat = list(eager_state) if isinstance(eager_state, tuple) else [eager_state]
            assert_close([logits, *state], [expected, *flat])
            assert_close([logits], [whole[:, t]])


@pytest.mark.parametrize(
    "variant",
    [
        ("g2p",),  # bidirectional LSTM encoder, dot attention, bridge
        ("g2p", "backbone=gru", "model.attention=additive", "model.input_feeding=true", "backbone.num_layers=2"),
        ("g2p", "model.attention=none", "backbone.bidirectional=false"),
    ],
)
def test_seq2seq_encoder_and_decoder_step_match_eager(folder, variant):
    ckpt = make_checkpoint(folder / checkpoint_name(variant), *variant)
    network, _ = loaded(ckpt)
    source, lengths = token_batch(network.source_vocab_size)
    with torch.no_grad():
        eager = network.encode(source, lengths)
    for fmt, (files, sidecar) in export_both(ckpt).items():
        names = [p["name"] for p in sidecar["graphs"]["encoder"]["outputs"]]
        state = run_exported(files, sidecar, "encoder", source, lengths)
        rnn, feed, memory, keys, mask = eager
        expected = [*(rnn if isinstance(rnn, tuple) else (rnn,)), feed, memory, keys, mask]
        assert_close(state, [t for t in expected if t is not None])
        ids, eager_state = torch.full((4,), sidecar["decoding"]["bos_index"]), eager
        recurrent = [n for n in names if n in ("h", "c", "feed")]
        for _ in range(4):  # greedy steps: each output fed back, the recurrent state carried outside the graph
            logits, *rest = run_exported(files, sidecar, "decoder_step", ids, *state)
            with torch.no_grad():
                expected_logits, eager_state, weights = network.decoder.step_with_attention(ids, eager_state)
            new_rnn, new_feed = eager_state[0], eager_state[1]
            expected_rest = [*(new_rnn if isinstance(new_rnn, tuple) else (new_rnn,))]
            expected_rest += [new_feed] if new_feed is not None else []
            expected_rest += [weights] if weights is not None else []
            assert_close([logits, *rest], [expected_logits, *expected_rest])
            state = rest[: len(recurrent)] + state[len(recurrent) :]
            ids = expected_logits.argmax(-1)


@pytest.mark.parametrize(
    "variant",
    [
        ("forecast",),  # direct head: calendar features in the window only (it has no future input)
        ("forecast", "model.head=recursive", "model.loss=quantile", "data.calendar=[]"),
        ("forecast", "model.highway=linear", "model.head=seq2seq"),  # future calendar features, a highway
        ("forecast", "model.head=seq2seq", "model.loss=gaussian", "backbone=gru"),
    ],
)
def test_forecaster_matches_eager(folder, variant):
    ckpt = make_checkpoint(folder / checkpoint_name(variant), *variant)
    net, _ = loaded(ckpt)
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(5, net.input_length, net.n_past + net.n_calendar, generator=gen)
    future = torch.randn(5, net.horizon, net.n_calendar, generator=gen)
    with torch.no_grad():
        out = net(x, future)
    for fmt, (files, sidecar) in export_both(ckpt).items():
        inputs = [x, future] if net.n_calendar and net.head != "direct" else [x]
        assert [p["name"] for p in sidecar["graphs"]["model"]["outputs"]] == list(out)
        assert "scaler" in sidecar["data"]["state"]
        assert_close(run_exported(files, sidecar, "model", *inputs), list(out.values()))


# ---- errors ---------------------------------------------------------------------------------------------------
def test_bad_format_and_bad_checkpoint_are_one_error_line(tmp_path, capsys):
    """Raised before anything is written, and printed by the scripts' error wrapper as one line (the README
    test runs scripts/export.py format=tflite itself)."""
    from seqkit.app.cli import report_errors
    from seqkit.data.errors import DataError

    with pytest.raises(ValueError, match="format=tflite: choose one of onnx, torchscript"):
        export_checkpoint(str(tmp_path / "x.ckpt"), "tflite")
    with pytest.raises(DataError, match="checkpoint not found"):
        export_checkpoint(str(tmp_path / "missing.ckpt"), "onnx")
    text = tmp_path / "notes.ckpt"
    text.write_text("not a checkpoint\n")
    with pytest.raises(SystemExit) as exit_:
        report_errors(lambda cfg: export_checkpoint(str(text), "onnx"))(None)
    assert exit_.value.code == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"error: {text}: is corrupted or not a checkpoint (its contents cannot be read)"
    ]
    assert list(tmp_path.iterdir()) == [text]  # nothing written


def test_one_graph_written_in_both_formats_keeps_dropout_off(tmp_path):
    """The ONNX exporter restores the training mode it found; a graph written again afterwards (the
    benchmark writes both formats from one graph) must still be the eval-mode model, dropout off."""
    from seqkit.export.exporter import write_graph
    from seqkit.tasks.classification.export import graphs
    from seqkit.tasks.classification.network import ClassifierNetwork

    torch.manual_seed(0)
    model = ClassifierNetwork(
        vocab_size=20,
        num_classes=3,
        embedding_dim=4,
        embedding_dropout=0.5,
        dropout=0.5,
        backbone={"hidden_size": 5, "bidirectional": True},
    ).eval()
    graph = graphs(model)[0]
    write_graph(graph, tmp_path / "m.onnx", "onnx")
    write_graph(graph, tmp_path / "m.pt", "torchscript")
    tokens, lengths = token_batch(20)
    with torch.no_grad():
        expected = model(tokens, lengths)
        assert_close([torch.jit.load(str(tmp_path / "m.pt"))(tokens, lengths)], [expected])
    got = onnx_session(tmp_path / "m.onnx").run(None, {"tokens": tokens.numpy(), "lengths": lengths.numpy()})[0]
    assert_close([torch.from_numpy(got)], [expected])
