"""Every published number is rendered from measured JSON: the committed Markdown (bench/results/*.md,
docs/results.md, README.md's winners table) must equal a fresh ``python bench/render.py`` render."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import render  # noqa: E402


def test_committed_markdown_equals_a_fresh_render():
    """``python bench/render.py --check``: a hand edit of any rendered file fails ``make test``."""
    stale = render.stale(render.render_all())
    assert not stale, f"re-render needed (python bench/render.py): {[str(p.relative_to(REPO)) for p in stale]}"


def _copy(tmp_path: Path) -> tuple[Path, Path]:
    results = tmp_path / "bench" / "results"
    results.mkdir(parents=True)
    for p in (REPO / "bench" / "results").glob("*.json"):
        shutil.copy(p, results / p.name)
    (tmp_path / "docs").mkdir()
    shutil.copy(REPO / "README.md", tmp_path / "README.md")
    return results, tmp_path


def test_check_catches_a_hand_edit_and_a_changed_measurement(tmp_path, capsys):
    results, repo = _copy(tmp_path)
    for path, text in render.render_all(results, repo).items():
        path.write_text(text)
    assert render.stale(render.render_all(results, repo)) == []
    md = results / "runner.md"
    md.write_text(md.read_text().replace("| 1 worker |", "| 1 worker (hand edit) |"))
    assert render.stale(render.render_all(results, repo)) == [md]
    md.write_text(render.render_all(results, repo)[md])
    data = json.loads((results / "suite.json").read_text())
    data[0]["verdicts"][0]["winner"] = "hand_picked"
    (results / "suite.json").write_text(json.dumps(data))
    assert set(render.stale(render.render_all(results, repo))) == {
        results / "suite.md", repo / "docs" / "results.md", repo / "README.md"}
    assert "**hand_picked**" in render.render_all(results, repo)[repo / "README.md"]


def test_a_results_file_without_a_renderer_is_an_error(tmp_path):
    results, repo = _copy(tmp_path)
    (results / "unknown_bench.json").write_text("{}")
    try:
        render.render_all(results, repo)
    except SystemExit as exc:
        assert "no renderer for bench/results/unknown_bench.json" in str(exc)
    else:
        raise AssertionError("an unregistered results file must not be skipped silently")


def test_check_catches_a_hand_edit_of_a_generated_doc_block(tmp_path):
    """docs/randomization.md and docs/progressive.md carry their numbers in ``<!-- render:NAME -->`` blocks."""
    results, repo = _copy(tmp_path)
    for doc in ("randomization.md", "progressive.md"):
        shutil.copy(REPO / "docs" / doc, repo / "docs" / doc)
    for path, text in render.render_all(results, repo).items():
        path.write_text(text)
    doc = repo / "docs" / "progressive.md"
    text = doc.read_text()
    start, end = text.index("<!-- render:progressive_forgetting -->"), text.index("<!-- /render:progressive_forgetting -->")
    assert "| source task, fine-tuned |" in text[start:end]
    doc.write_text(text[:start] + text[start:end].replace("| source task, fine-tuned |", "| fine-tuned (edited) |")
                   + text[end:])
    assert render.stale(render.render_all(results, repo)) == [doc]
    doc.write_text(text.replace("<!-- render:progressive_cost -->", "<!-- render:nope -->")
                   .replace("<!-- /render:progressive_cost -->", "<!-- /render:nope -->"))
    try:
        render.render_all(results, repo)
    except SystemExit as exc:
        assert "no renderer for the doc block 'nope'" in str(exc)
    else:
        raise AssertionError("an unknown doc block must not be left as it is")
