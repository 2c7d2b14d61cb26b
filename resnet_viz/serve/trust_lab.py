"""The residual-learning lab's data randomisation test (Adebayo et al. 2018, section 5): the lab
network trained on the true labels and on shuffled ones, and how alike a method's maps are on
the two.

Two ways, both shared by every visitor:

- the **shipped pair** (``assets/trust_lab_true.pt``, ``trust_lab_permuted.pt``, made by
  ``python -m bench.make_trust_lab``): compared once per server (a few seconds), then cached;
- a **live pair**, trained here with :data:`LIVE_TRUE` and :data:`LIVE_PERMUTED` (one to three
  minutes on the project's 2-core CPU, see the README): one at a time per server, like the
  degradation lab's run, and paused while the app's models compute so a visitor's analysis gets
  the cores it would have had without it.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

from ..i18n import UserError
from ..trust.data_randomisation import DataRandomisationResult, data_randomisation, data_randomisation_test
from ..trust.lab import LabConfig, LabNetwork, load_lab_network
from .gate import Activity

__all__ = ["LAB_METHODS", "LIVE_PERMUTED", "LIVE_TRUE", "SHIPPED", "DataRandomisationLab", "LabResults"]

Progress = Callable[[float], None]
LabResults = dict[str, DataRandomisationResult]  # method -> its comparison

_ASSETS = Path(__file__).resolve().parents[2] / "assets"
SHIPPED = (_ASSETS / "trust_lab_true.pt", _ASSETS / "trust_lab_permuted.pt")
LAB_METHODS = ("gradcam", "guided_backprop", "saliency")  # the paper's pair and the plain gradient
SCENES = 16
# The live pair: fewer steps than the shipped one (600 / 1,000), so a class can wait for it.
# Measured (bench_trust --only-data-randomisation, 2 threads, idle 2-core CPU): 73 s in all, the
# true-label net 93% on new scenes, the shuffled-label net memorising 300 scenes (7% on new ones:
# chance); the verdicts as the shipped pair's.
LIVE_TRUE = LabConfig(labels="true", steps=300)
LIVE_PERMUTED = LabConfig(labels="permuted", train_size=300, steps=500)
PAUSE_POLL_S = 0.05


class DataRandomisationLab:
    """The lab's data randomisation test for a server: the shipped pair's comparison (cached) and
    at most one live training at a time."""

    def __init__(self, activity: Activity | None = None, shipped: tuple[Path, Path] = SHIPPED,
                 live: tuple[LabConfig, LabConfig] = (LIVE_TRUE, LIVE_PERMUTED)) -> None:
        self.activity = activity
        self.shipped_paths = shipped
        self.live_configs = live
        self._shipped: LabResults | None = None
        self._shipped_lock = threading.Lock()
        self._live = threading.Lock()  # held by the one live training

    def shipped(self, progress: Progress | None = None) -> LabResults:
        """The shipped pair's comparison for :data:`LAB_METHODS` (computed by the first caller;
        everyone else waits for it and gets the same)."""
        with self._shipped_lock:
            if self._shipped is None:
                true_net, permuted_net = (load_lab_network(path) for path in self.shipped_paths)
                self._shipped = self._compare(true_net, permuted_net, progress)
            return self._shipped

    def _compare(self, true_net: LabNetwork, permuted_net: LabNetwork, progress: Progress | None) -> LabResults:
        results = {}
        for k, method in enumerate(LAB_METHODS):
            share = None if progress is None else (lambda f, k=k: progress((k + f) / len(LAB_METHODS)))
            results[method] = data_randomisation(true_net, permuted_net, method, scenes=SCENES, progress=share)
        return results

    @property
    def training(self) -> bool:
        return self._live.locked()

    def train(self, progress: Progress | None = None, lang: str = "en") -> LabResults:
        """Train a live pair and compare it. Refused (a UserError in ``lang``) while another
        visitor's training runs. ``progress`` is called at every training step and after every
        scene; it may raise (Cancel) to stop. Between steps the training waits while the app's
        models compute."""
        if not self._live.acquire(blocking=False):
            raise UserError("datarand_busy", lang)
        try:
            def step(fraction: float) -> None:
                if progress is not None:
                    progress(fraction)
                while self.activity is not None and self.activity.active:
                    time.sleep(PAUSE_POLL_S)

            # torch's thread count is the process's: the training shares it, and steps aside
            # (above) instead of taking a core away from the app's models.
            true_config, permuted_config = self.live_configs
            return data_randomisation_test(LAB_METHODS, true_config=true_config, permuted_config=permuted_config,
                                           scenes=SCENES, progress=step, report_every=1)
        finally:
            self._live.release()

