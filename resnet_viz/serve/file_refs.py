"""Which server files a request may name.

A file reference in a request (``{"path": "/some/file"}``) is the client's text, like a session id:
Gradio checks it against its upload folder only when the reference carries Gradio's ``meta`` tag,
so a bare ``{"path": ...}`` would reach whatever opens it. :func:`allowed_file` is the one check
every file input goes through: the path must be absolute, resolve (following every symbolic link)
to a regular file, and that file must lie inside one of the server's own folders (Gradio's upload
and cache folder, the app's example photos). Anything else gets the same answer as a file that does
not exist, so a refusal never tells a stranger whether a path exists on the server.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Iterable

__all__ = ["allowed_file", "resolved_folders"]


def resolved_folders(folders: Iterable[str | os.PathLike]) -> tuple[Path, ...]:
    """The folders as they really are on disk (symbolic links resolved), for :func:`allowed_file`."""
    return tuple(Path(os.path.realpath(folder)) for folder in folders)


def allowed_file(path: object, folders: Iterable[Path]) -> Path | None:
    """The regular file ``path`` names, resolved, if it lies inside one of ``folders`` (resolved
    already, see :func:`resolved_folders`); None for anything else: not a string, relative, missing,
    not a regular file (a folder, a device, a FIFO), or resolving outside the folders, whether
    through ``..`` or a symbolic link. Callers treat None exactly like a missing file."""
    if not isinstance(path, str) or not os.path.isabs(path):
        return None  # relative paths would depend on the server's working directory
    try:
        # realpath resolves every link and "..", so a link inside the cache that points out of
        # it is judged by where it points, and the caller opens the resolved path, not the link.
        resolved = Path(os.path.realpath(path, strict=True))
        mode = os.stat(resolved).st_mode
    except (OSError, ValueError):  # missing, a loop of links, a name too long, a NUL byte
        return None
    if not stat.S_ISREG(mode):
        return None
    if not any(resolved.is_relative_to(folder) for folder in folders):
        return None
    return resolved
