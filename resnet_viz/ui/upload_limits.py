"""Limits on what one HTTP request may send, in front of Gradio's routes (an ASGI middleware).

Gradio 6.31's upload route (``POST /gradio_api/upload``) takes up to 1,000 files of up to
``max_file_size`` each in one request, writing each to disk as it streams in; its component
server reads as many into memory; other POST bodies (JSON) have no size limit at all. In front of
them, every POST under ``/gradio_api/``:

- is refused with 413 at once when its Content-Length passes the limit (nothing is read);
- is counted while it streams: bytes, and for a multipart body the file parts. At the first byte
  or file too many, Gradio's parser is handed the end of a malformed part instead of the rest of
  the body, so it fails as for any broken upload and deletes the files it had begun; the client
  gets 413 with a sentence in its language, never Gradio's parse error.

Each upload Gradio accepts is reported to ``on_upload`` (the :class:`SessionFiles` ledger), since
uploads carry no session: the ledger learns who uses a file when an event sends it.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Awaitable, Callable, Iterable

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.datastructures import Headers

from ..i18n import language, tr
from .session_files import FileLimits

__all__ = ["UploadLimits"]

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

API_PREFIX = "/gradio_api/"
UPLOAD_ROUTE = "/gradio_api/upload"
MAX_HEADER_BYTES = 8192  # of one part's headers that are kept to find its file name (Gradio's own limit)


class _MultipartCount:
    """File parts seen so far in a multipart body, fed chunk by chunk (a parser of its own, beside
    Gradio's: nothing is stored but the current header)."""

    def __init__(self, boundary: bytes) -> None:
        self.files = 0
        self.broken = False  # the body is not valid multipart: Gradio will say so itself
        self._field, self._value, self._disposition = b"", b"", b""
        self._parser = MultipartParser(boundary, {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
        })

    def feed(self, chunk: bytes) -> None:
        if self.broken or not chunk:
            return
        try:
            self._parser.write(chunk)
        except Exception:  # noqa: BLE001 (python-multipart raises several kinds for bad input)
            self.broken = True

    def _part_begin(self) -> None:
        self._field = self._value = self._disposition = b""

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field = (self._field + data[start:end])[:MAX_HEADER_BYTES]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value = (self._value + data[start:end])[:MAX_HEADER_BYTES]

    def _header_end(self) -> None:
        if self._field.strip().lower() == b"content-disposition":
            self._disposition = self._value
        self._field = self._value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"filename" in options:
            self.files += 1


class UploadLimits:
    """The middleware. ``limits``: files and bytes per request (:class:`FileLimits`);
    ``inline_bytes``: the most a non-multipart body may carry (a JSON event can hold a photo as
    base64: 4/3 of its bytes); ``on_upload(paths)``: told what Gradio's upload route wrote."""

    def __init__(
        self,
        app: Callable,
        *,
        limits: FileLimits,
        inline_bytes: int,
        on_upload: Callable[[Iterable[str]], None] | None = None,
    ) -> None:
        self.app, self.limits, self.inline_bytes, self.on_upload = app, limits, inline_bytes, on_upload
        self.refused = 0  # requests refused so far (tests, logs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope.get("type") == "http" else ""
        if scope.get("method") != "POST" or API_PREFIX not in path:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        lang = language(headers.get("accept-language"))
        kind, options = parse_options_header(headers.get("content-type", ""))
        boundary = options.get(b"boundary") if kind == b"multipart/form-data" else None
        limit = self.limits.bytes_per_request if boundary else self.inline_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(send, "bytes", lang)
            return
        guard = _Guard(boundary, limit, self.limits.files_per_request)

        async def counted() -> Message:
            if guard.problem is not None:
                return {"type": "http.disconnect"}  # whatever Gradio asks after the malformed end
            message = await receive()
            if message["type"] != "http.request":
                return message
            guard.count(message.get("body", b""))
            if guard.problem is None:
                return message
            if boundary:  # end Gradio's parse with a broken part: it deletes what it began
                return {"type": "http.request", "body": b"\r\n--" + boundary + b"\r\n\x00", "more_body": False}
            return {"type": "http.disconnect"}

        answer = _Answer(capture=self.on_upload is not None and path.rstrip("/").endswith(UPLOAD_ROUTE))

        async def answered(message: Message) -> None:
            if guard.problem is None:
                if answer.see(message) and self.on_upload is not None:
                    self.on_upload(answer.paths)  # known before the client can use them in an event
                await send(message)

        try:
            await self.app(scope, counted, answered)
        except Exception:
            if guard.problem is None:
                raise  # a real error: Gradio's own handling is outside this middleware
        if guard.problem is not None:
            await self._refuse(send, guard.problem, lang)

    async def _refuse(self, send: Send, problem: str, lang: str) -> None:
        self.refused += 1
        mb = self.limits.bytes_per_request / 2**20
        text = tr("error_request_files", lang, files=self.limits.files_per_request) if problem == "files" else (
            tr("error_request_bytes", lang, mb=mb))
        log.info("refused a request: %s", problem)
        body = text.encode()
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]})
        await send({"type": "http.response.body", "body": body})


class _Guard:
    """Bytes and file parts of one request body, and the first limit it passed ("bytes", "files")."""

    def __init__(self, boundary: bytes | None, max_bytes: int, max_files: int) -> None:
        self.max_bytes, self.max_files = max_bytes, max_files
        self.bytes = 0
        self.parts = _MultipartCount(boundary) if boundary else None
        self.problem: str | None = None

    def count(self, chunk: bytes) -> None:
        self.bytes += len(chunk)
        if self.bytes > self.max_bytes:
            self.problem = "bytes"
            return
        if self.parts is not None:
            self.parts.feed(chunk)
            if self.parts.files > self.max_files:
                self.problem = "files"


class _Answer:
    """Gradio's answer to an upload: the JSON list of the paths it wrote, read as it passes."""

    def __init__(self, capture: bool) -> None:
        self.capture, self.ok, self.body, self.paths = capture, False, b"", []

    def see(self, message: Message) -> bool:
        """True once the whole list has passed (then :attr:`paths` holds it)."""
        if not self.capture:
            return False
        if message["type"] == "http.response.start":
            self.ok = message.get("status") == 200
        elif message["type"] == "http.response.body" and self.ok:
            self.body += message.get("body", b"")
            if not message.get("more_body", False):
                try:
                    paths = json.loads(self.body)
                except ValueError:
                    return False
                if isinstance(paths, list):
                    self.paths = [p for p in paths if isinstance(p, str)]
                    return bool(self.paths)
        return False
