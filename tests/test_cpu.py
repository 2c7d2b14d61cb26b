"""Threads follow the CPUs the process may really use: fake cgroup v1/v2 trees and affinity masks
of a 2-vCPU container on a 64-core host."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from resnet_viz.model import cpu
from resnet_viz.model.cpu import available_cpus, cgroup_cpu_limit, configure_threads

HOST = set(range(64))  # a 64-core host's affinity mask


def _v2(root: Path, own: str, quotas: dict[str, str]) -> Path:
    """A cgroup v2 mount at ``root``, this process in ``own``, ``cpu.max`` per cgroup path."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (root / own.strip("/")).mkdir(parents=True, exist_ok=True)
    for path, value in quotas.items():
        folder = root / path.strip("/")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "cpu.max").write_text(value + "\n")
    proc = root.parent / "proc-self-cgroup"
    proc.write_text(f"0::{own}\n")
    return proc


def _v1(root: Path, line: str, quotas: dict[str, tuple[int, int]], mount: str = "cpu,cpuacct") -> Path:
    """A cgroup v1 cpu hierarchy at ``root/mount``, /proc/self/cgroup saying ``line``."""
    for path, (quota, period) in quotas.items():
        folder = root / mount / path.strip("/")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "cpu.cfs_quota_us").write_text(f"{quota}\n")
        (folder / "cpu.cfs_period_us").write_text(f"{period}\n")
    proc = root.parent / "proc-self-cgroup"
    proc.write_text(f"12:memory:/x\n{line}\n0::/\n")
    return proc


@pytest.mark.parametrize(
    "cpu_max,expected",
    [("200000 100000", 2), ("max 100000", 64), ("150000 100000", 2), ("50000 100000", 1), ("250000 100000", 3)],
)
def test_cgroup_v2_quota(tmp_path, cpu_max, expected):
    proc = _v2(tmp_path / "cg", "/kubepods/pod1/app", {"/kubepods/pod1/app": cpu_max})
    assert available_cpus(tmp_path / "cg", proc, affinity=HOST) == expected


def test_cgroup_v2_a_parent_quota_limits_its_children(tmp_path):
    quotas = {"/kubepods/pod1": "200000 100000", "/kubepods/pod1/app": "max 100000"}
    proc = _v2(tmp_path / "cg", "/kubepods/pod1/app", quotas)
    assert cgroup_cpu_limit(tmp_path / "cg", proc) == 2.0
    assert available_cpus(tmp_path / "cg", proc, affinity=HOST) == 2


def test_cgroup_v2_namespace_root(tmp_path):
    """In a container with its own cgroup namespace, /proc/self/cgroup says "0::/" and the
    container's limit sits at the mount's root."""
    proc = _v2(tmp_path / "cg", "/", {"/": "200000 100000"})
    assert available_cpus(tmp_path / "cg", proc, affinity=HOST) == 2


@pytest.mark.parametrize("quota,expected", [((200000, 100000), 2), ((-1, 100000), 64), ((150000, 100000), 2)])
def test_cgroup_v1_quota(tmp_path, quota, expected):
    proc = _v1(tmp_path / "cg", "4:cpu,cpuacct:/docker/abc", {"/docker/abc": quota})
    assert available_cpus(tmp_path / "cg", proc, affinity=HOST) == expected


def test_cgroup_v1_host_path_not_visible_in_the_container(tmp_path):
    """Without a cgroup namespace the path is the host's (/docker/<id>) but the container's own
    cgroup is mounted at the root of the hierarchy: the root's quota counts."""
    proc = _v1(tmp_path / "cg", "3:cpu,cpuacct:/docker/0123abcd", {"/": (200000, 100000)}, mount="cpu")
    assert available_cpus(tmp_path / "cg", proc, affinity=HOST) == 2


def test_hybrid_host_and_affinity(tmp_path):
    """v1 without a quota, an empty v2 'unified' mount, and a 3-CPU affinity mask (taskset)."""
    root = tmp_path / "cg"
    proc = _v1(root, "1:cpu:/", {"/": (-1, 100000)}, mount="cpu")
    _v2(root / "unified", "/", {})
    assert cgroup_cpu_limit(root, proc) is None
    assert available_cpus(root, proc, affinity={4, 5, 6}) == 3
    # affinity and quota: the smaller wins
    proc = _v1(root, "1:cpu:/", {"/": (800000, 100000)}, mount="cpu")
    assert available_cpus(root, proc, affinity={0}) == 1
    assert available_cpus(root, proc, affinity=HOST) == 8


def test_no_cgroup_files_at_all(tmp_path):
    assert available_cpus(tmp_path / "missing", tmp_path / "missing-proc", affinity=HOST) == 64
    assert available_cpus(tmp_path / "missing", tmp_path / "missing-proc", affinity=set(), cpu_count=6) == 6


def test_this_machine_is_within_its_affinity():
    import os

    assert 1 <= available_cpus() <= len(os.sched_getaffinity(0))


@pytest.fixture
def fresh_threads(monkeypatch):
    """configure_threads as in a new process: not yet run, torch's count untouched since import;
    torch's real thread count is restored afterwards."""
    before = torch.get_num_threads()
    monkeypatch.setattr(cpu, "_configured", None)
    monkeypatch.setattr(cpu, "_threads_at_import", before)
    for name in cpu.THREAD_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    yield before
    torch.set_num_threads(before)


def test_threads_are_lowered_to_the_quota_once(fresh_threads):
    if fresh_threads < 2:
        pytest.skip("needs a machine where torch starts with 2+ threads")
    assert configure_threads(cpus=1) == 1 and torch.get_num_threads() == 1
    torch.set_num_threads(fresh_threads)
    assert configure_threads(cpus=1) == fresh_threads  # once per process: a later load changes nothing


def test_threads_are_never_raised(fresh_threads):
    assert configure_threads(cpus=fresh_threads + 8) == fresh_threads


@pytest.mark.parametrize("how", ["OMP_NUM_THREADS", "set_num_threads"])
def test_a_users_thread_setting_is_kept(fresh_threads, monkeypatch, how):
    if fresh_threads < 2:
        pytest.skip("needs a machine where torch starts with 2+ threads")
    if how == "OMP_NUM_THREADS":
        monkeypatch.setenv("OMP_NUM_THREADS", str(fresh_threads))
    else:
        monkeypatch.setattr(cpu, "_threads_at_import", fresh_threads + 1)  # the user changed it since
    assert configure_threads(cpus=1) == fresh_threads
