"""python -m resnet_viz: summaries, JSON, exit status 2 and one stderr line per bad image."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from resnet_viz.cli.main import main

from .support import ROOT


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "resnet_viz", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_analyze_prints_a_summary_and_writes_json(tmp_path, examples):
    out = tmp_path / "one.json"
    done = _run("analyze", str(examples[0]), "--arch", "resnet18", "--weights", "random", "--top-k", "3", "--json", str(out))
    assert done.returncode == 0, done.stderr
    assert "predictions:" in done.stdout and "C5   512 x   7 x   7" in done.stdout
    assert "layer4.1" in done.stdout and "identity" in done.stdout
    report = json.loads(out.read_text())
    assert isinstance(report, dict) and report["arch"] == "resnet18" and len(report["predictions"]) == 3


@pytest.mark.slow
def test_bad_image_exits_2_and_other_images_are_still_analysed(tmp_path, examples):
    bad = tmp_path / "notes.png"
    bad.write_text("not a picture")
    out = tmp_path / "many.json"
    done = _run(
        "analyze", str(examples[0]), str(bad), str(examples[1]),
        "--arch", "resnet18", "--weights", "random", "--json", str(out),
    )
    assert done.returncode == 2
    errors = done.stderr.strip().splitlines()
    assert errors == [f"python -m resnet_viz: error: {bad}: not an image, or not a format Pillow can read"]
    reports = json.loads(out.read_text())
    assert [r["file"] for r in reports] == [str(examples[0]), str(examples[1])]


def test_weights_failure_is_one_line(tmp_path, capsys):
    assert main(["analyze", "x.png", "--arch", "resnet18", "--weights", str(tmp_path / "none.pth")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "none.pth' does not exist" in err[0]


def test_download_without_network_says_what_to_do(torch_home, no_network, capsys):
    assert main(["download", "--arch", "resnet18", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "ImageNet weights for resnet18 are not cached" in err and err.count("\n") == 1


def test_unknown_arch_is_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit) as info:
        main(["analyze", "x.png", "--arch", "resnet42"])
    assert info.value.code == 2
    assert "invalid choice: 'resnet42'" in capsys.readouterr().err
