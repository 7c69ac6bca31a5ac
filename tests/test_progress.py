"""Progress off a terminal: plain lines on stdout, no escape codes, stderr left to errors (issue 26, item 4)."""

from __future__ import annotations

import io

import numpy as np
from conftest import run_cli, smooth_image
from PIL import Image

from keras_srgan import progress


def test_duration_and_plain_line():
    assert [progress.duration(s) for s in (0, 42.4, 362, 11100)] == ["0s", "42s", "6m02s", "3h05m"]
    assert progress.plain_line(12, 40, "img", 8.0, "Set14") == "Set14: 12/40 img (30%), 8s, ETA 19s"
    assert progress.plain_line(40, 40, "img", 26.0) == "40/40 img (100%), 26s"
    assert progress.plain_line(7, None, "frame", 3.0, "clip.mp4") == "clip.mp4: 7 frame, 3s"


def test_progress_writes_plain_lines_when_stderr_is_not_a_terminal(capsys):
    with progress.Progress(3, "file", every=0) as counter:
        for _ in counter.over(range(3)):
            pass
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "1/3 file (33%), 0s, ETA 0s",
        "2/3 file (67%), 0s, ETA 0s",
        "3/3 file (100%), 0s",
    ]
    assert err == ""
    with progress.Progress(3, "file", enabled=None) as quiet:  # optional progress: terminals only
        quiet.update()
    assert capsys.readouterr() == ("", "")


def test_progress_is_a_bar_on_a_terminal(monkeypatch, capsys):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    monkeypatch.setattr("sys.stderr", screen)
    with progress.Progress(2, "file", every=0) as counter:
        counter.update(2)
    assert capsys.readouterr().out == ""  # no plain lines
    assert "0/2" in screen.getvalue() and "\r" in screen.getvalue()  # tqdm drew (and cleared) its bar there


def test_upscale_and_evaluate_log_plain_lines(capsys, tmp_path, tiny_weights):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(smooth_image(24, 28, seed=i)).save(folder / f"img{i}.png")
    rc, out, err = run_cli(
        capsys, "upscale", str(folder), "-o", str(tmp_path / "out"), "--weights", tiny_weights
    )
    assert rc == 0 and err == "", err
    assert "2/2 file (100%)" in out and "\x1b" not in out and "\r" not in out
    hr = tmp_path / "hr"
    hr.mkdir()
    Image.fromarray(np.asarray(smooth_image(48, 48, seed=5))).save(hr / "a.png")
    rc, out, err = run_cli(capsys, "evaluate", "--weights", tiny_weights, "--data", str(hr))
    assert rc == 0, err
    assert "hr: 1/1 img (100%)" in out and "\x1b" not in out + err and "\r" not in out + err


def test_train_log_lines_and_an_eta_a_pause_does_not_spoil(capsys):
    from keras_srgan.train.logs import TrainLog

    log = TrainLog(None, total_steps=1000)

    def values(seconds: float) -> dict:
        return {"g_loss": 0.5, "lr": 1e-4, "sec_per_step": seconds}

    log.interval(100, values(9.0), timed=False)  # the first interval traced the step: no ETA from it
    log.interval(200, values(600.0), timed=True)  # the run was stopped (SIGSTOP) during this one
    for step in (300, 400):
        log.interval(step, values(1.0), timed=True)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "step 100/1000 g_loss 0.5 lr 0.0001 9.000 s/step"
    assert lines[-1] == "step 400/1000 g_loss 0.5 lr 0.0001 1.000 s/step ETA 10m00s"  # median 1 s x 600
