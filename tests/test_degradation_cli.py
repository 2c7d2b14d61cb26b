"""python -m resnet_viz degradation / download --data cifar10: files written, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image

from resnet_viz.cli.main import main

from .support import ROOT

TINY = ["--depths", "8", "--steps", "4", "--batch-size", "8", "--log-every", "2", "--eval-every", "2", "--eval-size", "20"]


@pytest.mark.slow
def test_writes_json_and_png(tmp_path):
    out, plot = tmp_path / "run.json", tmp_path / "run.png"
    done = subprocess.run(
        [sys.executable, "-m", "resnet_viz", "degradation", *TINY, "--seed", "3", "--threads", "1",
         "--json", str(out), "--plot", str(plot)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "plain-8" in done.stdout and "ResNet-8" in done.stdout and "final training error" in done.stdout
    assert "step 4/4" in done.stderr  # the progress bar
    payload = json.loads(out.read_text())
    assert payload["command"].startswith("python -m resnet_viz degradation --depths 8")
    assert payload["threads"] == 1 and payload["finished"] and payload["config"]["seed"] == 3
    assert [n["name"] for n in payload["networks"]] == ["plain-8", "ResNet-8"]
    assert payload["networks"][0]["steps"] == [2, 4]
    with Image.open(plot) as image:
        assert image.format == "PNG" and image.width > 600
    with Image.open(tmp_path / "run-gradients.png") as image:  # the gradients at initialisation, beside it
        assert image.format == "PNG" and image.width > 400
    assert "first/last layer gradient at start" in done.stdout
    assert len(payload["networks"][0]["layer_gradients"]) == 8


@pytest.mark.slow
def test_the_deeper_preset_and_what_overrides_it(tmp_path, one_torch_thread):
    from resnet_viz.degradation.presets import PRESETS

    out = tmp_path / "deeper.json"
    assert main(["degradation", "--preset", "deeper", "--steps", "2", "--batch-size", "4", "--log-every", "1",
                 "--eval-every", "1", "--eval-size", "4", "--quiet", "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    assert payload["config"]["depths"] == list(PRESETS["deeper"].config.depths) and payload["config"]["steps"] == 2
    assert [n["name"] for n in payload["networks"]] == ["plain-20", "plain-56", "ResNet-20", "ResNet-56"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--depths", "20", "21"], "depth 21 is not 6n + 2"),
        (["--depths", "twenty"], "depth 'twenty' is not a whole number"),
        (["--steps", "0"], "must be at least 1"),
        (["--data", "mnist"], "invalid choice: 'mnist'"),
        (["--preset", "deepest"], "invalid choice: 'deepest'"),
        (["--milestones", "0.5", "1.5"], "fractions of the steps"),
    ],
)
def test_bad_arguments_exit_2_with_the_reason(args, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(["degradation", *args])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_missing_cifar10_without_network_is_one_line(torch_home, no_network, capsys):
    assert main(["degradation", "--data", "cifar10", "--steps", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("python -m resnet_viz: error: CIFAR-10 is not cached")
    assert "download --data cifar10" in err


def test_download_cifar10_without_network_is_one_line(torch_home, no_network, capsys):
    assert main(["download", "--data", "cifar10"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "downloading it failed" in err


def test_json_path_that_is_a_folder_is_refused(tmp_path, capsys):
    assert main(["degradation", *TINY, "--json", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
