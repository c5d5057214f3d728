"""Issue 26's recall knob: ``outside_bias`` is subtracted from the O tag's emission score before decoding (Viterbi
with the CRF, argmax with softmax). 0 decodes as before; a large bias leaves no O where the CRF allows another tag;
``seqkit evaluate`` and ``seqkit predict`` take ``options.outside_bias`` over the checkpoint's ``model.outside_bias``;
bad values are one error line."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from seqkit.app.checkpoint import load
from seqkit.app.main import main
from seqkit.tasks.tagging.network import TaggerNetwork

LEGACY_NER = Path(__file__).resolve().parent / "legacy" / "ner"  # tags B-LOC, B-PER, I-LOC, O; no outside_bias
TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def _network(head="crf", scheme="iob2", tags=TAGS, **kwargs):
    torch.manual_seed(0)
    network = TaggerNetwork(vocab_size=7, tags=tags, scheme=scheme, char_encoder="none", head=head, **kwargs)
    if network.crf is not None:
        with torch.no_grad():
            network.crf.transitions.normal_()
    return network.eval()


def _emissions():
    torch.manual_seed(1)
    lengths = torch.tensor([6, 1, 4, 6])
    return torch.randn(4, 6, len(TAGS)) * 3, torch.arange(6)[None] < lengths[:, None]


# ---- the network's decode: the one home of the bias ------------------------------------------------------------
@pytest.mark.parametrize("head", ["crf", "softmax"])
def test_no_bias_decodes_as_before_and_a_bias_is_the_O_scores_shifted(head):
    network, (emissions, mask) = _network(head), _emissions()
    if head == "crf":
        before = network.crf.viterbi(emissions, mask)[0]
    else:
        before = emissions.argmax(-1).masked_fill(~mask, 0)
    assert torch.equal(network.decode(emissions, mask), before)
    network.predict_options({"outside_bias": 2.5})
    shifted = emissions.clone()
    shifted[..., TAGS.index("O")] -= 2.5
    assert torch.equal(network.decode(emissions, mask), _network(head).decode(shifted, mask))
    assert not torch.equal(network.decode(emissions, mask), before)  # the bias changed some tags


@pytest.mark.parametrize("head", ["crf", "softmax"])
def test_a_large_bias_makes_every_token_an_entity_within_the_scheme(head):
    """Every position may be B-X under IOB2, so no real token keeps O; the CRF still forbids O -> I-X."""
    network, (emissions, mask) = _network(head, outside_bias=1000.0), _emissions()
    tags = network.decode(emissions, mask)
    assert not (tags[mask] == TAGS.index("O")).any()
    if head == "crf":
        names = [[TAGS[i] for i in row[: int(n)]] for row, n in zip(tags.tolist(), mask.sum(1).tolist())]
        for row in names:
            for before, tag in zip(["O", *row], row):
                assert not tag.startswith("I-") or before[2:] == tag[2:], row


def test_bad_values_are_refused_naming_the_setting():
    with pytest.raises(ValueError, match=r"^model.outside_bias must be a number >= 0 .*got -0.5$"):
        _network(outside_bias=-0.5)
    with pytest.raises(
        ValueError, match=r"^model.outside_bias needs an O tag .*data.scheme=none\) have none: model.outside_bias=0$"
    ):
        _network(scheme="none", tags=["NN", "VB", "O"], outside_bias=1.0)
    assert _network(scheme="none", tags=["NN", "VB"]).decode_settings == {"outside_bias": 0.0}  # 0: any tags
    network = _network()
    with pytest.raises(ValueError, match=r"^options.outside_bias must be a number >= 0 .*got inf$"):
        network.predict_options({"outside_bias": float("inf")})
    with pytest.raises(ValueError, match=r"^options.outside_bias must be a number >= 0 .*got 'lots'$"):
        network.predict_options({"outside_bias": "lots"})
    assert network.predict_options({"outside_bias": 1, "output_format": "conll"}) == {"output_format": "conll"}
    assert network.decode_settings == {"outside_bias": 1.0}


# ---- the commands: a legacy checkpoint (no outside_bias saved) ---------------------------------------------------
@pytest.fixture
def legacy(tmp_path):
    folder = tmp_path / "ner"
    shutil.copytree(LEGACY_NER, folder)
    return folder


def _predict(folder, *options):
    out = folder / f"out{len(list(folder.glob('out*')))}.jsonl"
    args = [f"ckpt_path={folder / 'model.ckpt'}", f"input={folder / 'data' / 'val.conll'}", f"output={out}"]
    main("predict", [*args, "threads=1", "options.input_format=conll", *options])
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def test_evaluate_and_predict_take_options_outside_bias(legacy, capsys):
    evaluate = [f"ckpt_path={legacy / 'model.ckpt'}", f"data.test_path={legacy / 'data' / 'val.conll'}", "threads=1"]
    golden = json.loads((legacy / "evaluate.golden").read_text(encoding="utf-8"))
    assert main("evaluate", [*evaluate, "options.outside_bias=0.0"]) == golden
    assert load(str(legacy / "model.ckpt"))[0].decode_settings == {"outside_bias": 0.0}  # as trained
    biased = main("evaluate", [*evaluate, "options.outside_bias=1000"])
    capsys.readouterr()
    assert biased != golden
    assert _predict(legacy) == _predict(legacy, "options.outside_bias=0")
    rows = _predict(legacy, "options.outside_bias=1000")
    assert rows != _predict(legacy) and all("O" not in row["tags"] for row in rows)
    gold = [line.split()[-1] for line in (legacy / "data" / "val.conll").read_text().splitlines() if line.strip()]
    predicted = [tag for row in rows for tag in row["tags"]]
    assert biased["test/acc"] == round(sum(p == g for p, g in zip(predicted, gold)) / len(gold), 6)


def test_a_bad_option_is_one_error_line(legacy, capsys):
    with pytest.raises(SystemExit) as done:
        main(
            "evaluate",
            [
                f"ckpt_path={legacy / 'model.ckpt'}",
                f"data.test_path={legacy / 'data' / 'val.conll'}",
                "options.outside_bias=-1",
            ],
        )
    assert done.value.code == 1
    assert capsys.readouterr().err == (
        "error: options.outside_bias must be a number >= 0 (subtracted from the O tag's score), got -1\n"
    )
