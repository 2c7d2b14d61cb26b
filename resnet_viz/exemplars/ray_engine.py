"""The Ray engine: the same scoring on Ray Data, with model replicas as an actor pool.

Pipeline: ``from_items`` (image index + relative name) -> ``map(_decode_row)`` (stateless tasks;
the decoding is ``folder.decode``, the local engine's) -> ``map_batches(_Scorer)`` on an actor
pool of ``replicas`` actors, each loading the model once and returning one row per batch: the
batch's own top-k per stage and channel, as (C, k) arrays. The driver merges those rows with the
same ``merge_topk`` as the local engine, so both build the same index.

Placement: with GPUs in the cluster every replica takes one (``num_gpus=1``) and decoding runs as
CPU tasks beside them. Without GPUs every replica takes one CPU; the decode step then asks for
the same resources and Ray Data fuses it into the actor (each replica decodes its own batch on its
own core), which on CPUs beats shipping 600 KB tensors between processes.

Weights: a replica loads ``weights="imagenet"`` or ``"random"`` itself from the arch and that name
(nothing large travels), and checks it got the driver's weights hash. Weights from a checkpoint
file are put into the object store once as numpy arrays (the path may not exist on other nodes);
replicas read them zero-copy. The model object itself is never pickled.

Workers import this package through the job's ``runtime_env={"py_modules": [<resnet_viz dir>]}``
(Ray accepts local folders at ``ray.init`` only): Ray ships the package to every node, so the
workers run the driver's code, whether it came from a checkout or an install. A Ray connected by
the caller must have been initialised that way (checked, with a message saying how). The image
folder must be readable at the same path on every node (a shared filesystem), as Ray Data's own
file readers require.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from ..model.fingerprint import weights_sha256
from ..model.resnet import ResNet, build_model
from ..model.runtime import as_model_input, autocast
from ..model.weights import WeightsError, load_model, load_state_dict_checked
from .folder import decode
from .topk import TopK, empty_topk, merge_topk, stage_maxima

__all__ = ["EngineUnavailable", "INSTALL_HINT", "require_ray", "ray_session", "score_ray"]

log = logging.getLogger(__name__)

INSTALL_HINT = 'pip install -r requirements-scale.txt (Ray Data: pip install "ray[data]==2.60.0")'


class EngineUnavailable(RuntimeError):
    """The engine asked for cannot run here; the message says how to make it available."""


def require_ray():
    try:
        import ray
        import ray.data  # noqa: F401 - the Data library is an extra of the ray package
    except ImportError:
        raise EngineUnavailable(f"--engine ray needs Ray, which is not installed; {INSTALL_HINT}") from None
    return ray


def _package_dir() -> Path:
    return Path(__file__).resolve().parent.parent  # the resnet_viz folder this code runs from


def _check_workers_import(ray) -> None:
    """Fail with a clear message if a Ray that someone else connected cannot import resnet_viz."""
    probe = ray.remote(num_cpus=0)(lambda: __import__("importlib.util").util.find_spec("resnet_viz") is not None)
    if not ray.get(probe.remote()):
        raise EngineUnavailable(
            "Ray was initialised without resnet_viz importable on its workers; initialise it with "
            f"ray.init(..., runtime_env={{'py_modules': [{str(_package_dir())!r}]}}) or let build_index start Ray"
        )


@contextlib.contextmanager
def ray_session(address: str | None, num_cpus: int | None = None) -> Iterator[Any]:
    """Use the connected Ray, else join ``address``, else start a local Ray; shut down what we started."""
    ray = require_ray()
    started = not ray.is_initialized()
    if started:
        joining = bool(address or os.environ.get("RAY_ADDRESS"))  # ray.init also joins $RAY_ADDRESS
        ray.init(
            address=address,
            num_cpus=None if joining else num_cpus,
            include_dashboard=False,
            log_to_driver=False,  # replicas' logs stay in Ray's session folder, not on our stdout
            logging_level=logging.WARNING,
            # Ships this package to every node: replicas run the driver's code, checkout or install.
            runtime_env={"py_modules": [str(_package_dir())]},
        )
    else:
        if address:
            log.info("Ray is already initialised; using that cluster rather than %s", address)
        _check_workers_import(ray)
    context = ray.data.DataContext.get_current()
    saved = (context.enable_progress_bars, context.print_on_execution_start)
    data_log = logging.getLogger("ray.data")
    saved_level = data_log.level
    context.enable_progress_bars, context.print_on_execution_start = False, False  # we draw our own bar
    data_log.setLevel(logging.ERROR)
    try:
        yield ray
    finally:
        context.enable_progress_bars, context.print_on_execution_start = saved
        data_log.setLevel(saved_level)
        if started:
            ray.shutdown()


def _decode_row(row: dict[str, Any], root: str, transforms) -> dict[str, Any]:
    pixels, reason = decode(Path(root), str(row["name"]), transforms)
    size = transforms.crop_size[0]
    return {
        "index": row["index"],
        "ok": pixels is not None,
        "error": reason or "",
        "pixels": (pixels if pixels is not None else torch.zeros(3, size, size)).numpy(),
    }


class _Scorer:
    """One model replica: loads the model once, turns a batch of decoded images into its top-k."""

    def __init__(self, arch: str, weights: str | None, state, sha256: str, top_k: int, precision: str, gpu: bool):
        device = "cuda" if gpu else "cpu"
        if state is not None:
            import ray

            arrays = ray.get(state) if isinstance(state, ray.ObjectRef) else state
            model = build_model(arch)
            load_state_dict_checked(model, {k: torch.from_numpy(v) for k, v in arrays.items()}, "the driver's weights")
            self.model = model.requires_grad_(False).eval().to(device, memory_format=torch.channels_last)
        else:
            self.model = load_model(arch, weights, device, precision=precision if gpu else "fp32", progress=False)
            if weights_sha256(self.model) != sha256:
                raise WeightsError(
                    f"a Ray replica loaded {arch} {weights} weights with another hash than the driver's; "
                    "do all nodes have the same checkpoint and torch version?"
                )
        self.top_k = top_k

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ok = batch["ok"].astype(bool)
        failures = [[int(i), str(e)] for i, e, good in zip(batch["index"], batch["error"], ok) if not good]
        best = {s.name: empty_topk(s.channels, self.top_k) for s in self.model.stages}
        if ok.any():
            pixels = torch.from_numpy(batch["pixels"][ok])  # boolean indexing copied: writable
            indices = torch.from_numpy(batch["index"][ok].astype(np.int64))
            with torch.inference_mode(), autocast(self.model):
                stages = self.model.forward_stages(as_model_input(self.model, pixels))
                for name, output in stages.items():
                    scores, positions = stage_maxima(output)
                    best[name] = merge_topk(best[name], scores.cpu(), indices, positions.cpu())
        row: dict[str, np.ndarray] = {"count": np.array([len(ok)]), "failures": np.array([json.dumps(failures)])}
        for name, topk in best.items():
            row[f"{name}_score"] = topk.scores.numpy()[None]
            row[f"{name}_image"] = topk.images.numpy()[None]
            row[f"{name}_position"] = topk.positions.numpy()[None]
        return row


def _placement(ray, replicas: int | None) -> tuple[int, bool]:
    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), max(1, int(resources.get("CPU", 1)))
    available = gpus if gpus else cpus
    wanted = replicas or available
    if wanted > available:
        log.warning("asked for %d replicas, the cluster has room for %d; using %d", wanted, available, available)
    return min(wanted, available), gpus > 0


def score_ray(
    model: ResNet,
    root: Path,
    names: list[str],
    top_k: int,
    *,
    batch_size: int,
    replicas: int | None,
    sha256: str,
    on_batch: Callable[[int, list[tuple[int, str]]], None],
) -> dict[str, TopK]:
    """The top-k of every stage and channel over ``names``, computed on the connected Ray cluster."""
    import ray

    best = {s.name: empty_topk(s.channels, top_k) for s in model.stages}
    if not names:
        return best
    size, gpu = _placement(ray, replicas)
    spec = model.meta.weights if model.meta.weights in ("imagenet", "random") else None
    state = None if spec else ray.put({k: v.detach().cpu().numpy() for k, v in model.state_dict().items()})
    items = [{"index": i, "name": name} for i, name in enumerate(names)]
    dataset = ray.data.from_items(items, override_num_blocks=max(1, min(len(items), -(-len(items) // batch_size))))
    dataset = dataset.map(_decode_row, fn_kwargs={"root": str(root), "transforms": model.meta.transforms}).map_batches(
        _Scorer,
        fn_constructor_kwargs={
            "arch": model.meta.arch,
            "weights": spec,
            "state": state,
            "sha256": sha256,
            "top_k": top_k,
            "precision": model.meta.precision,
            "gpu": gpu,
        },  # fmt: skip
        compute=ray.data.ActorPoolStrategy(size=size),
        batch_size=batch_size,
        batch_format="numpy",
        num_gpus=1 if gpu else 0,
        num_cpus=None if gpu else 1,
    )
    rows = dataset.iter_rows()
    try:
        for row in rows:
            for stage in best:
                best[stage] = merge_topk(
                    best[stage],
                    torch.from_numpy(np.array(row[f"{stage}_score"])),
                    torch.from_numpy(np.array(row[f"{stage}_image"])),
                    torch.from_numpy(np.array(row[f"{stage}_position"])),
                )
            on_batch(int(row["count"]), [(int(i), str(e)) for i, e in json.loads(str(row["failures"]))])
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()  # stops the streaming execution now, also when on_batch raised (cancel)
        del rows
    return best
