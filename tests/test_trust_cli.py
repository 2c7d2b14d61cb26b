"""python -m resnet_viz trust: the JSON shape of issue 18, the saved maps, bad input in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from resnet_viz.cli.main import main

SIGNED_KEYS = {"steps", "spearman_abs", "spearman", "ssim", "chance", "verdict"}


@pytest.mark.slow
def test_trust_json_maps_and_a_bad_image(tmp_path, examples, capsys):
    bad = tmp_path / "notes.png"
    bad.write_text("not a picture")
    out, maps = tmp_path / "trust.json", tmp_path / "maps"
    code = main([
        "trust", str(examples[0]), str(bad), "--method", "gradcam",
        "--arch", "resnet18", "--weights", "random", "--json", str(out), "--save-maps", str(maps),
    ])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.strip().splitlines() == [
        f"python -m resnet_viz trust: error: {bad}: not an image, or not a format Pillow can read"
    ]
    assert "gradcam" in captured.out and "baseline: edge" in captured.out
    reports = json.loads(out.read_text())
    assert isinstance(reports, list) and len(reports) == 1  # a list when several images were named
    report = reports[0]
    assert set(report) == {"file", "target", "protocol", "methods", "baselines"}
    assert report["file"] == str(examples[0]) and set(report["target"]) == {"index", "label", "probability"}
    assert set(report["methods"]) == {"gradcam"}
    for method, entry in report["methods"].items():
        assert set(entry) == {"randomisation", "deletion", "insertion", "road"}
        randomisation = entry["randomisation"]
        assert randomisation["steps"] == ["head", "C5", "C4", "C3", "C2", "C1"]
        assert SIGNED_KEYS - {"spearman"} <= set(randomisation)
        assert "spearman" not in randomisation  # signed methods only (test_trust_sanity checks one)
        assert len(randomisation["spearman_abs"]) == len(randomisation["ssim"]) == 6
        assert {"low", "high", "mean"} <= set(randomisation["chance"]["spearman_abs"])
        for curve in ("deletion", "insertion"):
            assert set(entry[curve]) == {"curve", "auc"} and len(entry[curve]["curve"]) == 29  # 0, 1/28, ..., 1
        assert set(entry["road"]) == {"percentiles", "morf", "lerf", "score"}
        assert entry["road"]["percentiles"] == [10, 20, 30, 40, 50, 60, 70, 80, 90]
        saved = np.load(maps / f"{examples[0].stem}_{method}.npy")
        assert saved.shape == (224, 224) and saved.dtype == np.float32
    assert set(report["baselines"]) == {"random", "edge"}
    assert set(report["baselines"]["edge"]) == {"deletion", "insertion"}
    protocol = report["protocol"]
    assert protocol["faithfulness"]["steps"] == 28 and protocol["faithfulness"]["seed"] == 0
    assert protocol["randomisation"]["steps"] == "stages" and protocol["faithfulness"]["baselines"] == ["random", "edge"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--method", "gradcam_ladder"], "unknown method 'gradcam_ladder'"),
        ([], "name a method with --method"),
        (["--method", "gradcam", "--steps", "layers"], "unknown --steps 'layers'"),
        (["--method", "gradcam", "--arch", "resnet7"], "unknown --arch 'resnet7'"),
        (["--method", "gradcam", "--arch", "resnet18", "--weights", "random", "--target", "no such class"], "unknown target"),
        (["--method", "gradcam", "--weights", "/nonexistent/w.pth"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, examples, capsys):
    assert main(["trust", str(examples[0]), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
