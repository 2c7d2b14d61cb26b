"""Weights: seeded random init, user checkpoints, the ImageNet cache, and one clear sentence per failure."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import pytest
import torch
import torchvision
from safetensors.torch import save_file

import resnet_viz
from resnet_viz import WeightsError, load_model
from resnet_viz.model import weights as weights_module
from resnet_viz.model.weights import ImageNetFile, fetch_imagenet


def _tv_state(arch: str, seed: int = 3) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return torchvision.models.get_model(arch).state_dict()


def _same_state(a, b) -> bool:
    return list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_random_weights_are_identical_on_every_load_and_leave_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    first = load_model("resnet18", "random", "cpu")
    after = torch.rand(3)
    assert torch.equal(before, after)  # the caller's random stream is untouched
    second = load_model("resnet18", "random", "cpu")
    assert _same_state(first.state_dict(), second.state_dict())


def test_random_weights_do_not_depend_on_the_thread_count():
    """The BN calibration's reductions run on one thread: the same bits with 1 or 2 threads, and
    the caller's thread count is left as it was."""
    before = torch.get_num_threads()
    states = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            states.append(weights_module._random_model("resnet18").state_dict())
            assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(before)
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_loaded_model_is_eval_frozen_and_labelled(resnet18):
    assert not resnet18.training
    assert not any(p.requires_grad for p in resnet18.parameters())
    reference = torchvision.models.ResNet18_Weights.DEFAULT
    assert resnet18.meta.categories == tuple(reference.meta["categories"])
    assert len(set(resnet18.meta.categories)) == 1000
    assert resnet18.meta.weights == "random" and resnet18.meta.arch == "resnet18"


@pytest.mark.parametrize("suffix", [".pth", ".pt", ".safetensors"])
def test_checkpoint_file_loads(tmp_path, suffix):
    state = _tv_state("resnet18")
    path = tmp_path / f"mine{suffix}"
    if suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)
    model = load_model("resnet18", path, "cpu")
    assert _same_state(model.state_dict(), state)
    assert model.meta.weights == path.name


def test_wrapped_state_dict_loads(tmp_path):
    path = tmp_path / "wrapped.pth"
    torch.save({"state_dict": _tv_state("resnet18")}, path)
    assert load_model("resnet18", path, "cpu").meta.weights == "wrapped.pth"


def test_missing_file(tmp_path):
    with pytest.raises(WeightsError, match=r"does not exist; pass the path of a \.pth"):
        load_model("resnet18", tmp_path / "nope.pth", "cpu")


@pytest.mark.parametrize(
    "content",
    [b"", b"definitely not a checkpoint\n", bytes(range(256)) * 40],
    ids=["empty", "text", "random-bytes"],
)
def test_corrupt_or_foreign_file(tmp_path, content):
    path = tmp_path / "broken.pth"
    path.write_bytes(content)
    with pytest.raises(WeightsError, match="broken.pth is not a readable checkpoint or is corrupt"):
        load_model("resnet18", path, "cpu")


def test_corrupt_safetensors(tmp_path):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(WeightsError, match="broken.safetensors is not a readable checkpoint"):
        load_model("resnet18", path, "cpu")


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_full_pickle_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"conv1.weight": _Evil()}, f)
    with pytest.raises(WeightsError, match="evil.pth is not a readable checkpoint"):
        load_model("resnet18", path, "cpu")
    assert "this must never run" not in capsys.readouterr().out


def test_truncated_checkpoint(tmp_path):
    path = tmp_path / "cut.pth"
    torch.save(_tv_state("resnet18"), path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(WeightsError, match="cut.pth is not a readable checkpoint or is corrupt"):
        load_model("resnet18", path, "cpu")


def test_state_dict_of_non_tensors(tmp_path):
    path = tmp_path / "numbers.pth"
    torch.save({"conv1.weight": 3}, path)
    with pytest.raises(WeightsError, match="does not hold a state dict of tensors"):
        load_model("resnet18", path, "cpu")


def test_checkpoint_for_another_arch_names_the_key_and_both_shapes(tmp_path):
    path = tmp_path / "r18.pth"
    torch.save(_tv_state("resnet18"), path)
    with pytest.raises(WeightsError) as info:
        load_model("resnet50", path, "cpu")
    message = str(info.value)
    assert "r18.pth does not fit resnet50" in message
    assert "'layer1.0.conv1.weight' has shape (64, 64, 3, 3) in the file but (64, 64, 1, 1) in resnet50" in message
    assert "looks like a resnet18 checkpoint, so use --arch resnet18" in message


def test_checkpoint_missing_keys(tmp_path):
    path = tmp_path / "r50.pth"
    torch.save(_tv_state("resnet50"), path)
    with pytest.raises(WeightsError, match=r"'layer3\.6\.conv1\.weight' is missing; it looks like a resnet50"):
        load_model("resnet101", path, "cpu")


def test_imagenet_not_cached_and_no_network(torch_home, no_network):
    with pytest.raises(WeightsError) as info:
        load_model("resnet50", "imagenet", "cpu")
    message = str(info.value)
    assert "ImageNet weights for resnet50 are not cached at" in message
    assert str(torch_home / "hub" / "checkpoints" / "resnet50-11ad3fa6.pth") in message
    assert "python -m resnet_viz download --arch resnet50" in message
    assert "--weights PATH" in message
    assert "\n" not in message


def test_imagenet_corrupt_cache_and_no_network(torch_home, no_network):
    cached = weights_module.imagenet_file("resnet18").path
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"half a download")
    with pytest.raises(WeightsError, match=r"cached file .*resnet18-f37072fd\.pth is corrupt .*not f37072fd.* failed"):
        load_model("resnet18", "imagenet", "cpu")


def _local_release(tmp_path: Path, torch_home: Path, arch: str) -> ImageNetFile:
    """A stand-in for download.pytorch.org: a file:// URL whose name carries the real hash."""
    source = tmp_path / "release.pth"
    torch.save(_tv_state(arch), source)
    prefix = hashlib.sha256(source.read_bytes()).hexdigest()[:8]
    served = tmp_path / f"{arch}-{prefix}.pth"
    source.rename(served)
    return ImageNetFile(arch, served.as_uri(), torch_home / "hub" / "checkpoints" / served.name, prefix)


def test_imagenet_download_checks_hash_and_caches(tmp_path, torch_home, monkeypatch):
    release = _local_release(tmp_path, torch_home, "resnet18")
    monkeypatch.setattr(weights_module, "imagenet_file", lambda arch: release)
    model = load_model("resnet18", "imagenet", "cpu", progress=False)
    assert release.path.is_file()
    assert model.meta.weights == "imagenet"
    assert _same_state(model.state_dict(), _tv_state("resnet18"))
    # Second load: served from the cache, with the network gone.
    Path(release.url.removeprefix("file://")).unlink()
    assert _same_state(load_model("resnet18", "imagenet", "cpu").state_dict(), model.state_dict())


def test_imagenet_corrupt_cache_is_fetched_again(tmp_path, torch_home, monkeypatch):
    release = _local_release(tmp_path, torch_home, "resnet18")
    release.path.parent.mkdir(parents=True)
    release.path.write_bytes(b"tampered")
    path = fetch_imagenet("resnet18", progress=False, file=release)
    assert hashlib.sha256(path.read_bytes()).hexdigest().startswith(release.sha256_prefix)


def test_download_with_wrong_hash_is_rejected(tmp_path, torch_home):
    release = _local_release(tmp_path, torch_home, "resnet18")
    wrong = ImageNetFile("resnet18", release.url, release.path, "00000000")
    with pytest.raises(WeightsError, match="failed"):
        fetch_imagenet("resnet18", progress=False, file=wrong)
    assert not release.path.exists()


def test_imagenet_files_are_torchvision_defaults():
    assert weights_module.imagenet_file("resnet50").path.name == "resnet50-11ad3fa6.pth"
    assert weights_module.imagenet_file("resnet18").path.name == "resnet18-f37072fd.pth"
    assert weights_module.imagenet_file("resnet152").sha256_prefix == "f82ba261"


def test_unknown_arch_in_load_model():
    with pytest.raises(ValueError, match="unknown arch 'vgg16'; choose one of resnet18"):
        load_model("vgg16", "random")


def test_device_auto_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resnet_viz.resolve_device("auto").type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resnet_viz.resolve_device("auto").type == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resnet_viz.resolve_device("auto").type == "cpu"
    with pytest.raises(WeightsError, match="CUDA is not available; use --device cpu or auto"):
        resnet_viz.resolve_device("cuda")
