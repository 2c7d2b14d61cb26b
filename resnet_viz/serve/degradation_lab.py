"""The app's one degradation run: started by one visitor, watched by every visitor, paused while the
app's models compute, and the recorded curves shown before any run.

The server holds one :class:`DegradationLab` (the :class:`~resnet_viz.serve.explorer.Explorer` makes it).
It is cheap to make: the :class:`~resnet_viz.degradation.runner.DegradationRunner` (and so its
process) comes with the first Start, and the recorded run is read from disk when first asked for,
so building the app, or many apps in a test session, starts nothing.

It listens to the registry's :class:`~resnet_viz.serve.gate.Activity`: while any of the app's models
computes (an analysis, a Grad-CAM, a slice of a slow attribution), the run is held between two
training rounds, so a visitor's request gets the cores it would have had without the lab.

The lab is shared, so one visitor may not hold it for long: a run may cost at most
:data:`MAX_LAYER_STEPS` (about 10 minutes here; :func:`run_cost`), and a run whose starter's page
has sent no heartbeat for ``heartbeat_timeout_s`` (a minute) is ended, with the reason kept for
every other visitor's status line (:meth:`DegradationLab.ended_reason`).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from ..degradation.experiment import DegradationConfig, DegradationResult
from ..degradation.runner import DegradationRunner, RunSnapshot
from .gate import Activity

__all__ = ["RECORDED", "RECORDED_RUNS", "MAX_LAYER_STEPS", "HEARTBEAT_TIMEOUT_S", "DegradationLab", "Recorded", "RunTooCostly", "run_cost"]

log = logging.getLogger(__name__)

_ASSETS = Path(__file__).resolve().parents[2] / "assets"
RECORDED = _ASSETS / "degradation_recorded.json"  # the default preset's run, shown on open
RECORDED_RUNS: dict[str, Path] = {  # preset key -> its committed run (bench/record_degradation.py --preset KEY)
    "default": RECORDED,
    "deeper": _ASSETS / "degradation_recorded_deeper.json",
}

# What one live run may cost, in layer-steps: SGD steps x the sum of the depths trained (each depth
# is a plain and a residual twin of that many layers, and a step's time grows with the layers), x
# CIFAR_FACTOR on CIFAR-10, x batch_size / 32. The default run (900 steps at depths 20 and 56:
# 68,400) took 115 s on the project's 2-core CPU, 1.7 ms a layer-step, so 360,000 is about 10
# minutes: what a class can wait for while it watches the curves grow, and the longest one visitor
# may hold the server's only lab. Four depths get 2,368 steps, two depths (20, 56) 4,736; the
# paper's 64,000-step schedule (4.5 hours here) belongs to the command line.
MAX_LAYER_STEPS = 360_000
SECONDS_PER_LAYER_STEP = 115 / 68_400  # measured (README, "Live-run budget"): for the estimate shown
# CIFAR-10's 32 x 32 images against the gratings' 8 x 8: 5.8x (depth 20) and 7.5x (depth 56) the
# step time, measured with one torch thread on the 2-core CPU.
CIFAR_FACTOR = 8
HEARTBEAT_TIMEOUT_S = 60.0  # the starter's page sends one every second while its run is shown


def _layer_factor(config: DegradationConfig) -> float:
    return (CIFAR_FACTOR if config.data == "cifar10" else 1) * config.batch_size / 32


def run_cost(config: DegradationConfig) -> int:
    """A run's cost in layer-steps (see MAX_LAYER_STEPS)."""
    return math.ceil(config.steps * sum(config.depths) * _layer_factor(config))


class RunTooCostly(ValueError):
    """A run over the lab's budget: its cost, the budget, and the most steps its depths could have."""

    def __init__(self, config: DegradationConfig, limit: int) -> None:
        self.cost, self.limit = run_cost(config), limit
        self.minutes = self.cost * SECONDS_PER_LAYER_STEP / 60
        self.limit_minutes = limit * SECONDS_PER_LAYER_STEP / 60
        self.max_steps = int(limit // (sum(config.depths) * _layer_factor(config)))
        super().__init__(f"the run costs {self.cost:,} layer-steps, more than the lab's {limit:,}; "
                         f"at most {self.max_steps:,} steps at depths {', '.join(map(str, config.depths))}")


class Recorded:
    """The committed run (bench/record_degradation.py): its curves and how they were made."""

    def __init__(self, result: DegradationResult, meta: dict[str, Any]) -> None:
        self.result = result
        self.command = str(meta.get("command", "?"))
        self.machine = str(meta.get("machine", "?"))
        self.date = str(meta.get("date", "?"))
        self.seconds = float(meta.get("wall_seconds", result.seconds))

    @classmethod
    def load(cls, path: Path) -> Recorded:
        """Raises OSError / ValueError / KeyError / TypeError for a missing or malformed file."""
        payload = json.loads(path.read_text())
        return cls(DegradationResult.from_json(payload), dict(payload.get("recorded", {})))


class DegradationLab:
    """One run per server. ``threads``: the run's torch threads (1 leaves the app a core of two);
    ``max_cost``: the most layer-steps a run may cost (None: no bound); ``heartbeat_timeout_s``:
    how long the run goes on without a sign of its starter's page (None: for ever); ``clock`` for
    tests."""

    def __init__(
        self,
        activity: Activity | None = None,
        *,
        threads: int = 1,
        device: str = "cpu",
        context: str = "spawn",
        recorded: Path | Mapping[str, Path] = RECORDED_RUNS,
        max_cost: int | None = MAX_LAYER_STEPS,
        heartbeat_timeout_s: float | None = HEARTBEAT_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threads, self.device, self.context = threads, device, context
        # preset key -> file; a single path is the default preset's
        self.recorded_paths = dict(recorded) if isinstance(recorded, Mapping) else {"default": Path(recorded)}
        self.max_cost, self.heartbeat_timeout_s, self.clock = max_cost, heartbeat_timeout_s, clock
        self._beat = 0.0  # the latest heartbeat of the active run's starter
        self._ended: tuple[int, str] | None = None  # (run id, why the lab ended it)
        self._watchdog: threading.Thread | None = None
        self._closing = threading.Event()
        # False leaves the run training while the app's models compute (the benchmark's baseline).
        self.yield_to_app = True
        self.pauses = 0  # how often the run was held for the app's models
        self._lock = threading.Lock()
        self._runner: DegradationRunner | None = None
        self._owner: str | None = None  # the session that started the latest run
        self._config: DegradationConfig | None = None  # the latest run's
        self._busy = False  # the app's models are computing (as the activity last said)
        self._recorded: dict[str, Recorded] = {}
        self._recorded_errors: dict[str, str] = {}
        if activity is not None:
            activity.listeners.append(self.on_activity)

    # --- the run ---------------------------------------------------------------------------------

    def start(self, config: DegradationConfig, owner: str) -> bool:
        """Start a run for visitor ``owner``; False when one is already going (one at a time).
        Raises :class:`RunTooCostly` for a run over the budget."""
        if self.max_cost is not None and run_cost(config) > self.max_cost:
            raise RunTooCostly(config, self.max_cost)
        with self._lock:
            if self._runner is None:
                self._runner = DegradationRunner(threads=self.threads, device=self.device, context=self.context)
            runner = self._runner
        # Outside the lock: launching the process takes a moment, and the activity listener must
        # not wait for it. The runner itself refuses a second run.
        if not runner.start(config):
            return False
        with self._lock:
            self._owner, self._config, self._beat = owner, config, self.clock()
            self._start_watchdog()
            # A model may have started computing before the run existed (the listener then had
            # nothing to hold): hold it now. Pausing twice is harmless.
            if self._busy and self.yield_to_app and not runner.snapshot().paused:
                runner.pause()
                self.pauses += 1
        return True

    def cancel(self, owner: str) -> bool | None:
        """Stop the active run if ``owner`` started it: True stopped, False nothing to stop,
        None refused (another visitor's run)."""
        with self._lock:
            runner, mine = self._runner, self._owner == owner
        if runner is None or not runner.snapshot().active:
            return False
        if not mine:
            return None
        return runner.cancel()

    def heartbeat(self, session_id: str) -> None:
        """A sign of life from ``session_id``'s page; it keeps the run going only if it started it."""
        with self._lock:
            if self._owner is not None and self._owner == session_id:
                self._beat = self.clock()

    def check_starter(self) -> bool:
        """End the active run if its starter's page has been silent for longer than the timeout;
        True when it did. The lab's watchdog thread calls this every few seconds."""
        timeout = self.heartbeat_timeout_s
        with self._lock:
            runner, silent = self._runner, self.clock() - self._beat
        if runner is None or timeout is None or silent <= timeout:
            return False
        snap = runner.snapshot()
        if not snap.active:
            return False
        with self._lock:
            self._ended = (snap.run_id, "starter_left")
        log.info("degradation run %d ended: its starter's page was silent for %.0f s", snap.run_id, silent)
        runner.cancel()
        return True

    def ended_reason(self, run_id: int) -> str | None:
        """Why the lab itself ended run ``run_id`` ("starter_left"), or None."""
        ended = self._ended
        return ended[1] if ended is not None and ended[0] == run_id else None

    def _start_watchdog(self) -> None:
        """(Lock held.) The thread that ends a run whose starter left, started with the first run."""
        if self._watchdog is None and self.heartbeat_timeout_s is not None:
            self._watchdog = threading.Thread(target=self._watch, name="degradation-watchdog", daemon=True)
            self._watchdog.start()

    def _watch(self) -> None:
        period = min(5.0, max(0.05, (self.heartbeat_timeout_s or 60.0) / 4))
        while not self._closing.wait(period):
            try:
                self.check_starter()
            except Exception:  # noqa: BLE001 (the watchdog must outlive one bad check)
                log.exception("degradation lab: checking the starter's heartbeat failed")

    def snapshot(self) -> RunSnapshot | None:
        """The latest run's state, or None when this server has not started one."""
        runner = self._runner
        return runner.snapshot() if runner is not None else None

    def owner_is(self, session_id: str) -> bool:
        """Whether ``session_id`` started the latest run (an opaque key, compared only)."""
        return self._owner is not None and self._owner == session_id

    def config(self) -> DegradationConfig | None:
        """The latest run's configuration (its step count while no result has arrived yet)."""
        return self._config

    def on_activity(self, busy: bool) -> None:
        """The registry's listener: hold the run while a model computes, let it go after. Called
        with the gate's lock held, so it only flips an event; it never raises into the gate."""
        try:
            with self._lock:
                self._busy = busy
                runner = self._runner
                if runner is None:
                    return
                if busy and self.yield_to_app:
                    if runner.snapshot().active:
                        runner.pause()
                        self.pauses += 1
                else:
                    runner.resume()  # also after yield_to_app was switched off mid-pause
        except Exception:  # noqa: BLE001 (a listener must not break the model gate)
            log.exception("degradation lab: pausing/resuming the run failed")

    def close(self) -> None:
        """Stop any active run (the app is closing). It keeps listening: a finished run ignores it."""
        self._closing.set()
        runner = self._runner
        if runner is not None:
            runner.close()

    # --- the recorded curves ---------------------------------------------------------------------

    def recorded(self, preset: str = "default") -> Recorded | None:
        """The preset's committed run, read once; None (and :meth:`recorded_error` says why) if unreadable."""
        with self._lock:
            if preset not in self._recorded and preset not in self._recorded_errors:
                path = self.recorded_paths.get(preset)
                try:
                    if path is None:
                        raise KeyError(f"no recorded run for the {preset!r} preset")
                    self._recorded[preset] = Recorded.load(path)
                except (OSError, ValueError, KeyError, TypeError) as exc:
                    self._recorded_errors[preset] = f"{type(exc).__name__}: {exc}"
                    log.warning("no recorded degradation curves (%s): %s", path, self._recorded_errors[preset])
            return self._recorded.get(preset)

    def recorded_error(self, preset: str = "default") -> str | None:
        return self._recorded_errors.get(preset)
