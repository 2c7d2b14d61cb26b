"""The model cache's policy: at most ``max_models`` architectures loaded, least recently used
evicted first, never one that a computation holds."""

from __future__ import annotations

import threading

import pytest

import app
from resnet_viz.serve import registry as registry_module
from resnet_viz.serve.registry import DEFAULT_MAX_MODELS, LoadedModel, ModelRegistry


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> ModelRegistry:
    """A registry whose loads are counted stand-ins: the policy, not the weights, is under test."""
    reg = ModelRegistry("random", "cpu", max_models=2)
    reg.loads = []
    def fake_load(arch: str) -> LoadedModel:
        reg.loads.append(arch)
        return LoadedModel(model=object(), fallback=None, cache_dir=None)
    monkeypatch.setattr(reg, "_load", fake_load)
    return reg


def test_a_third_architecture_evicts_the_least_recently_used(registry: ModelRegistry) -> None:
    registry.get("resnet18")
    registry.get("resnet34")
    registry.get("resnet18")  # used again: resnet34 is now the least recently used
    registry.get("resnet50")
    assert registry.loaded() == ["resnet18", "resnet50"]
    registry.get("resnet34")  # evicted, so loaded again
    assert registry.loads == ["resnet18", "resnet34", "resnet50", "resnet34"]
    assert registry.loaded() == ["resnet50", "resnet34"]


def test_a_leased_model_is_never_evicted(registry: ModelRegistry) -> None:
    with registry.lease("resnet18") as held:
        registry.get("resnet34")
        registry.get("resnet50")  # resnet18 is the oldest but leased: resnet34 goes
        assert registry.loaded() == ["resnet18", "resnet50"]
        assert registry.get("resnet18").model is held
    assert registry.loads == ["resnet18", "resnet34", "resnet50"]


def test_over_the_limit_while_every_model_is_leased_and_back_when_a_lease_ends(registry: ModelRegistry) -> None:
    with registry.lease("resnet18"), registry.long_lease("resnet34"):
        registry.get("resnet50")
        assert registry.loaded() == ["resnet18", "resnet34", "resnet50"]  # none may go
    assert len(registry.loaded()) == 2
    assert registry.loaded()[-1] == "resnet50"


def test_a_lease_in_another_thread_protects_its_model(registry: ModelRegistry) -> None:
    leased, release = threading.Event(), threading.Event()
    def long_work() -> None:
        with registry.long_lease("resnet18"):
            leased.set()
            release.wait(5)
    worker = threading.Thread(target=long_work)
    worker.start()
    try:
        assert leased.wait(5)
        registry.get("resnet34")
        registry.get("resnet50")
        assert "resnet18" in registry.loaded()
    finally:
        release.set()
        worker.join(5)


def test_max_models_is_a_setting_of_the_app() -> None:
    assert DEFAULT_MAX_MODELS == registry_module.DEFAULT_MAX_MODELS == app.parse_args([]).max_models
    assert app.parse_args(["--max-models", "1"]).max_models == 1
    with pytest.raises(SystemExit):
        app.parse_args(["--max-models", "0"])
    with pytest.raises(ValueError, match="max_models"):
        ModelRegistry("random", "cpu", max_models=0)


def test_unknown_arch_in_a_lease_is_refused_by_name(registry: ModelRegistry) -> None:
    with pytest.raises(ValueError, match="resnet9"):
        with registry.lease("resnet9"):
            pass
