"""How many CPUs this process may really use, and torch's thread count set to match.

``os.cpu_count()`` is the host's core count. A container given 2 vCPUs on a 64-core host (a
Hugging Face Space, a Kubernetes pod with ``limits.cpu: 2``) still sees 64 there, and torch would
start 64 threads that the CFS quota throttles to 2 CPUs' worth of time: every parallel region
then waits for threads that are not allowed to run. The real budget is the smallest of

- the CPU affinity mask (``os.sched_getaffinity``: ``taskset``, ``docker --cpuset-cpus``),
- cgroup v2 ``cpu.max`` ("QUOTA PERIOD", or "max PERIOD" for no limit),
- cgroup v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (quota -1 for no limit),

where a quota counts for this process's cgroup and every cgroup above it, and a fractional quota
(1.5 CPUs) rounds up: the half CPU is still worth a thread.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from pathlib import Path
from typing import Iterable

import torch

__all__ = ["THREAD_ENV_VARS", "available_cpus", "configure_threads", "cgroup_cpu_limit"]

log = logging.getLogger(__name__)

# A user who sets one of these has chosen the thread count; configure_threads leaves it alone.
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:  # missing file, no permission, not a cgroup file system
        return None


def _own_cgroups(proc_self_cgroup: Path) -> dict[str, str]:
    """Controller -> this process's cgroup path, from /proc/self/cgroup ("" is the v2 hierarchy).

    Lines read "ID:CONTROLLERS:PATH": "0::/user.slice/x.scope" (v2), "4:cpu,cpuacct:/docker/ab" (v1).
    """
    text = _read(proc_self_cgroup) or ""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def _this_and_parents(mount: Path, cgroup_path: str) -> list[Path]:
    """``mount/cgroup_path`` and each folder above it up to ``mount``, the ones that exist.

    Inside a container the path in /proc/self/cgroup is often the host's ("/docker/<id>") while
    the container's own cgroup is mounted at the root: then only the root is found, as it should.
    """
    parts = [p for p in cgroup_path.split("/") if p and p not in (".", "..")]
    folders = [mount.joinpath(*parts[:depth]) for depth in range(len(parts), -1, -1)]
    return [f for f in folders if f.is_dir()]


def _v2_quotas(folders: Iterable[Path]) -> list[float]:
    quotas = []
    for folder in folders:
        fields = (_read(folder / "cpu.max") or "").split()
        if len(fields) == 2 and fields[0] != "max":
            try:
                quota, period = int(fields[0]), int(fields[1])
            except ValueError:
                continue
            if quota > 0 and period > 0:
                quotas.append(quota / period)
    return quotas


def _v1_quotas(folders: Iterable[Path]) -> list[float]:
    quotas = []
    for folder in folders:
        try:
            quota = int(_read(folder / "cpu.cfs_quota_us") or "-1")
            period = int(_read(folder / "cpu.cfs_period_us") or "0")
        except ValueError:
            continue
        if quota > 0 and period > 0:  # -1: no limit
            quotas.append(quota / period)
    return quotas


def cgroup_cpu_limit(cgroup_root: Path = CGROUP_ROOT, proc_self_cgroup: Path = PROC_SELF_CGROUP) -> float | None:
    """The CPU quota of this process's cgroups in CPUs (e.g. 1.5), or None when there is none.

    Looks at cgroup v2 (``cgroup_root`` is the unified mount, or ``cgroup_root/unified`` on a
    hybrid host) and v1 (``cgroup_root/cpu`` or ``cgroup_root/cpu,cpuacct``); the tightest wins.
    """
    own = _own_cgroups(proc_self_cgroup)
    quotas: list[float] = []
    v2_path = own.get("", "/")
    for mount in (cgroup_root, cgroup_root / "unified"):
        if (mount / "cgroup.controllers").is_file():  # a v2 mount
            quotas += _v2_quotas(_this_and_parents(mount, v2_path))
    v1_path = own.get("cpu", "/")
    for name in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        mount = cgroup_root / name
        if mount.is_dir():
            quotas += _v1_quotas(_this_and_parents(mount, v1_path))
            break  # the same hierarchy is often mounted under two names
    return min(quotas) if quotas else None


def available_cpus(
    cgroup_root: Path = CGROUP_ROOT,
    proc_self_cgroup: Path = PROC_SELF_CGROUP,
    affinity: set[int] | None = None,
    cpu_count: int | None = None,
) -> int:
    """CPUs this process can keep busy: min(affinity mask, cgroup quota rounded up), at least 1.

    ``affinity`` and ``cpu_count`` default to ``os.sched_getaffinity(0)`` and ``os.cpu_count()``
    (the latter only where there is no affinity call, as on macOS); tests pass their own.
    """
    if affinity is None and hasattr(os, "sched_getaffinity"):
        affinity = os.sched_getaffinity(0)
    cpus = len(affinity) if affinity else (cpu_count or os.cpu_count() or 1)
    quota = cgroup_cpu_limit(cgroup_root, proc_self_cgroup)
    if quota is not None:
        cpus = min(cpus, math.ceil(quota - 1e-9))  # 2.0000001 CPUs from rounding in the file is 2
    return max(1, cpus)


_configured: int | None = None
_configure_lock = threading.Lock()
_threads_at_import = torch.get_num_threads()


def configure_threads(cpus: int | None = None) -> int:
    """Lower torch's intra-op thread count to the CPUs this process may use, once per process.

    Never raises it, and leaves it alone when the user chose: OMP_NUM_THREADS or
    MKL_NUM_THREADS is set, or ``torch.set_num_threads`` was called after resnet_viz was
    imported. Returns the thread count torch uses afterwards.
    """
    global _configured
    with _configure_lock:
        if _configured is not None:
            return torch.get_num_threads()
        current = torch.get_num_threads()
        chosen_by = next((name for name in THREAD_ENV_VARS if os.environ.get(name)), None)
        if chosen_by is None and current != _threads_at_import:
            chosen_by = "torch.set_num_threads"
        cpus = available_cpus() if cpus is None else cpus
        if chosen_by is not None:
            log.info("torch threads: %d, as set by %s (this process may use %d CPUs)", current, chosen_by, cpus)
        elif current > cpus:
            torch.set_num_threads(cpus)
            log.info("torch threads: %d, the CPUs this process may use (torch's default was %d)", cpus, current)
        else:
            log.info("torch threads: %d (this process may use %d CPUs)", current, cpus)
        _configured = torch.get_num_threads()
        return _configured
