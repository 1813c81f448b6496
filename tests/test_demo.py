import json

import pytest
from typer.testing import CliRunner

from edgeseg.cli import app
from edgeseg.cli.demo import MARKER, _fresh
from edgeseg.errors import EdgesegError

runner = CliRunner()


@pytest.mark.slow
def test_quick_demo_runs_the_whole_pipeline(tmp_path):
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--quick", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = [r for r in json.loads((out / "bench" / "results.json").read_text())["rows"] if r["status"] == "ok"]
    measured = {(r["variant"], r["precision"]) for r in rows if r["backend"] == "ort-cpu"}
    assert measured == {(f"L{k}", p) for k in range(1, 5) for p in ("fp32", "int8")}
    assert all(r["throughput"] > 0 and 0.0 <= r["iou"] <= 1.0 for r in rows)
    assert {r["backend"] for r in rows} == {"torch", "ort-cpu"}
    assert (out / "bench" / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "pareto plot:" in result.output


def test_a_previous_demo_folder_is_replaced_and_any_other_folder_is_kept(tmp_path):
    demo = tmp_path / "demo"
    _fresh(demo)
    (demo / "train").mkdir()
    _fresh(demo)
    assert sorted(p.name for p in demo.iterdir()) == [MARKER]

    other = tmp_path / "other"
    other.mkdir()
    (other / "mine.txt").write_text("keep me")
    with pytest.raises(EdgesegError, match="not a demo run folder"):
        _fresh(other)
    assert (other / "mine.txt").read_text() == "keep me"
    result = runner.invoke(app, ["demo", "--quick", "--out", str(other)])
    assert result.exit_code == 2 and "not a demo run folder" in result.output
