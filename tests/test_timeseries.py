"""Time-series data: the CSV reader's errors, chronological splits, windows, the train-only scaler, calendar."""

from datetime import datetime

import pytest
import torch

from seqkit.data.errors import DataError
from seqkit.data.textfile import read_lines
from seqkit.data.timeseries import (
    Scaler,
    calendar_features,
    evaluation_windows,
    future_times,
    infer_step,
    read_series,
    split_bounds,
    training_windows,
)
from seqkit.tasks.forecasting.datamodule import ForecastingDataModule


def write_series(path, values, start="2020-01-01 00:00:00", hours=1, extra=None):
    """A CSV ``time,value[,extra]`` of hourly rows."""
    t0 = datetime.fromisoformat(start)
    head = "time,value" + (",extra" if extra is not None else "")
    rows = [head]
    for i, v in enumerate(values):
        t = t0.timestamp() + 3600 * hours * i
        row = f"{datetime.fromtimestamp(t).strftime('%Y-%m-%d %H:%M:%S')},{v}"
        rows.append(row + (f",{extra[i]}" if extra is not None else ""))
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def read(path, columns=("value",), time_column="time"):
    return read_series(read_lines(path), str(path), list(columns), time_column)


# ---- reader errors: file, line, column ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cell, reason",
    [
        ("abc", "'abc' is not a number"),
        ("", "empty cell (fill empty cells with data.fill=linear)"),
        ("nan", "'nan' is not a finite number"),
    ],
)
def test_bad_cell_names_file_line_and_column(tmp_path, cell, reason):
    path = tmp_path / "s.csv"
    path.write_text(f"time,value\n2020-01-01,1\n2020-01-02,{cell}\n2020-01-03,3\n", encoding="utf-8")
    with pytest.raises(DataError) as e:
        read(path)
    assert str(e.value) == f"{path}:3: column 2 ('value'): {reason}"


def test_timestamps_not_increasing_name_the_line(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("time,value\n2020-01-01,1\n2020-01-03,2\n2020-01-02,3\n", encoding="utf-8")
    with pytest.raises(
        DataError,
        match=r"s\.csv:4: timestamp '2020-01-02' is not after the previous row's "
        r"\(2020-01-03, line 3\)",
    ):
        read(path)
    path.write_text("time,value\n2020-01-01,1\nsoon,2\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"s\.csv:3: column 1 \('time'\): 'soon' is not a timestamp"):
        read(path)


def test_unknown_column_lists_the_columns(tmp_path):
    path = write_series(tmp_path / "s.csv", [1, 2, 3])
    with pytest.raises(DataError, match=r"s\.csv:1: unknown column 'OT'; the file has columns \['time', 'value'\]"):
        read(path, columns=["OT"])


def test_wrong_field_count_names_the_line(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("time,value\n2020-01-01,1\n2020-01-02,2,7\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"s\.csv:3: expected 2 fields \(as the header\), found 3"):
        read(path)


def test_split_shorter_than_a_window_says_which_how_many_and_needs(tmp_path):
    path = write_series(tmp_path / "s.csv", range(1, 41))
    dm = ForecastingDataModule(
        path=str(path), time_column="time", target="value", split=[20, 10, 10], input_length=16, horizon=8
    )
    with pytest.raises(
        DataError,
        match=r"the train split has 20 rows; one window needs input_length \+ horizon = "
        r"16 \+ 8 = 24",
    ):
        dm.setup("fit")
    with pytest.raises(DataError, match=r"needs 50 rows; the file has 40"):
        split_bounds(40, [30, 10, 10], "s.csv")
    with pytest.raises(DataError, match=r"the test split has 5 rows from row 0; its first window needs 8 rows"):
        evaluation_windows(0, 5, 8, 4, name="test")


# ---- splits and windows ---------------------------------------------------------------------------------------


def test_split_bounds_are_consecutive_in_time_order():
    assert split_bounds(100, [70, 10, 20]) == {"train": (0, 70), "val": (70, 80), "test": (80, 100)}
    assert split_bounds(100, [0.7, 0.1, 0.2]) == {"train": (0, 70), "val": (70, 80), "test": (80, 100)}
    assert split_bounds(14400 + 3020, [8640, 2880, 2880])["test"] == (11520, 14400)  # ETTh1: the rest unused


def test_windows_never_cross_split_boundaries(tmp_path):
    L, H = 12, 5
    path = write_series(tmp_path / "s.csv", [float(i) for i in range(200)])
    dm = ForecastingDataModule(
        path=str(path),
        time_column="time",
        target="value",
        split=[120, 40, 40],
        input_length=L,
        horizon=H,
        scaler="none",
        eval_stride=1,
    )
    dm.setup("fit")
    bounds = {"train": (0, 120), "val": (120, 160), "test": (160, 200)}
    for name, (begin, end) in bounds.items():
        windows = dm.datasets[name]
        assert windows, name
        for w in windows:
            assert w.origin + w.steps <= end and w.origin >= begin  # every scored target in the split
            if name == "train":
                assert w.origin - L >= begin and w.steps == H  # training input and targets both in train
        # every origin with a whole horizon, in time order (validation/test: history may come from before)
        first = begin + L if name == "train" else begin
        assert [w.origin for w in windows] == list(range(first, end - H + 1))
        # the batch holds exactly rows [origin - L, origin) as input and [origin, origin + H) as targets
        batch = dm.codec.collate(windows, dm.codec.frames[name])
        origins = torch.tensor([w.origin for w in windows], dtype=torch.float32)
        assert torch.equal(batch.x[:, :, 0], origins[:, None] + torch.arange(-L, 0))
        assert torch.equal(batch.y[:, :, 0], origins[:, None] + torch.arange(H))
    assert all(w.origin >= 160 for w in dm.datasets["test"])


def test_a_split_shorter_than_the_horizon_is_scored_on_its_rows_only():
    windows = evaluation_windows(108, 120, 36, 24, name="val")  # AirPassengers: 12 validation months, horizon 24
    assert [(w.origin, w.steps) for w in windows] == [(108, 12)]
    rolled = evaluation_windows(120, 144, 36, 24, stride=6, partial=True)  # backtest every 6 rows
    assert [(w.origin, w.steps) for w in rolled] == [(120, 24), (126, 18), (132, 12), (138, 6)]
    assert [w.origin for w in training_windows(0, 108, 36, 24, stride=10)] == [36, 46, 56, 66, 76]
    cut = training_windows(0, 10, 4, 3, partial=True)  # also the windows cut at the end of the training rows
    assert [(w.origin, w.steps) for w in cut] == [(4, 3), (5, 3), (6, 3), (7, 3), (8, 2), (9, 1)]


def test_unscored_steps_are_zero_and_masked(tmp_path):
    path = write_series(tmp_path / "s.csv", [float(i + 1) for i in range(60)])
    dm = ForecastingDataModule(
        path=str(path), time_column="time", target="value", split=[40, 5, 15], input_length=8, horizon=10, scaler="none"
    )
    dm.setup("fit")
    batch = dm.codec.collate(dm.datasets["val"], dm.codec.frames["val"])
    assert batch.steps.tolist() == [5]
    assert batch.mask[0].tolist() == [True] * 5 + [False] * 5
    assert batch.y[0, :5, 0].tolist() == [41.0, 42.0, 43.0, 44.0, 45.0] and batch.y[0, 5:].abs().sum() == 0


def test_a_backtest_inside_the_training_rows_never_touches_the_later_rows():
    """task=forecast data.split=[84,24,0] (how the README compares AirPassengers recipes): train on 1949-55,
    validate one full-horizon forecast of 1956-57, and rows 108-143 (1958-60) are in no window at all."""
    dm = ForecastingDataModule(
        builtin="airpassengers",
        time_column="Month",
        target="Passengers",
        split=[84, 24, 0],
        input_length=36,
        horizon=24,
        season=12,
        log=True,
    )
    dm.setup("fit")
    assert "test" not in dm.datasets
    assert [(w.origin, w.steps) for w in dm.datasets["val"]] == [(84, 24)]
    assert max(w.origin + w.steps for w in dm.datasets["train"]) == 84
    assert dm.codec.rows == {"train": (0, 84), "val": (84, 108), "test": (108, 108)}


def test_a_window_batch_moves_as_one_piece(tmp_path):
    """Lightning moves any object with ``to`` whole (no deep copy of the dataclass each step): on its own
    device the batch comes back as itself; elsewhere every tensor moves and keeps its values' shape."""
    from lightning_fabric.utilities.apply_func import move_data_to_device

    path = write_series(tmp_path / "s.csv", [float(i + 1) for i in range(60)])
    dm = ForecastingDataModule(
        path=str(path),
        time_column="time",
        target="value",
        split=[40, 5, 15],
        input_length=8,
        horizon=4,
        scaler="none",
        calendar=["hour"],
    )
    dm.setup("fit")
    batch = dm.codec.collate(dm.datasets["train"][:3], dm.codec.frames["train"])
    assert move_data_to_device(batch, torch.device("cpu")) is batch
    moved = move_data_to_device(batch, torch.device("meta"))
    assert type(moved) is type(batch) and moved is not batch
    for name in ("x", "y", "future", "steps", "index"):
        a, b = getattr(batch, name), getattr(moved, name)
        assert b.device.type == "meta" and b.shape == a.shape and b.dtype == a.dtype


# ---- the scaler ----------------------------------------------------------------------------------------------


def test_scaler_is_fitted_on_the_training_rows_only(tmp_path):
    values = [float(i % 7) for i in range(70)] + [1000.0 + i for i in range(30)]  # val/test far away
    path = write_series(tmp_path / "s.csv", values)
    dm = ForecastingDataModule(
        path=str(path), time_column="time", target="value", split=[70, 15, 15], input_length=7, horizon=3
    )
    dm.setup("fit")
    train = torch.tensor(values[:70], dtype=torch.float64)
    assert dm.codec.scaler.shift == pytest.approx([train.mean().item()])
    assert dm.codec.scaler.scale == pytest.approx([train.std(unbiased=False).item()])
    scaled = dm.codec.frames["train"].scaled[:70, 0]
    assert scaled.mean().item() == pytest.approx(0, abs=1e-6) and scaled.std(unbiased=False).item() == pytest.approx(
        1, abs=1e-5
    )
    assert dm.codec.frames["test"].scaled[85:100, 0].min() > 100  # test rows far from 0: they were not fitted


def test_scaler_kinds_round_trip():
    x = torch.tensor([[1.0, 10.0], [3.0, 30.0], [9.0, 20.0]], dtype=torch.float64)
    for kind, log in (("standard", False), ("minmax", False), ("none", False), ("standard", True)):
        s = Scaler(kind, log).fit(x, ["a", "b"])
        assert torch.allclose(s.inverse(s.transform(x).double()), x, rtol=1e-5)
        restored = Scaler.from_dict(s.to_dict())
        assert torch.equal(restored.transform(x), s.transform(x))
    mm = Scaler("minmax").fit(x, ["a", "b"]).transform(x)
    assert mm.min(0).values.tolist() == [0, 0] and mm.max(0).values.tolist() == [1, 1]
    with pytest.raises(DataError, match="data.log=true needs positive values; column 'b' has -1"):
        Scaler("standard", log=True).fit(torch.tensor([[1.0, -1.0]]), ["a", "b"], "f.csv")


# ---- timestamps and calendar ---------------------------------------------------------------------------------


def test_step_future_times_and_calendar():
    months = [datetime(1960, m, 1) for m in range(1, 13)]
    assert infer_step(months) == {"months": 1}
    assert future_times(months[-1], {"months": 1}, 2) == [datetime(1961, 1, 1), datetime(1961, 2, 1)]
    hours = [datetime(2016, 7, 1, h) for h in range(5)]
    assert infer_step(hours) == {"seconds": 3600}
    assert future_times(hours[-1], {"seconds": 3600}, 1) == [datetime(2016, 7, 1, 5)]
    cal = calendar_features([datetime(2016, 7, 4, 0), datetime(2016, 7, 10, 23)], ["hour", "weekday", "month"])
    assert torch.allclose(cal, torch.tensor([[-0.5, -0.5, 6 / 11 - 0.5], [0.5, 0.5, 6 / 11 - 0.5]]))
    with pytest.raises(ValueError, match="unknown calendar feature 'minute'"):
        calendar_features(hours, ["minute"])


def test_features_ms_reads_every_column_and_state_is_plain_python(tmp_path):
    path = write_series(tmp_path / "s.csv", [float(i) for i in range(50)], extra=[float(-i) for i in range(50)])
    dm = ForecastingDataModule(
        path=str(path),
        time_column="time",
        target="value",
        features="MS",
        calendar=["hour"],
        split=[30, 10, 10],
        input_length=6,
        horizon=2,
    )
    dm.setup("fit")
    assert dm.codec.covariates == ["extra"]
    batch = dm.codec.collate(dm.datasets["train"][:2], dm.codec.frames["train"])
    assert batch.x.shape == (2, 6, 3) and batch.future.shape == (2, 2, 1) and batch.y.shape == (2, 2, 1)
    state = dm.state_dict()
    torch.save({"state": state}, tmp_path / "state.pt")
    assert torch.load(tmp_path / "state.pt", weights_only=True)["state"] == state
    restored = ForecastingDataModule(input_length=6, horizon=2)
    restored.load_state_dict(state)
    assert restored.codec.scaler.to_dict() == dm.codec.scaler.to_dict() and restored.codec.covariates == ["extra"]
    assert restored.codec.scaler.shift == pytest.approx([14.5, -14.5])  # the 30 training rows' means
