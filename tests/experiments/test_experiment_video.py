"""`video:` in an experiment: a short clip per (method, target) of one seed, a playable MP4 linked from the
report, sent to W&B as ``wandb.Video`` (offline here); off by default."""

from __future__ import annotations

import glob
import json
from pathlib import Path

import pytest

from simtransfer.envs.errors import SimtransferError
from simtransfer.experiments.experiment import parse_experiment
from simtransfer.experiments.runner import run_experiment
from tests.experiments.test_runner import tiny_experiment

FRAMES = 8


@pytest.fixture(scope="module")
def filmed(tmp_path_factory) -> tuple[Path, list[str]]:
    out, logs = tmp_path_factory.mktemp("video_exp") / "out", []
    exp = tiny_experiment(methods=["zeroshot"], seeds=[3], video={"max_steps": FRAMES})
    run_experiment(parse_experiment(exp), out, log=logs.append)
    return out, logs


def test_a_playable_clip_per_method_and_target_linked_from_the_report(filmed):
    import imageio.v2 as imageio
    import imageio_ffmpeg

    out, _ = filmed
    index = json.loads((out / "videos" / "index.json").read_text())
    assert {(e["target"], e["method"], e["seed"]) for e in index} == {("extrap", "scratch", 3), ("extrap", "zeroshot", 3)}
    report = (out / "report" / "report.md").read_text()
    assert "## Videos" in report
    for e in index:
        clip = out / "videos" / e["video"]
        reader = imageio_ffmpeg.read_frames(str(clip))  # decodes with its own ffmpeg: a real, playable MP4
        width, height = next(reader)["size"]
        assert sum(1 for _ in reader) == e["frames"] and 1 <= e["frames"] <= FRAMES and width * height > 0
        strip = imageio.imread(out / "videos" / e["strip"])
        assert strip.shape[0] == height and strip.std() > 0
        link = f"../videos/{e['video']}"
        assert f"]({link})" in report and (out / "report" / link).resolve() == clip.resolve()


def test_a_rerun_keeps_unchanged_clips_and_the_default_films_nothing(filmed, tmp_path):
    out, _ = filmed
    clip = out / "videos" / "extrap" / "zeroshot.mp4"
    stamp, logs = clip.stat().st_mtime_ns, []
    run_experiment(parse_experiment(tiny_experiment(methods=["zeroshot"], seeds=[3], video={"max_steps": FRAMES})),
                   out, report=False, log=logs.append)
    assert clip.stat().st_mtime_ns == stamp and not any(m.startswith("video:") for m in logs)
    cfg = parse_experiment(tiny_experiment())
    assert cfg.video is None  # off by default


def test_videos_go_to_wandb_offline(filmed, monkeypatch):
    from simtransfer.experiments.report import log_report_to_wandb

    out, _ = filmed
    monkeypatch.setenv("WANDB_SILENT", "true")
    assert log_report_to_wandb(out, "offline")
    media = glob.glob(str(out / "report" / "wandb" / "offline-run-*" / "files" / "media" / "videos" / "video" /
                           "extrap" / "*.mp4"))
    assert len(media) == 2, media


@pytest.mark.parametrize("video,error", [({"seed": 9}, "video: seed 9 is not one of the experiment's seeds [3]"),
                                         ({"fps": 10}, "video.fps: unknown key"),
                                         ({"max_steps": 0}, "video.max_steps: Input should be greater than")])
def test_bad_video_settings_are_one_line_errors(video, error):
    with pytest.raises(SimtransferError, match=error.replace("[", r"\[").replace("]", r"\]")) as e:
        parse_experiment(tiny_experiment(seeds=[3], video=video))
    assert "\n" not in str(e.value)
