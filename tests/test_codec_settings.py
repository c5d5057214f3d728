"""One home per data setting (issue #25): a shape's codec lists its settings with their defaults (``defaults``) and
documents them; its data module restates none of them, refuses any other one in one line, and saves them all (the
checkpoint keeps the full settings). Every codec is a ``seqkit.data.codec.Codec``."""

from __future__ import annotations

import inspect

import pytest

import seqkit.tasks  # noqa: F401 (registers the built-in shapes)
from seqkit.app.cli import report_errors
from seqkit.data.codec import SHARED_DEFAULTS, Codec
from seqkit.data.codec_datamodule import LOADER_SETTINGS, CodecDataModule
from seqkit.tasks import registry
from seqkit.tasks.classification.datamodule import ClassificationDataModule
from seqkit.tasks.forecasting.datamodule import ForecastingDataModule


def datamodule_classes():
    return [registry.load(spec) for shape in registry.shapes() for spec in shape.datamodules]


def codec_classes():
    """The registered codecs (each shape's, and those that read its legacy data modules) and the data modules'."""
    specs = {spec for shape in registry.shapes() for spec in (shape.codec, *shape.legacy_codecs) if spec}
    return [registry.load(spec) for spec in sorted(specs)] + [cls.codec_class for cls in datamodule_classes()]


def as_saved(settings):
    """Settings as a data module saves them: sequences as (new) lists, as a config file gives them."""
    return {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in settings.items()}


def test_every_codec_is_a_codec():
    assert len(codec_classes()) >= 10
    for cls in codec_classes():
        assert issubclass(cls, Codec), f"{cls.__qualname__} does not subclass seqkit.data.codec.Codec"
        assert cls.defaults, f"{cls.__qualname__} lists no settings (defaults)"


def test_every_data_module_saves_its_codecs_full_default_settings():
    classes = datamodule_classes()
    assert {c.__name__ for c in classes} >= {
        "ClassificationDataModule",
        "AddingDataModule",
        "TaggingDataModule",
        "CopyMemoryDataModule",
        "LanguageModelingDataModule",
        "ConditionalLanguageModelingDataModule",
        "ParallelDataModule",
        "ForecastingDataModule",
    }
    for cls in classes:
        assert issubclass(cls, CodecDataModule)
        assert "def __init__" not in inspect.getsource(cls), f"{cls.__name__} restates its settings: see its codec"
        codec = cls.codec_class.defaults
        defaults = {**codec, **{k: LOADER_SETTINGS[k] for k in cls.loader_settings if k not in codec}}
        assert cls.default_settings() == defaults and set(cls.loader_settings) <= set(LOADER_SETTINGS)
        signature = inspect.signature(cls).parameters  # read from the codec (help(), seqkit.app.cli's option lists)
        assert {k: p.default for k, p in signature.items()} == defaults, cls.__name__
        dm = cls()
        assert dict(dm.hparams) == as_saved(defaults) and list(dm.hparams) == list(defaults), cls.__name__
        assert dm.codec_settings == as_saved(defaults), cls.__name__  # the checkpoint's "codec_settings"
        assert dict(dm.codec.hparams) == as_saved(defaults), cls.__name__
        key = next(iter(defaults))  # one given setting: the others keep their defaults
        given = cls(**{key: defaults[key]})
        assert dict(given.hparams) == dict(dm.hparams)


def test_the_saved_settings_are_those_the_data_modules_saved_before():
    """The keys (and order) each data module saved when it restated them in its constructor."""
    from seqkit.tasks.classification.datamodule import AddingDataModule
    from seqkit.tasks.language_model.datamodule import LanguageModelingDataModule

    loaders = ["root", "batch_size", "eval_batch_size", "bucketing", "num_workers"]
    text = ["train_path", "val_path", "test_path", "format", "builtin", "split", "split_seed", "tokenizer"]
    streaming = ["streaming", "shuffle_buffer"]  # seqkit.data.streaming, of the shapes whose files can stream
    classification = [*text, "min_freq", "max_vocab_size", "pretrained", "char_features", *streaming, *loaders]
    assert list(ClassificationDataModule().hparams) == classification
    assert list(AddingDataModule().hparams) == ["length", "train_size", "val_size", "test_size", "seed", *loaders]
    lm = ["train_path", "val_path", "test_path", "builtin", "level", "bptt", "bptt_jitter", "val_fraction"]
    assert list(LanguageModelingDataModule().hparams) == [*lm, "min_freq", "max_vocab_size", "seed", *loaders]
    forecast = dict(ForecastingDataModule().hparams)
    assert list(forecast)[-5:] == ["batch_size", "eval_batch_size", "num_workers", "train_path", "val_path"]
    assert (forecast["split"], forecast["eval_batch_size"], forecast["covariates"]) == (
        None,
        256,
        [],
    )  # split: from the data


def test_the_loader_settings_reach_the_loaders():
    dm = ClassificationDataModule(batch_size=7, bucketing=False, num_workers=0)
    assert (dm.batch_size, dm.eval_batch_size, dm.bucketing, dm.num_workers, dm.root) == (7, 7, False, 0, None)
    assert dm.codec.eval_batch_size == 7
    dm = ClassificationDataModule(batch_size=7, eval_batch_size=64, root="data", split=(0.5, 0.25, 0.25))
    assert (dm.batch_size, dm.eval_batch_size, dm.root) == (7, 64, "data")
    assert dm.hparams["split"] == [0.5, 0.25, 0.25]  # saved as a list, as before
    forecast = ForecastingDataModule()  # no bucketing setting: windows all have one length
    assert "bucketing" not in forecast.hparams and forecast.eval_batch_size == 256
    assert set(LOADER_SETTINGS) == {"root", "batch_size", "eval_batch_size", "bucketing", "num_workers"}


def test_a_misspelt_data_setting_is_one_line_naming_the_closest():
    with pytest.raises(ValueError) as info:
        ClassificationDataModule(batch_sise=8)
    assert str(info.value) == "unknown data option 'batch_sise' of ClassificationDataModule; did you mean 'batch_size'?"
    with pytest.raises(ValueError) as info:
        ForecastingDataModule(bucketing=False)  # a setting of other shapes, not this one's
    message = str(info.value)  # nothing close: every setting it takes
    assert message.startswith("unknown data option 'bucketing' of ForecastingDataModule; it takes: batch_size, ")
    assert "\n" not in message and "num_workers" in message
    with pytest.raises(ValueError) as info:
        ClassificationDataModule(zzzz=1)
    assert str(info.value).startswith(
        "unknown data option 'zzzz' of ClassificationDataModule; it takes: batch_size, bucketing, builtin,"
    )


def test_a_misspelt_data_setting_ends_a_script_with_one_error_line(capsys):
    main = report_errors(lambda cfg: ClassificationDataModule(**cfg))
    with pytest.raises(SystemExit) as info:
        main({"train_path": "x.tsv", "min_freqs": 2})
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err == "error: unknown data option 'min_freqs' of ClassificationDataModule; did you mean 'min_freq'?\n"


def test_every_setting_is_documented_on_its_codec():
    for cls in codec_classes():
        docs = " ".join(klass.__doc__ or "" for klass in cls.__mro__ if issubclass(klass, Codec))
        missing = [k for k in cls.defaults if k not in SHARED_DEFAULTS and k not in docs]
        assert not missing, f"{cls.__qualname__}'s docstring does not document {missing}"
