"""README/docs model tables come from a run's metadata by one command, and say only what is significant."""

from __future__ import annotations

import pytest

from training.report_tables import BLOCKS, main, replace_blocks, significant_claims


def _test(statistic: float | None, p_value: float | None) -> dict:
    return {"statistic": statistic, "p_value": p_value, "days": 100, "lags": 5, "mean_differential": 0.0}


def test_only_significant_differences_are_stated_as_differences() -> None:
    tests = {"h1": {"garch": {"nll": _test(-3.0, 0.003), "crps": _test(-1.0, 0.3)}},
             "h30": {"ewma": {"nll": _test(2.5, 0.01), "crps": _test(None, None)}}}
    assert significant_claims(tests) == [
        "- 1 day ahead, against garch: MGDL's NLL (p 0.003) significantly lower; CRPS (p 0.3) not distinguishable.",
        "- 30 days ahead, against ewma: MGDL's NLL (p 0.01) significantly higher; CRPS (p n/a) not distinguishable.",
    ]


def test_marked_blocks_are_replaced_and_the_rest_kept() -> None:
    text = "intro 1.23\n<!-- report:var -->\nold 9.99\n<!-- /report:var -->\noutro\n"
    assert replace_blocks(text, {"var": "new\n"}, "f.md") == "intro 1.23\n<!-- report:var -->\nnew\n<!-- /report:var -->\noutro\n"
    with pytest.raises(ValueError, match="unknown report block"):
        replace_blocks("<!-- report:nope -->\n<!-- /report:nope -->", {"var": ""}, "f.md")
    with pytest.raises(ValueError, match="no <!-- report"):
        replace_blocks("no blocks here", {"var": ""}, "f.md")


def test_the_command_writes_every_block_from_a_trained_run(tiny_run, tmp_path, capsys) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("".join(f"# {name}\n<!-- report:{name} -->\nstale\n<!-- /report:{name} -->\n" for name in BLOCKS))
    assert main([str(tiny_run.run_dir), "--write", str(doc)]) == 0
    written = doc.read_text()
    assert "stale" not in written and tiny_run.run_dir.name in written
    assert "| mgdl | 95% |" in written and "| 1 | garch |" in written and "| mgdl |" in written
    assert main([str(tmp_path / "no_run"), "--write", str(doc)]) == 2
    assert "no run metadata" in capsys.readouterr().err
