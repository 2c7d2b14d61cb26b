"""Per-session download folders whose names the server chooses.

A visitor's zip is written to ``<root>/<token>/`` where ``token`` is a random hex string made
here and kept on the visitor's :class:`~resnet_viz.serve.sessions.Session`. Nothing the client sends
(session id, uploaded file name, form values) is ever part of a path: a session id of ``..`` or
``/etc`` is only a dictionary key elsewhere, and a session that never asked for a download has no
folder to remove. The root itself belongs to the app and is removed when the app exits.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
from pathlib import Path

from .sessions import Session

__all__ = ["DownloadFolders"]


class DownloadFolders:
    def __init__(self, root: str | Path | None = None) -> None:
        if root is None:
            self._owned = tempfile.TemporaryDirectory(prefix="resnet-viz-downloads-")
            root = self._owned.name
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def folder(self, session: Session) -> Path:
        """The session's own folder, created on first use under a fresh random name."""
        with self._lock:
            if session.files_token is None:
                session.files_token = secrets.token_hex(16)
        folder = self.root / session.files_token
        folder.mkdir(exist_ok=True)
        return folder

    def remove(self, session: Session) -> None:
        """Delete the session's folder, if it ever had one; never anything else."""
        if session.files_token is None:
            return
        shutil.rmtree(self.root / session.files_token, ignore_errors=True)
