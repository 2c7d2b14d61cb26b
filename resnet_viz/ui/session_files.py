"""The files visitors leave on the server's disk: what they uploaded and the pictures sent back to
them, held while shown and deleted once nobody shows them any more.

Gradio writes every upload and every output picture into its cache folder and, left alone, keeps
them for as long as ``delete_cache`` says (an hour here): 300 opacity changes added 23 MB. This
ledger sees every event (``ExplorerDemo.process_api``) and every upload (``UploadLimits``):

- a session holds, per input and per output component, only the files of its latest event there;
  the file a new opacity replaces, or the photo a new photo replaces, is let go;
- a file nobody holds is deleted after ``grace_s`` (a browser may still be fetching it, or
  another session may be about to be handed the same picture: Gradio names files by content);
- a session's files are let go when it ends: its tab closed (Gradio's unload), or no event for
  ``session_idle_s``;
- an upload no event used within ``unclaimed_s`` is deleted, and the oldest of them go first once
  together they pass ``unclaimed_bytes`` (uploads carry no session: Gradio's upload route does not
  know who sent them until an event uses the file);
- the uploads one session may use over its life are bounded by ``bytes_per_session``;
- everything held is bounded by ``total_bytes`` and ``max_sessions``: past that, the least
  recently active sessions' files go first.

Only files this ledger saw arrive (an upload's answer, an event's input or output) and that lie
inside Gradio's upload folder are ever deleted, and never one a component keeps in the cache for
its own (an example, a default value). Paths the client sends are looked up, never trusted: an
input path outside the folder, or one the ledger never saw, is ignored.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

__all__ = ["FileLimits", "SessionFiles", "SessionBudgetExceeded"]

log = logging.getLogger(__name__)

MB = 2**20


@dataclass(frozen=True)
class FileLimits:
    """What visitors may leave on disk. The defaults fit a class of 30 on one small server."""

    files_per_request: int = 1  # the photo input takes one file
    bytes_per_request: int = 10 * MB + 64 * 1024  # one photo of the 10 MB limit and its multipart headers
    bytes_per_session: int = 100 * MB  # uploads one session may use over its life: 10 photos of 10 MB
    unclaimed_s: float = 120.0  # an upload no event used is deleted after this
    unclaimed_bytes: int = 100 * MB  # ... and the oldest of them first beyond this
    total_bytes: int = 1024 * MB  # everything the ledger holds, uploads and outputs together
    max_sessions: int = 1024  # sessions tracked (every direct API call is a session of its own)
    grace_s: float = 30.0  # a file no session holds any more is deleted after this
    session_idle_s: float = 1800.0  # a session without any event for this long has ended

    def __post_init__(self) -> None:
        for name in ("files_per_request", "bytes_per_request", "bytes_per_session", "unclaimed_bytes",
                     "total_bytes", "max_sessions"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive whole number, got {value!r}")
        for name in ("unclaimed_s", "grace_s", "session_idle_s"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be a number of seconds, got {getattr(self, name)!r}")


class SessionBudgetExceeded(Exception):
    """A session's event would use more uploaded bytes than ``bytes_per_session``."""

    def __init__(self, used: int, limit: int) -> None:
        self.used, self.limit = used, limit
        super().__init__(f"this session has used {used:,} bytes of uploads; the limit is {limit:,}")


@dataclass
class _File:
    size: int
    arrived: float
    holders: set[tuple[str, str]] = field(default_factory=set)  # (session, slot)
    claimed: bool = False  # an event has used it (uploads start unclaimed)
    released: float | None = None  # when the last holder let go


@dataclass
class _Session:
    slots: dict[str, frozenset[str]] = field(default_factory=dict)
    uploaded: set[str] = field(default_factory=set)  # uploads counted against the budget
    uploaded_bytes: int = 0
    active: float = 0.0


class SessionFiles:
    """The ledger. ``roots``: Gradio's upload/cache folders; ``protected(path)``: a file a component
    keeps; ``on_delete(path)``: told after each deletion (Gradio's own file sets forget it)."""

    def __init__(
        self,
        roots: Iterable[str | os.PathLike],
        limits: FileLimits | None = None,
        *,
        protected: Callable[[], set[str]] | None = None,
        on_delete: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.roots = tuple(Path(root).resolve() for root in roots)
        self.limits = limits or FileLimits()
        self.protected = protected or (lambda: set())
        self.on_delete = on_delete
        self.clock = clock
        self.deleted = 0  # files deleted so far (tests, logs)
        self._lock = threading.Lock()
        self._files: dict[str, _File] = {}
        self._sessions: dict[str, _Session] = {}
        self._janitor: threading.Thread | None = None
        self._stop = threading.Event()

    # --- what arrives --------------------------------------------------------------------------

    def _inside(self, path: object) -> str | None:
        """The resolved path if it is a file inside a root, else None (client data: checked here)."""
        if not isinstance(path, str) or not path or "\x00" in path:
            return None
        try:
            resolved = Path(path).resolve()
        except (OSError, RuntimeError, ValueError):
            return None
        if not any(resolved.is_relative_to(root) and resolved != root for root in self.roots):
            return None
        return str(resolved)

    def uploaded(self, paths: Iterable[str]) -> None:
        """Files Gradio's upload route just wrote (from its answer): unclaimed until an event uses them."""
        now = self.clock()
        with self._lock:
            for raw in paths:
                path = self._inside(raw)
                if path is None:
                    continue
                entry = self._files.get(path)
                if entry is None:
                    self._files[path] = _File(_size(path), now)
                elif not entry.holders:  # uploaded again while waiting to be deleted: a fresh start
                    entry.arrived, entry.released, entry.claimed = now, None, False
        self._start_janitor()

    def admit(self, session: str, inputs: Mapping[str, Iterable[str]]) -> None:
        """Before an event runs: the uploads it uses count against the session's budget (raises
        :class:`SessionBudgetExceeded` and changes nothing when they would pass it)."""
        with self._lock:
            state = self._sessions.get(session)
            new = {}
            for paths in inputs.values():
                for raw in paths:
                    path = self._inside(raw)
                    if path is not None and path in self._files and (state is None or path not in state.uploaded):
                        new[path] = self._files[path].size
            used = state.uploaded_bytes if state is not None else 0
            if used + sum(new.values()) > self.limits.bytes_per_session:
                raise SessionBudgetExceeded(used + sum(new.values()), self.limits.bytes_per_session)
            if state is not None:
                state.active = self.clock()

    def hold(self, session: str, slots: Mapping[str, Iterable[str]]) -> None:
        """After an event: the session now shows exactly these files in these slots (an input or an
        output component); what a slot held before is let go. Uploads used count for the session."""
        now = self.clock()
        with self._lock:
            state = self._sessions.get(session)
            if state is None:
                if not any(True for paths in slots.values() for _ in paths):
                    return  # nothing to remember (an unload, a tick): never re-create an ended session
                state = self._sessions[session] = _Session()
            state.active = now
            for slot, raw_paths in slots.items():
                is_input = slot.startswith("in:")
                # An input the ledger never saw arrive is not the visitor's upload: never ours to delete.
                paths = frozenset(
                    p for p in (self._inside(r) for r in raw_paths) if p is not None and (p in self._files or not is_input)
                )
                old = state.slots.get(slot, frozenset())
                for path in paths - old:
                    entry = self._files.get(path)
                    if entry is None:  # an output picture, new on disk
                        entry = self._files[path] = _File(_size(path), now)
                    if is_input and path not in state.uploaded:
                        state.uploaded.add(path)
                        state.uploaded_bytes += entry.size
                    entry.claimed = True
                    entry.holders.add((session, slot))
                    entry.released = None
                for path in old - paths:
                    self._let_go(path, session, slot, now)
                if paths:
                    state.slots[slot] = paths
                else:
                    state.slots.pop(slot, None)
        self._start_janitor()

    def end(self, session: str) -> None:
        """The session is over (its tab closed): everything it held is let go."""
        now = self.clock()
        with self._lock:
            self._end_locked(session, now)

    def _end_locked(self, session: str, now: float) -> None:
        state = self._sessions.pop(session, None)
        if state is None:
            return
        for slot, paths in state.slots.items():
            for path in paths:
                self._let_go(path, session, slot, now)

    def _let_go(self, path: str, session: str, slot: str, now: float) -> None:
        entry = self._files.get(path)
        if entry is not None:
            entry.holders.discard((session, slot))
            if not entry.holders:
                entry.released = now

    # --- what leaves ---------------------------------------------------------------------------

    def sweep(self) -> int:
        """Delete what is due; returns how many files were deleted."""
        limits, now = self.limits, self.clock()
        with self._lock:
            for session in [s for s, st in self._sessions.items() if now - st.active > limits.session_idle_s]:
                self._end_locked(session, now)
            by_activity = sorted(self._sessions, key=lambda s: self._sessions[s].active)
            while by_activity and (len(self._sessions) > limits.max_sessions or self._held_bytes() > limits.total_bytes):
                self._end_locked(by_activity.pop(0), now)  # the least recently active first
            due = [
                p for p, f in self._files.items()
                if not f.holders and f.claimed and f.released is not None and now - f.released >= limits.grace_s
            ]
            unclaimed = sorted((f.arrived, p) for p, f in self._files.items() if not f.claimed)
            due += [p for arrived, p in unclaimed if now - arrived >= limits.unclaimed_s]
            waiting = [(arrived, p) for arrived, p in unclaimed if now - arrived < limits.unclaimed_s]
            total = sum(self._files[p].size for _, p in waiting)
            while waiting and total > limits.unclaimed_bytes:
                _, path = waiting.pop(0)  # the oldest unclaimed upload first
                total -= self._files[path].size
                due.append(path)
            for path in due:
                del self._files[path]
        keep = self.protected() if due else set()
        deleted = 0
        for path in due:
            if path in keep:
                continue
            deleted += _delete(path, self.roots)
            if self.on_delete is not None:
                self.on_delete(path)
        self.deleted += deleted
        if deleted:
            log.debug("deleted %d visitor files", deleted)
        return deleted

    def _held_bytes(self) -> int:
        return sum(f.size for f in self._files.values() if f.holders)

    def nbytes(self) -> int:
        """Bytes of every file the ledger knows about, held or waiting to be deleted."""
        with self._lock:
            return sum(f.size for f in self._files.values())

    def session_bytes(self, session: str) -> int:
        """The uploaded bytes counted against ``session``'s budget."""
        with self._lock:
            state = self._sessions.get(session)
            return state.uploaded_bytes if state is not None else 0

    def held(self, session: str) -> set[str]:
        """The files ``session`` holds now."""
        with self._lock:
            state = self._sessions.get(session)
            return set().union(*state.slots.values()) if state is not None and state.slots else set()

    # --- the janitor ---------------------------------------------------------------------------

    def _start_janitor(self) -> None:
        if self._janitor is None and not self._stop.is_set():
            with self._lock:
                if self._janitor is None:
                    self._janitor = threading.Thread(target=self._run, name="session-files", daemon=True)
                    self._janitor.start()

    def _run(self) -> None:
        period = max(0.5, min(5.0, self.limits.grace_s / 2, self.limits.unclaimed_s / 2))
        while not self._stop.wait(period):
            try:
                self.sweep()
            except Exception:  # noqa: BLE001 (a janitor that dies would let the disk fill)
                log.exception("deleting visitors' files failed")

    def close(self) -> None:
        self._stop.set()
        janitor = self._janitor
        if janitor is not None:
            janitor.join(timeout=10)


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _delete(path: str, roots: tuple[Path, ...]) -> int:
    """Remove the file and its folder if that is now empty and not a root (Gradio gives every file
    a folder of its own, named by a hash). 1 if a file was removed."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return 0
    except OSError as exc:
        log.warning("could not delete %s: %s", path, exc)
        return 0
    folder = Path(path).parent
    if folder not in roots:
        try:
            folder.rmdir()
        except OSError:
            pass  # not empty: another file lives there
    return 1
