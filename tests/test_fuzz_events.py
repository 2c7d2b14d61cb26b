"""Every event handler of the running app, called over raw HTTP with hostile values of every type.

The handlers are enumerated from the app's own ``/config`` (a new one is covered without touching
this file) and called as a hostile client would: ``POST /gradio_api/queue/join`` with a
``fn_index`` and any JSON as its data, then the result from the session's event stream
(``GET /gradio_api/queue/data``). Each input in turn gets each hostile value (the others keep the
page's defaults), and so does the event data of events that carry some. Every call must end in a
normal result or in one message in the caller's language: a sentence of the i18n catalogue
(``resnet_viz/i18n.py``) under the translated title, never Gradio's generic "Error" without a
message; and nothing may log a traceback. Every third call asks in Korean (Accept-Language).
"""

from __future__ import annotations

import collections
import json
import logging
import re
import string
import threading
import time
from typing import Any

import httpx
import pytest

from resnet_viz.degradation import DegradationConfig
from resnet_viz.i18n import STRINGS, tr
from resnet_viz.serve.explorer import Explorer
from resnet_viz.serve.sessions import SessionStore
from resnet_viz.serve.trust_lab import DataRandomisationLab
from resnet_viz.trust.lab import LabConfig

from .app_server import running_app
from .support import random_registry


def _nested(depth: int) -> list:
    top = inner = []
    for _ in range(depth):
        inner.append([])
        inner = inner[0]
    return top


HOSTILE: list[Any] = [
    None, float("nan"), float("inf"), float("-inf"), 10**30, -1, 0, 1.5, True,
    "", "²", "고양이", "\x00\x1b[2J\r\n\u202e", "../../../../etc/passwd", "/etc/passwd", "x" * 100_000,
    [], [1, "a", None], {}, {"path": "/etc/passwd"}, {"a": {"b": [1, {"c": None}]}}, _nested(300),
]  # fmt: skip
WORKERS = 3  # clients at once, each with its own session (the server overlaps their waits)
ANSWER_S = 60  # a call unanswered for this long is a problem, not a reason to wait forever


def _pattern(template: str) -> re.Pattern:
    """A catalogue sentence as a regular expression: its placeholders match anything."""
    parts = [
        re.escape(literal) + ("(.*)" if field is not None else "")
        for literal, field, _, _ in string.Formatter().parse(template)
    ]
    return re.compile("".join(parts), re.S)


def _literal_length(template: str) -> int:
    return sum(len(literal) for literal, _, _, _ in string.Formatter().parse(template))


# Sentences only: a template that is little more than a placeholder ("{value:.3g}") would match anything.
SENTENCES = {lang: [_pattern(t) for t in table.values() if _literal_length(t) >= 8] for lang, table in STRINGS.items()}


def _call(http: httpx.Client, fn_index: int, data: list, session: str, lang: str, event_data: Any = None) -> dict:
    """One event through the queue, as a browser or a script sends it; the completion message."""
    # json.dumps writes NaN and Infinity as they are: Starlette's JSON parser reads them.
    body = json.dumps({"data": data, "fn_index": fn_index, "session_hash": session, "event_data": event_data})
    for _ in range(100):
        joined = http.post("/gradio_api/queue/join", content=body,
                           headers={"content-type": "application/json", "accept-language": lang})
        if joined.status_code != 429:
            break
        # The session's share of the queue (one slow job) still counts the previous call for a few
        # milliseconds after its result was sent: wait and try again, as the refusal says.
        time.sleep(0.05)
    if joined.status_code != 200:
        return {"msg": f"HTTP {joined.status_code}", "detail": joined.text}
    event_id = joined.json()["event_id"]
    deadline = time.monotonic() + ANSWER_S
    result = {"msg": "the event stream ended without a result"}
    with http.stream("GET", "/gradio_api/queue/data", params={"session_hash": session}) as stream:
        # Read to the end of the stream, as a browser does: Gradio counts the event as the session's
        # until it has sent the close (and the queue's share per session counts what it holds).
        for line in stream.iter_lines():  # Gradio sends a heartbeat every 15 s while an event runs
            if time.monotonic() > deadline:
                return {"msg": f"no result within {ANSWER_S} s"}
            if not line.startswith("data:"):
                continue
            message = json.loads(line[5:])
            if message.get("msg") == "process_completed" and message.get("event_id") == event_id:
                result = message
            elif message.get("msg") == "unexpected_error":
                return message
            elif message.get("msg") == "close_stream":
                break
    return result


def _problem(message: dict, lang: str) -> str | None:
    """Why a completion message is neither a result nor one translated message (None if it is fine)."""
    if message.get("success"):
        return None
    if message.get("msg") in ("HTTP 400", "HTTP 422"):
        # Refused when the event joined the queue (the inputs' checks, or the event's validator that
        # writes its message under the input on the page): the same translated sentences.
        return _refusal_problem(message["detail"], lang)
    output = message.get("output")
    if not isinstance(output, dict):
        return f"no result and no message: {str(message)[:200]}"
    text, title = output.get("error"), output.get("title")
    if text is None:
        return "Gradio's generic error (an exception that is no message for the visitor)"
    if title != tr("error_title", lang) or not any(p.fullmatch(text) for p in SENTENCES[lang]):
        return f"not a {lang} message of the catalogue: {title!r}: {text[:200]!r}"
    return None


def _refusal_problem(detail: str, lang: str) -> str | None:
    try:
        body = json.loads(detail)["detail"]
    except (ValueError, KeyError, TypeError):
        return f"a refusal without a message: {detail[:200]}"
    if isinstance(body, list):  # the validator's verdict per input
        texts = [v.get("message", "") for v in body if isinstance(v, dict) and not v.get("is_valid", True)]
    else:
        texts = [str(body).strip("'\"")]
    if not texts:
        return f"a refusal without a message: {detail[:200]}"
    for text in texts:
        if not any(p.fullmatch(text) for p in SENTENCES[lang]):
            return f"a refusal that is not a {lang} message of the catalogue: {text[:200]!r}"
    return None


class _Tracebacks(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or "Traceback" in record.getMessage():
            self.records.append(f"{record.name}: {record.getMessage()[:200]}")


@pytest.fixture(scope="module")
def app():
    # Tiny settings for the slow work a value might start: the fuzz is about the values, not the work.
    explorer = Explorer(random_registry(), SessionStore(),
                        feature_vis={"size": 32, "steps": 2, "seed": 0},
                        trust={"steps": "stages", "curve_steps": 2, "road": False, "seed": 0})
    explorer.compare_methods = ("gradcam",)
    explorer.data_randomisation = DataRandomisationLab(explorer.registry.activity, live=(
        LabConfig(labels="true", train_size=32, test_size=32, steps=4),
        LabConfig(labels="permuted", train_size=32, test_size=32, steps=4)))
    build = {"degradation_config": DegradationConfig(depths=(20,), steps=10)}
    with running_app("resnet18", explorer=explorer, build=build) as (url, explorer):
        yield url, explorer


@pytest.mark.slow
def test_every_handler_answers_hostile_values_with_a_result_or_one_translated_message(app, capfd):
    url, explorer = app
    tracebacks = _Tracebacks()
    logging.getLogger().addHandler(tracebacks)
    http = httpx.Client(base_url=url, timeout=120)
    config = http.get("/config").json()
    components = {c["id"]: c for c in config["components"]}
    dependencies = config["dependencies"]
    names = {d.get("api_name") for d in dependencies}
    assert {"on_load", "on_photo", "on_view", "on_explain", "on_start", "analyze", "lesion"} <= names
    load = next(i for i, d in enumerate(dependencies) if d.get("api_name") == "on_load")

    def defaults(dep: dict) -> list:
        return [components[c].get("props", {}).get("value") for c in dep["inputs"]]

    def calls(index: int, dep: dict) -> list[tuple[list, Any]]:
        """(data, event data) of every call for one handler: each hostile value in each place."""
        base = defaults(dep)
        plans = []
        for place, component in enumerate(dep["inputs"]):
            if components[component]["type"] == "state":
                continue  # kept by the server: what a client sends for it is never used
            plans += [(base[:place] + [value] + base[place + 1 :], None) for value in HOSTILE]
        if dep.get("collects_event_data"):
            # Not a file reference: Gradio itself refuses one in event data, before any handler, in
            # English and with a traceback (issue 15 section 1, file references: branch safe-files).
            plans += [(base, value) for value in HOSTILE if not (isinstance(value, dict) and "path" in value)]
        return plans or [(base, None)]  # no input of its own: called as the page calls it

    work = [(i, data, event) for i, dep in enumerate(dependencies) for data, event in calls(i, dep)]
    problems: list[str] = []
    answered: collections.Counter = collections.Counter()
    lock = threading.Lock()

    def client(number: int) -> None:
        own = httpx.Client(base_url=url, timeout=120)
        session = f"fuzz{number:02d}session"
        for k, (index, data, event) in enumerate(work[number::WORKERS]):
            lang = "ko" if k % 3 == 0 else "en"
            try:
                if explorer.current(session) is None:  # a photo removed, a tab closed: the next handler needs one
                    _call(own, load, defaults(dependencies[load]), session, "en")
                why = _problem(_call(own, index, data, session, lang, event), lang)
            except Exception as exc:  # noqa: BLE001 (the client's own failure is a finding too)
                why = f"the call itself failed: {exc!r:.200}"
            with lock:
                answered[index] += 1
                if why is not None:
                    shown = [json.dumps(v)[:40] for v in data]
                    name = dependencies[index].get("api_name")
                    problems.append(f"{name} (fn {index}) {shown} event={event!r:.40}: {why}")
        own.close()

    try:
        threads = [threading.Thread(target=client, args=(n,)) for n in range(WORKERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        logging.getLogger().removeHandler(tracebacks)
        http.close()

    assert set(answered) == set(range(len(dependencies)))  # every handler, by index, was called
    assert not problems, f"{len(problems)} of {len(work)} calls:\n" + "\n".join(problems[:30])
    err = capfd.readouterr().err
    assert "Traceback" not in err, err[err.index("Traceback") :][:3000]
    assert not tracebacks.records, tracebacks.records[:10]
