"""Run one degradation experiment at a time in its own process, for a web app to hold.

The app process serves requests from several threads, so the run is started with the "spawn"
context (no fork of a threaded process) and gets its own bounded number of torch threads; its
training never holds the app's GIL or its model locks. Partial results stream back through a queue
that a small thread of the parent drains, so :meth:`DegradationRunner.snapshot` is a cheap read
of the latest state. The run can be paused between two training rounds (the app pauses it while
short requests run on a small machine) and cancelled (asked first, terminated if it does not stop).

The run never outlives the app, however the app ends (closed, SIGTERM, SIGKILL, a crash): the child
holds the read end of a pipe whose only write end the app holds, and a thread in the child exits
the process as soon as that end closes (the kernel closes it when the app dies), also while the
run is paused. Linux's PR_SET_PDEATHSIG is not used: it fires when the *thread* that started the
child ends, and the app starts runs from a web server's worker threads, which come and go. With
the child gone, multiprocessing's helper (the resource tracker, or the fork server) sees its own
pipes close and exits too.

Note for apps started as ``python app.py``: "spawn" imports the parent's main module in the child
(as ``__mp_main__``), so keep its module level free of work (build the demo in a function or
under ``if __name__ == "__main__"``, as this project's app.py does).

States: ``idle`` (nothing started yet), ``starting`` (process launched, importing torch and
making its data; no step done yet),
``running`` (``paused`` says whether it is held), ``finished``, ``cancelled``, ``failed``.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue as queue_module
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Literal, Mapping

from .experiment import DegradationConfig, DegradationResult

__all__ = ["DegradationRunner", "RunSnapshot", "RunState"]

log = logging.getLogger(__name__)

RunState = Literal["idle", "starting", "running", "finished", "cancelled", "failed"]
_ACTIVE: tuple[RunState, ...] = ("starting", "running")


@dataclass(frozen=True)
class RunSnapshot:
    """What the app shows: the state, the latest partial (or final) result, an error text."""

    state: RunState
    result: DegradationResult | None
    fraction: float  # of the steps done, in [0, 1]
    paused: bool
    error: str | None  # failed: "ValueError: ..."; None otherwise
    run_id: int  # increases with every start, so a page can tell a new run from the last one
    started: float | None  # time.time() at start
    updated: float | None  # time.time() of the latest message from the run

    @property
    def active(self) -> bool:
        return self.state in _ACTIVE

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "fraction": self.fraction,
            "paused": self.paused,
            "error": self.error,
            "run_id": self.run_id,
            "started": self.started,
            "updated": self.updated,
            "result": self.result.to_json() if self.result is not None else None,
        }


class _Stop(Exception):
    """Raised inside the child's progress callback when the parent asked it to stop."""


PARENT_GONE_EXIT = 75  # the child's exit status when it ended because the app did


def _die_with_parent(watch: Any) -> None:
    """A thread that ends this process once the app is gone: the app's end of ``watch`` closed
    (EOF), or this process was handed to another parent (its own parent is the app, or with
    "forkserver" the fork server, which exits with the app). Runs beside the training, so a paused
    run (its main thread waiting for ``go``) ends too."""
    parent_pid = os.getppid()

    def watch_parent() -> None:
        try:
            while os.getppid() == parent_pid:
                if watch.poll(1.0):
                    watch.recv_bytes()  # the parent never writes: EOFError is the only way here
        except (EOFError, OSError):
            pass
        os._exit(PARENT_GONE_EXIT)  # no cleanup to wait for: nobody is left to read the results

    threading.Thread(target=watch_parent, name="parent-watch", daemon=True).start()


def _child(config: dict[str, Any], device: str, threads: int, out: Any, go: Any, stop: Any, watch: Any) -> None:
    """The child process: train, posting ("progress" | "done" | "cancelled" | "failed", ...) to ``out``."""
    _die_with_parent(watch)
    try:
        import torch

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
        from .experiment import degradation_experiment

        points = -1

        def progress(fraction: float, partial: DegradationResult) -> None:
            nonlocal points
            go.wait()  # paused: block here, between two rounds of steps
            if stop.is_set():
                raise _Stop
            if partial.points != points:  # only new points are worth the pickling
                points = partial.points
                out.put(("progress", fraction, partial.to_json()))

        result = degradation_experiment(device=device, progress=progress, **config)
        out.put(("done", 1.0, result.to_json()))
    except _Stop:
        out.put(("cancelled",))
    except BaseException as exc:  # the parent shows it; a traceback goes to the child's log
        log.error("degradation run failed:\n%s", traceback.format_exc())
        out.put(("failed", f"{type(exc).__name__}: {exc}"))


class DegradationRunner:
    """Holds at most one experiment process; every method is safe to call from any thread.

    ``threads`` bounds the run's torch threads (1 leaves a core of a 2-core machine to the app).
    ``context="spawn"`` starts a fresh interpreter per run; ``"forkserver"`` pays the imports
    once, in a server process that lives as long as the app, and starts later runs at once.
    """

    def __init__(self, threads: int = 1, device: str = "cpu", context: str = "spawn") -> None:
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
            raise ValueError(f"threads must be a positive integer, got {threads!r}")
        if context not in ("spawn", "forkserver"):
            raise ValueError(f"context must be 'spawn' or 'forkserver' (never fork a threaded app), got {context!r}")
        self.threads, self.device = threads, device
        self._ctx = multiprocessing.get_context(context)
        if context == "forkserver":
            # The fork server imports torch and this package once; every run then forks from it
            # in milliseconds instead of importing torch again (seconds on a busy 2-core machine).
            self._ctx.set_forkserver_preload(["resnet_viz.degradation.experiment"])
        self._lock = threading.Lock()
        self._state, self._result, self._fraction, self._error = "idle", None, 0.0, None
        self._run_id, self._started, self._updated = 0, None, None
        self._process: Any = None
        self._watch: Any = None  # the write end of the child's parent-watch pipe (never written)
        self._go: Any = None
        self._stop: Any = None
        self._pump: threading.Thread | None = None

    # --- control ------------------------------------------------------------------------------

    def start(self, config: DegradationConfig | Mapping[str, Any] | None = None) -> bool:
        """Start a run unless one is active (then False: one run at a time). ``config`` holds
        :class:`DegradationConfig` fields; it is checked here, so a bad value raises ValueError
        in the caller rather than failing in the child."""
        if isinstance(config, DegradationConfig):
            fields = config.to_json()
        else:
            fields = dict(config or {})
            fields = DegradationConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}).to_json()
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
        with self._lock:
            if self._state in _ACTIVE:
                return False
            out = self._ctx.Queue()
            self._go, self._stop = self._ctx.Event(), self._ctx.Event()
            self._go.set()
            watch_child, watch_parent = self._ctx.Pipe(duplex=False)
            process = self._ctx.Process(
                target=_child,
                args=(fields, self.device, self.threads, out, self._go, self._stop, watch_child),
                name="degradation-run",
                daemon=True,  # stopped when the app exits normally; the watch pipe covers the rest
            )
            process.start()
            watch_child.close()  # the child has its own copy; only the parent's write end matters
            self._process, self._watch = process, watch_parent
            self._run_id += 1
            self._state, self._result, self._fraction, self._error = "starting", None, 0.0, None
            self._started, self._updated = time.time(), None
            self._pump = threading.Thread(
                target=self._drain, args=(process, out, self._stop, self._run_id), name="degradation-pump", daemon=True
            )
            self._pump.start()
            return True

    def pause(self) -> None:
        """Hold the run after its current round of steps (a fraction of a second) until resume()."""
        with self._lock:
            if self._go is not None:
                self._go.clear()

    def resume(self) -> None:
        with self._lock:
            if self._go is not None:
                self._go.set()

    def cancel(self, timeout: float = 3.0) -> bool:
        """Stop the active run; True when one was stopped. A training run is asked to stop after
        its current round of steps and terminated if it has not within ``timeout`` seconds; a run
        still starting (importing torch, making its data) holds nothing yet and is terminated."""
        with self._lock:
            process, pump = self._process, self._pump
            if process is None or self._state not in _ACTIVE:
                return False
            self._stop.set()
            self._go.set()  # a paused run must wake up to see the stop
            starting = self._state == "starting"
        if not starting:
            process.join(timeout)
        if process.is_alive():
            if not starting:
                log.warning("degradation run did not stop within %.1f s; terminating it", timeout)
            process.terminate()
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join()
        if pump is not None:
            pump.join(timeout)
        with self._lock:
            if self._state in _ACTIVE:
                self._state = "cancelled"
        return True

    def wait(self, timeout: float | None = None) -> RunSnapshot:
        """Block until the run is over (or ``timeout`` seconds pass); the snapshot then."""
        pump = self._pump
        if pump is not None:
            pump.join(timeout)
        return self.snapshot()

    def close(self) -> None:
        """Cancel any active run (for the app's shutdown)."""
        self.cancel(timeout=2.0)

    # --- reading ------------------------------------------------------------------------------

    def snapshot(self) -> RunSnapshot:
        with self._lock:
            paused = self._go is not None and not self._go.is_set() and self._state in _ACTIVE
            return RunSnapshot(
                state=self._state,
                result=self._result,
                fraction=self._fraction,
                paused=paused,
                error=self._error,
                run_id=self._run_id,
                started=self._started,
                updated=self._updated,
            )

    def _drain(self, process: Any, out: Any, stop: Any, run_id: int) -> None:
        """The parent's pump: move the child's messages into the state until the run ends."""
        while True:
            try:
                message = out.get(timeout=0.5)
            except queue_module.Empty:
                if process.is_alive():
                    continue
                try:  # it may have posted its last words just before exiting
                    message = out.get(timeout=0.5)
                except queue_module.Empty:
                    if stop.is_set():  # terminated by cancel()
                        self._end(run_id, "cancelled")
                    else:
                        self._end(run_id, "failed", f"the run's process exited with code {process.exitcode}")
                    break
            kind = message[0]
            if kind == "progress":
                self._set(run_id, state="running", fraction=message[1], result=message[2])
            elif kind == "done":
                self._set(run_id, fraction=1.0, result=message[2])
                self._end(run_id, "finished")
                break
            else:
                self._end(run_id, kind, message[1] if len(message) > 1 else None)
                break
        process.join()
        out.close()
        with self._lock:
            if self._process is process and self._watch is not None:
                self._watch.close()  # the child is gone: its watch pipe with it
                self._watch = None

    def _set(self, run_id: int, state: RunState | None = None, fraction: float | None = None, result: Any = None) -> None:
        parsed = DegradationResult.from_json(result) if result is not None else None  # outside the lock
        with self._lock:
            if run_id != self._run_id or self._state not in _ACTIVE:
                return
            if state is not None:
                self._state = state
            if fraction is not None:
                self._fraction = fraction
            if parsed is not None:
                self._result = parsed
            self._updated = time.time()

    def _end(self, run_id: int, state: RunState, error: str | None = None) -> None:
        with self._lock:
            if run_id != self._run_id or self._state not in _ACTIVE:
                return
            self._state, self._error, self._updated = state, error, time.time()
