"""The app's one degradation run: started by one visitor, watched by every visitor, paused while the
app's models compute, and the recorded curves shown before any run.

The server holds one :class:`DegradationLab` (the :class:`~resnet_viz.explorer.Explorer` makes it).
It is cheap to make: the :class:`~resnet_viz.degradation_runner.DegradationRunner` (and so its
process) comes with the first Start, and the recorded run is read from disk when first asked for,
so building the app, or many apps in a test session, starts nothing.

It listens to the registry's :class:`~resnet_viz.gate.Activity`: while any of the app's models
computes (an analysis, a Grad-CAM, a slice of a slow attribution), the run is held between two
training rounds, so a visitor's request gets the cores it would have had without the lab.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any, Mapping

from .degradation import DegradationConfig, DegradationResult
from .degradation_runner import DegradationRunner, RunSnapshot
from .gate import Activity

__all__ = ["RECORDED", "RECORDED_RUNS", "DegradationLab", "Recorded"]

log = logging.getLogger(__name__)

_ASSETS = Path(__file__).resolve().parent.parent / "assets"
RECORDED = _ASSETS / "degradation_recorded.json"  # the default preset's run, shown on open
RECORDED_RUNS: dict[str, Path] = {  # preset key -> its committed run (bench/record_degradation.py --preset KEY)
    "default": RECORDED,
    "deeper": _ASSETS / "degradation_recorded_deeper.json",
}


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
    """One run per server. ``threads``: the run's torch threads (1 leaves the app a core of two)."""

    def __init__(
        self,
        activity: Activity | None = None,
        *,
        threads: int = 1,
        device: str = "cpu",
        context: str = "spawn",
        recorded: Path | Mapping[str, Path] = RECORDED_RUNS,
    ) -> None:
        self.threads, self.device, self.context = threads, device, context
        # preset key -> file; a single path is the default preset's
        self.recorded_paths = dict(recorded) if isinstance(recorded, Mapping) else {"default": Path(recorded)}
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
        """Start a run for visitor ``owner``; False when one is already going (one at a time)."""
        with self._lock:
            if self._runner is None:
                self._runner = DegradationRunner(threads=self.threads, device=self.device, context=self.context)
            runner = self._runner
        # Outside the lock: launching the process takes a moment, and the activity listener must
        # not wait for it. The runner itself refuses a second run.
        if not runner.start(config):
            return False
        with self._lock:
            self._owner, self._config = owner, config
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
