"""What every tab shares: the photo, the architecture, the banner and status line, the visitor,
and the one chain of events that runs when the photo or the architecture changes.

A tab registers what it shows for an analysis with :meth:`Page.after_analysis` (re-rendered from
the session, no model) or :meth:`Page.after_analysis_model` (needs the model: Grad-CAM, gradient
flow). :meth:`Page.wire` then builds exactly one analysis per new photo (upload, example click,
architecture change, page load) followed by one event that refreshes every tab: whatever a tab
shows afterwards belongs to the new (photo, architecture), or is cleared.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import gradio as gr

from ..degradation.experiment import DegradationConfig
from ..i18n import STRINGS, UserError, language, tr
from ..model.resnet import ARCHS
from ..serve.cancel import Cancelled
from ..serve.explorer import Explorer
from ..serve.sessions import Session
from .inputs import ChoiceDropdown, ExamplePicker, example_picker
from .photo_input import PhotoInput

__all__ = ["ASSETS", "EXAMPLES", "I18N", "HIDDEN", "MODEL_QUEUE", "SLOW_QUEUE", "TITLED", "Page", "Refresh", "friendly", "value_check",
           "visitor"]

log = logging.getLogger("resnet_viz.app")

ASSETS = Path(__file__).resolve().parent.parent.parent / "assets"
EXAMPLES = [str(ASSETS / name) for name in ("chelsea.png", "coffee.png", "rocket.jpg", "astronaut.png")]
I18N = gr.I18n(**STRINGS)
MODEL = "model"  # short model work (analysis, Grad-CAM, charts): Gradio queue shared by these events
SLOW = "slow"  # long model work (slow attributions, feature visualisation): one at a time, pausing for MODEL
HIDDEN = {"api_visibility": "undocumented"}  # the page's own events: callable, left out of the API docs
# Short model work may run in a few Gradio threads at once: the model's gate serialises the actual
# computations (and lets them cut in between the batches of slow ones).
MODEL_QUEUE = {"concurrency_id": MODEL, "concurrency_limit": 4}
SLOW_QUEUE = {"concurrency_id": SLOW, "concurrency_limit": 4}
# A picture that carries its own title band: its toolbar gets a row above it (app.py's CSS), so
# the buttons never cover the title's end ("... tabby · resnet5").
TITLED = {"elem_classes": ["toolbar-above"]}


def visitor(request: gr.Request | None) -> tuple[str, str]:
    """(session id, language) of the request. A caller without a session id is a visitor of its
    own, with a fresh id that nobody else has: two such callers never share results or files."""
    if request is None:
        return _fresh_session_id(), "en"
    return request.session_hash or _fresh_session_id(), language(request.headers.get("accept-language"))


def _fresh_session_id() -> str:
    return "anonymous-" + secrets.token_hex(16)  # a valid id (sessions.valid_session_id), never sent to anyone


def friendly(fn: Callable) -> Callable:
    """Show a UserError as a gr.Error in the visitor's language (and one log line, not a traceback:
    it is the visitor's input, not a bug). Anything else but Gradio's own errors and a cancelled
    run is a bug: logged with its traceback, shown as a generic message in the visitor's language."""

    @contextlib.contextmanager
    def said(args: tuple, kwargs: dict) -> Iterator[None]:
        try:
            yield
        except UserError as exc:
            log.info("%s: %s", fn.__name__, exc.text("en"))
            lang = _language(args, kwargs)
            raise gr.Error(exc.text(lang), title=tr("error_title", lang), print_exception=False) from None
        except (gr.Error, Cancelled):
            raise
        except Exception:
            log.exception("%s failed", fn.__name__)
            lang = _language(args, kwargs)
            raise gr.Error(tr("error_internal", lang), title=tr("error_title", lang), print_exception=False) from None

    if inspect.isgeneratorfunction(fn):  # Gradio streams what it yields: the wrapper must be a generator too

        @functools.wraps(fn)
        def streaming(*args, **kwargs):
            with said(args, kwargs):
                yield from fn(*args, **kwargs)

        return streaming

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with said(args, kwargs):
            return fn(*args, **kwargs)

    return wrapper


def value_check(check: Callable[..., None], at: int, count: int) -> Callable[..., list[dict]]:
    """A ``validator=`` for an event of ``count`` inputs: ``check(request, *values)`` raises a
    UserError for a bad value in input number ``at``. Gradio then writes the message under that
    input (marked in red) and does not run the event at all, so the pictures it would have drawn
    stay as they were: a mistyped channel or class never replaces them with "Error" badges."""

    def validator(request: gr.Request, *values: Any) -> list[dict]:
        try:
            check(request, *values)
        except UserError as exc:
            log.info("%s: %s", getattr(check, "__name__", "check"), exc.text("en"))
            message = exc.text(visitor(request)[1])
            return [gr.validate(i != at, message if i == at else "") for i in range(count)]
        return [gr.validate(True, "") for _ in range(count)]

    return validator


def _language(args: Sequence[Any], kwargs: dict[str, Any]) -> str:
    request = kwargs.get("request") or next((a for a in args if isinstance(a, gr.Request)), None)
    return "en" if request is None else language(request.headers.get("accept-language"))


@dataclass
class Refresh:
    """What a tab shows for a new analysis: ``fn(session, lang, *inputs) -> values for outputs``."""

    fn: Callable[..., Sequence[Any]]
    inputs: list[gr.components.Component]
    outputs: list[gr.components.Component]
    empty: list[Any] | None = None  # per output, what it shows with no photo: a value, or a function making one (default None)


@dataclass
class Page:
    explorer: Explorer
    arch: str
    photo: PhotoInput = None  # type: ignore[assignment]
    examples: ExamplePicker = None  # type: ignore[assignment]
    arch_choice: ChoiceDropdown = None  # type: ignore[assignment]
    banner: gr.Markdown = None  # type: ignore[assignment]
    status: gr.Markdown = None  # type: ignore[assignment]
    views: list[Refresh] = field(default_factory=list)
    model_views: list[Refresh] = field(default_factory=list)
    loads: list[Refresh] = field(default_factory=list)
    degradation_config: DegradationConfig | None = None  # the lab's live run (None: the library's defaults)

    # --- building ------------------------------------------------------------------------------

    def header(self) -> None:
        """The banner, the title and the left column: photo, examples, architecture, status."""
        self.banner = gr.Markdown(visible=False, elem_id="banner")
        gr.Markdown(I18N("title"))
        gr.Markdown(I18N("subtitle"))

    def side_column(self) -> None:
        self.photo = PhotoInput(
            value=EXAMPLES[0], label=I18N("image_label"), type="filepath",
            sources=["upload", "webcam", "clipboard"], height=300, elem_id="photo",
        ).also_accept(ASSETS)  # besides uploads, a request may name the example photos only
        self.examples = example_picker(self.photo, EXAMPLES, label=I18N("examples_label"))
        self.arch_choice = ChoiceDropdown(list(ARCHS), value=self.arch, label=I18N("arch_label"), info=I18N("arch_info"), elem_id="arch")
        self.status = gr.Markdown(elem_id="status")

    def after_analysis(self, fn: Callable, inputs: list, outputs: list, empty: list | None = None) -> None:
        """``fn`` fills ``outputs`` for each new analysis; ``empty`` is what they show once the photo
        is removed (default: emptied; a component that should not linger empty says so here)."""
        self.views.append(Refresh(fn, list(inputs), list(outputs), None if empty is None else list(empty)))

    def after_analysis_model(self, fn: Callable, inputs: list, outputs: list) -> None:
        self.model_views.append(Refresh(fn, list(inputs), list(outputs)))

    def on_load(self, fn: Callable, inputs: list, outputs: list) -> None:
        """Something a tab shows on page load that needs no model and no analysis: ``fn(request,
        *inputs)``, run outside the queue."""
        self.loads.append(Refresh(fn, list(inputs), list(outputs)))

    def slow_run(self, start: gr.Button, cancel: gr.Button, fn: Callable, inputs: list, outputs: list,
                 validator: Callable | None = None, progress_on: list | None = None) -> None:
        """``start`` runs ``fn`` (slow model work) in the slow queue; ``cancel`` stops it at its next
        batch or step. Cancel is our own flag, armed when ``start`` is pressed, before the run
        queues, so it also stops a run still waiting; Gradio's ``cancels=`` would leave its "Error"
        badge on the outputs, and the thread it abandons would keep the model busy. ``validator``
        (see :func:`value_check`) refuses a bad input before the run queues. The progress bar is
        drawn over ``progress_on`` only (default: every output; one bar is enough)."""
        explorer = self.explorer

        def on_arm(request: gr.Request) -> None:
            explorer.arm_cancel(visitor(request)[0])

        def on_cancel(request: gr.Request) -> None:
            explorer.cancel(visitor(request)[0])

        where = {} if progress_on is None else {"show_progress_on": progress_on}
        start.click(on_arm, None, None, queue=False, **HIDDEN).then(fn, inputs, outputs, validator=validator, **where,
                                                                    **SLOW_QUEUE, **HIDDEN)
        cancel.click(on_cancel, None, None, queue=False, **HIDDEN)

    # --- the analysis chain --------------------------------------------------------------------

    def wire(self, demo: gr.Blocks) -> None:
        """One analysis per new photo or architecture, then one refresh of every tab."""
        explorer = self.explorer
        views, model_views = self.views, self.model_views
        view_inputs = [c for r in views for c in r.inputs]
        model_inputs = [c for r in model_views for c in r.inputs]
        shared_outputs = [self.banner, self.status]

        def run(refreshes: list[Refresh], session: Session, lang: str, values: Sequence[Any]) -> list[Any]:
            out, i = [], 0
            for refresh in refreshes:
                n = len(refresh.inputs)
                result = refresh.fn(session, lang, *values[i : i + n])
                out += list(result) if len(refresh.outputs) != 1 else [result]
                i += n
            return out

        def shown(session: Session, lang: str, values: Sequence[Any]) -> list[Any]:
            head = [self.banner_update(session.arch, lang), self.status_text(session, lang)]
            return head + run(views, session, lang, values)

        @friendly
        def on_photo(request: gr.Request, path: str | None, arch: str, *values):
            sid, lang = visitor(request)
            if not path:  # the photo was removed: nothing on any tab belongs to it any more
                explorer.forget(sid)
                return self.cleared(lang, arch)
            return shown(explorer.analyze(path, arch, sid, lang), lang, values)

        def on_clear(request: gr.Request, arch: str):
            """The photo box was emptied (its x, or a source icon such as "Upload file"). Gradio may
            send the photo it still had with this event (the example, when a source icon empties
            the box), so the value is not looked at: an empty box means no results."""
            sid, lang = visitor(request)
            explorer.forget(sid)
            return self.cleared(lang, arch)

        @friendly
        def on_banner(request: gr.Request, arch: str):
            """The random-weights banner at first paint, before the first analysis has run."""
            return self.banner_update(arch, visitor(request)[1])

        @friendly
        def on_load(request: gr.Request, arch: str, *values):
            sid, lang = visitor(request)
            return shown(explorer.analyze_example(EXAMPLES[0], arch, sid, lang), lang, values)

        @friendly
        def on_derived(request: gr.Request, *values):
            """The tabs' model views (Grad-CAM, gradient flow) of the analysis just shown."""
            sid, lang = visitor(request)
            session = explorer.current(sid)
            if session is None:  # the photo was just removed
                return [None] * len(derived_outputs)
            return run(model_views, session, lang, values)

        @friendly
        def on_example(request: gr.Request, number: int) -> str:
            return EXAMPLES[number]  # checked by the picker: one of the examples' numbers

        def on_unload(request: gr.Request) -> None:
            explorer.forget(visitor(request)[0])

        def on_refused(request: gr.Request):
            """The new photo was refused (its message is already shown): what the tabs showed belongs
            to the previous photo, so it goes too, and so does the refused file, which the photo box
            would otherwise show as a broken picture."""
            sid, lang = visitor(request)
            explorer.forget(sid)
            return [*self.cleared(lang, self.arch), None]  # not the menu's value: it may be what was refused

        outputs = shared_outputs + [c for r in views for c in r.outputs]
        derived_outputs = [c for r in model_views for c in r.outputs]
        photo_inputs = [self.photo, self.arch_choice, *view_inputs]
        chains = [
            gr.on([self.photo.upload, self.arch_choice.input], on_photo, photo_inputs, outputs, **MODEL_QUEUE, **HIDDEN),
            self.photo.clear(on_clear, [self.arch_choice], outputs, **MODEL_QUEUE, **HIDDEN),
            # An example click puts the example into the photo first, then analyses it: one analysis.
            self.examples.click(on_example, [self.examples], [self.photo], queue=False, show_progress="hidden", **HIDDEN)
            .success(on_photo, photo_inputs, outputs, **MODEL_QUEUE, **HIDDEN),
            demo.load(on_load, [self.arch_choice, *view_inputs], outputs, **MODEL_QUEUE, **HIDDEN),
        ]
        for chain in chains:
            chain.success(on_derived, model_inputs, derived_outputs, **MODEL_QUEUE, **HIDDEN)
            chain.failure(on_refused, None, [*outputs, self.photo], **HIDDEN)
        demo.unload(on_unload)
        demo.load(on_banner, [self.arch_choice], [self.banner], queue=False, show_progress="hidden", **HIDDEN)
        for load in self.loads:
            demo.load(load.fn, load.inputs, load.outputs, queue=False, show_progress="hidden", **HIDDEN)

    def cleared(self, lang: str, arch: str) -> list[Any]:
        """Every output of the chain emptied (the photo was removed); the banner stays while the
        server runs ``arch`` with random weights."""
        empty = [v() if callable(v) else v for r in self.views for v in (r.empty or [None] * len(r.outputs))]
        return [self.banner_update(arch, lang), tr("status_idle_no_photo", lang)] + empty

    def banner_update(self, arch: str, lang: str) -> dict:
        note = self.explorer.banner(arch, lang)
        return gr.update(value=note, visible=bool(note))

    def status_text(self, session: Session, lang: str) -> str:
        arch = session.arch
        model = self.explorer.registry.get(arch).model
        device = str(next(model.parameters()).device)
        weights = model.meta.weights
        weights = tr(f"weights_{weights}", lang) if weights in ("imagenet", "random") else weights
        ms = session.report["timing_ms"]["total"]
        return f"{time.strftime('%H:%M:%S')} · " + tr("status", lang, arch=arch, weights=weights, device=device, ms=ms)
