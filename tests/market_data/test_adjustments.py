"""Imports that adjust: the GPW archive's split back-adjusted, the stooq files left alone, level breaks
between raw and adjusted sources joined, ambiguous jumps quarantined, every adjustment in the change feed."""

import datetime
from pathlib import Path

import numpy as np
import pytest

from market_data.adjustments import plan_symbol
from market_data.bars import CLOSE, OPEN, VOLUME, BarSeries
from market_data.importer import import_paths
from market_data.sources import read_bar_file
from tests.fixtures.requirements import requirement_missing
from tests.market_data.conftest import REAL_DATA

GPW_ARCHIVE = REAL_DATA / "gpw_archive"
WIG = REAL_DATA / "indices" / "wig_d.csv"


@pytest.fixture(autouse=True)
def real_data() -> None:
    if not GPW_ARCHIVE.is_dir():
        requirement_missing(f"real data folder {REAL_DATA} is absent, adjustments on it are not tested")


def file_series(path: Path) -> BarSeries:
    return BarSeries.from_bars(read_bar_file(path).bars)


def write_stooq(path: Path, series: BarSeries) -> Path:
    lines = ["Data;Otwarcie;Najwyzszy;Najnizszy;Zamkniecie;Wolumen"]
    lines += [f"{d};{o!r};{h!r};{lo!r};{c!r};{v!r}" for d, (o, h, lo, c, v) in zip(series.dates, series.ohlcv.tolist(),
                                                                                  strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


async def test_the_gpw_archive_imports_strictly_with_the_apator_split_back_adjusted(any_store):
    report = await import_paths([WIG, GPW_ARCHIVE], any_store, strict=True)
    assert report.clean and not report.aborted
    (split,) = report.actions
    assert (split.symbol, split.ex_date, split.ratio, split.status) == ("APT", datetime.date(2006, 8, 21), 10, "active")
    raw = file_series(GPW_ARCHIVE / "APATOR.csv")
    stored = await any_store.read_range("APT")
    before = raw.dates < np.datetime64("2006-08-21")
    np.testing.assert_allclose(stored.close[before], raw.close[before] / 10)
    np.testing.assert_allclose(stored.volume[before], raw.volume[before] * 10)
    np.testing.assert_array_equal(stored.ohlcv[~before], raw.ohlcv[~before])
    assert np.max(np.abs(np.diff(np.log(stored.close)))) < 0.3  # the 228.5 -> 20.8 day is gone
    assert [(a.symbol, a.applied) for a in await any_store.corporate_actions()] == [("APT", 10.0)]
    changes = {c.symbol: c for c in await any_store.changes_since(0)}
    assert changes["APT"].kind == "adjustment" and changes["AMC"].kind == "bars"


async def test_the_stooq_files_import_without_any_action(embedded_store):
    report = await import_paths([WIG, REAL_DATA / "stooq"], embedded_store, strict=True)
    assert report.clean and report.actions == []
    assert await embedded_store.corporate_actions() == []
    assert any("large move kept as real: ECH 1996-10-28" in note for f in report.files for note in f.notes)


async def test_a_raw_store_topped_up_with_adjusted_stooq_bars_is_joined_at_the_seam(any_store):
    await import_paths([WIG, GPW_ARCHIVE / "AMICA.csv"], any_store)
    raw_last = (await any_store.list_symbols())["AMC"].last
    report = await import_paths([REAL_DATA / "stooq" / "AMC.csv"], any_store)
    levels = {a.ex_date: a for a in report.actions}
    seam = levels[datetime.date(2023, 5, 23)]  # the first stooq bar after the raw archive's last
    assert seam.kind == "level" and seam.ratio == pytest.approx(1.0709, abs=1e-4)
    assert levels[datetime.date(2005, 1, 3)].ratio == pytest.approx(1 / 1.5923, rel=1e-3)  # the older stooq bars
    stored = await any_store.read_range("AMC")
    at = np.searchsorted(stored.dates, np.datetime64(raw_last))
    seam_move = np.log(stored.close[at + 1] / stored.close[at])
    stooq = file_series(REAL_DATA / "stooq" / "AMC.csv")
    s = np.searchsorted(stooq.dates, np.datetime64(raw_last))
    assert seam_move == pytest.approx(np.log(stooq.close[s + 1] / stooq.close[s]), abs=1e-6)  # the real move only


async def test_an_adjusted_store_topped_up_with_raw_bars_is_joined_the_same_way(embedded_store, tmp_path):
    stooq = file_series(REAL_DATA / "stooq" / "AMC.csv")
    until_2020 = stooq.dates <= np.datetime64("2020-06-30")
    short = write_stooq(tmp_path / "AMC.csv", BarSeries("AMC", stooq.dates[until_2020], stooq.ohlcv[until_2020]))
    await import_paths([short], embedded_store)
    report = await import_paths([GPW_ARCHIVE / "AMICA.csv"], embedded_store)
    (level,) = report.actions
    assert (level.kind, level.status, level.ex_date) == ("level", "active", datetime.date(2020, 7, 1))
    assert level.ratio == pytest.approx(1 / 1.1866, rel=1e-3)  # stooq / raw in mid 2020


async def test_an_ambiguous_jump_quarantines_the_symbol_and_leaves_its_prices(embedded_store, tmp_path):
    series = file_series(REAL_DATA / "stooq" / "ABE.csv")
    t = 3000
    ohlcv = series.ohlcv.copy()
    ohlcv[:t, OPEN : CLOSE + 1] *= 5.0
    ohlcv[:t, VOLUME] /= 5.0 ** 0.25  # shares multiplied by a quarter of what a 1:5 split would
    path = write_stooq(tmp_path / "ABE.csv", BarSeries("ABE", series.dates, ohlcv))
    report = await import_paths([path], embedded_store)
    (action,) = report.actions
    assert (action.status, action.ratio, action.ex_date) == ("pending", 5.0, series.dates[t].item())
    assert report.files[0].quarantined == ["ABE"] and report.to_dict()["quarantined"] == ["ABE"]
    assert "ambiguous" in action.note
    np.testing.assert_array_equal((await embedded_store.read_range("ABE")).ohlcv, ohlcv)
    again = await import_paths([path], embedded_store)  # nothing new: nothing planned again
    assert again.actions == [] and [a.status for a in await embedded_store.corporate_actions()] == ["pending"]


async def test_raw_bars_backfilled_before_an_applied_split_are_brought_to_the_adjusted_basis(embedded_store, tmp_path):
    raw = file_series(GPW_ARCHIVE / "APATOR.csv")
    later = raw.dates >= np.datetime64("2005-06-01")
    await import_paths([WIG, write_stooq(tmp_path / "APT.csv", BarSeries("APT", raw.dates[later], raw.ohlcv[later]))],
                       embedded_store)
    (split,) = await embedded_store.corporate_actions()
    assert split.ex_date == datetime.date(2006, 8, 21)
    report = await import_paths([GPW_ARCHIVE / "APATOR.csv"], embedded_store)  # the raw file, from 2005-01-03
    (level,) = report.actions
    assert (level.kind, level.ex_date, level.ratio) == ("level", datetime.date(2005, 6, 1), pytest.approx(10.0))
    stored = await embedded_store.read_range("APT")
    np.testing.assert_allclose(stored.close[~later], raw.close[~later] / 10)


def test_a_plan_without_new_bars_does_nothing():
    series = file_series(GPW_ARCHIVE / "APATOR.csv")
    plan = plan_symbol(series, series, [], None)
    assert plan.actions == [] and plan.notes == [] and not plan.quarantined


async def test_a_store_without_corporate_actions_imports_the_bars_unjudged(tmp_path):
    from market_data.stores.embedded import EmbeddedBarStore
    from market_data.stores.postgres import ChangeFeedUnsupported

    class QuestDBLikeStore(EmbeddedBarStore):
        """A fake for what QuestDB answers (no QuestDB on this machine): no corporate-actions table."""

        async def corporate_actions(self, symbol=None):
            raise ChangeFeedUnsupported("QuestDB cannot record changes or rewrite prices in the bars' transaction")

    async with QuestDBLikeStore(tmp_path / "bars.sqlite3") as store:
        report = await import_paths([GPW_ARCHIVE / "APATOR.csv"], store)
        assert report.clean and report.actions == [] and report.totals["stored"] > 4000
        assert "APT: not judged for splits or level breaks: QuestDB cannot" in report.files[0].notes[-1]
