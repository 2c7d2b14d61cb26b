"""The lab's Degradation section: plain and residual CIFAR networks trained live, curves streaming.

The server has one run (:class:`~resnet_viz.serve.degradation_lab.DegradationLab`, held by the explorer):
one visitor starts it, every visitor watches it. Before any run the page shows a preset's committed
recorded curves (the default's on open; choosing the "deeper" preset shows its own), labelled with
how they were made; a 5 s timer notices a run another visitor starts. While a run is active a 1 s
timer reads the runner's snapshot; a chart is drawn only when it has new points, once for all
visitors (the rendered plots are shared), never under a model gate.

What is on screen always agrees with itself: each chart's title says "Recorded run" or "Live run";
from the moment a run is started its (empty) live chart says "starting" on it, the status line
sits above the charts, a finished run's status ends with its final errors, and a note left by a
visitor's click (e.g. "only the starter can cancel") goes when the run ends.

:class:`DegradationSection` holds the logic as plain methods (tests call them directly);
:func:`build` makes the components and wires them to it.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any, Callable, Hashable, Sequence

import gradio as gr
from gradio.components.plot import PlotData
from matplotlib.figure import Figure

from ..degradation.chart import degradation_chart, gradient_chart
from ..degradation.data import DataError, check_cifar10
from ..degradation.experiment import DegradationConfig, DegradationResult
from ..degradation.presets import PRESETS, preset_of
from ..degradation.runner import RunSnapshot
from ..draw import charts
from ..i18n import UserError, catalogue_words, tr
from ..serve.degradation_lab import DegradationLab, RunTooCostly
from .inputs import ChoiceRadio, Choices, NumberInput
from .page import HIDDEN, I18N, Page, friendly, visitor

__all__ = ["DEPTHS", "STEPS_RANGE", "DegradationSection", "Shown", "build", "chart_words"]

DEPTHS = (20, 32, 44, 56)  # the paper's Fig. 6 depths (6n + 2); the presets' are offered too
STEPS_RANGE = (10, 64_000)  # 64k: the paper's whole CIFAR-10 schedule
TICK_S = 1.0
WATCH_S = 5.0  # how soon an open page notices a run another visitor started


def chart_words(lang: str) -> dict[str, str]:
    """The charts' words in ``lang``; English where no installed font can draw Hangul."""
    if lang == "ko" and charts.hangul_font() is None:
        lang = "en"
    return catalogue_words("dchart_", lang)


@dataclasses.dataclass(frozen=True)
class Shown:
    """What the charts show: "recorded" or "live" curves, their result, a message for an empty chart."""

    source: str
    result: DegradationResult | None
    curves_key: Hashable  # changes whenever the error chart would look different
    gradients_key: Hashable  # ... the gradient chart
    message: str | None = None  # written on the error chart (starting, failed) while it has no point
    preset: str | None = None  # whose recorded run ("default", "deeper")


class _Plots:
    """Rendered charts shared by every visitor: drawn once per key, a few kept."""

    def __init__(self, plot: gr.Plot | None, keep: int = 12) -> None:
        self._plot = plot or gr.Plot(format="png", render=False)
        self._keep = keep
        self._lock = threading.Lock()  # one drawing at a time: the same chart is not drawn twice
        self._cache: dict[Hashable, PlotData] = {}
        self.drawn = 0  # charts actually drawn (tests and the timer's cost)

    def get(self, key: Hashable, draw: Callable[[], Figure]) -> PlotData:
        with self._lock:
            if key not in self._cache:
                self._cache[key] = self._plot.postprocess(draw())  # PNG; gr.Plot closes the figure
                self.drawn += 1
                while len(self._cache) > self._keep:
                    self._cache.pop(next(iter(self._cache)))
            return self._cache[key]


def _final_errors(result: DegradationResult) -> str:
    return ", ".join(f"{n.name} {100 * n.final_train_error:.1f}%" for n in result.networks
                     if n.final_train_error is not None)


class DegradationSection:
    """What the section shows and does, without Gradio events: every method returns the values for
    its outputs. ``drawn`` is the visitor's (curves key, gradients key) of the charts on screen."""

    def __init__(self, lab: DegradationLab, config: DegradationConfig, plot: gr.Plot | None = None) -> None:
        self.lab = lab
        self.config = config  # the defaults of the controls and every other field of a run
        preset_depths = {d for p in PRESETS.values() for d in p.config.depths}
        self.depth_choices = sorted(set(DEPTHS) | set(config.depths) | preset_depths)
        self.plots = _Plots(plot)

    # --- what is on screen ---------------------------------------------------------------------

    def shown(self, snap: RunSnapshot | None, lang: str, preset: str | None = None) -> Shown:
        """The run's curves while it is active (an empty live chart saying "starting" until its first
        point) and after it ended (or "failed" on an empty one), unless the visitor chose a preset
        since: then, and before any run, that preset's recorded run (the default's by default)."""
        ended_here = snap is not None and (snap.result is not None or snap.state == "failed")
        live = snap is not None and (snap.active or (preset is None and ended_here))
        if live and snap.result is not None:
            result = snap.result
            return Shown("live", result, ("run", snap.run_id, result.points, result.finished, lang),
                         ("run", snap.run_id, bool(result.networks and result.networks[0].layer_gradients), lang))
        if live:
            empty = DegradationResult(config=self.lab.config() or self.config, data={}, device="", networks=[])
            message = chart_words(lang)["starting" if snap.active else "failed"]
            return Shown("live", empty, ("run", snap.run_id, 0, snap.state, lang), ("run", snap.run_id, False, lang),
                         message)
        preset = preset or "default"
        recorded = self.lab.recorded(preset)
        key = ("recorded", preset, lang)
        return Shown("recorded", recorded.result if recorded is not None else None, key, key, preset=preset)

    def status(self, snap: RunSnapshot | None, lang: str, shown: Shown | None = None) -> str:
        """State, step x of N, seconds, paused or not, the final errors; the recorded run's label
        (never "live") while recorded curves are shown."""
        shown = shown or self.shown(snap, lang)
        if shown.source == "recorded":
            key = shown.preset or "default"
            recorded = self.lab.recorded(key)
            if recorded is None:
                return tr("degr_no_recorded", lang, error=self.lab.recorded_error(key))
            text = tr("degr_recorded", lang, preset=tr(f"degr_preset_{key}", lang), command=recorded.command,
                      machine=recorded.machine, date=recorded.date, seconds=recorded.seconds,
                      errors=_final_errors(recorded.result))
            if snap is not None and snap.state == "cancelled" and snap.result is None:  # before its first point
                text = tr("degr_state_cancelled", lang) + self._ended_note(snap, lang) + " · " + text
            return text
        assert snap is not None
        config = snap.result.config if snap.result is not None else (self.lab.config() or self.config)
        step = snap.result.step if snap.result is not None else 0
        end = time.time() if snap.active or snap.updated is None else snap.updated
        seconds = end - snap.started if snap.started is not None else 0.0
        text = tr("degr_status", lang, state=tr(f"degr_state_{snap.state}", lang), step=step, steps=config.steps,
                  seconds=seconds)
        if snap.active:
            text += " · " + (tr("degr_paused", lang) if snap.paused else tr("degr_not_paused", lang, pauses=self.lab.pauses))
        if snap.state == "finished" and snap.result is not None:
            text += " · " + tr("degr_summary", lang, errors=_final_errors(snap.result))
        if snap.error:
            text += f" · {snap.error}"
        return text + self._ended_note(snap, lang)

    def _ended_note(self, snap: RunSnapshot, lang: str) -> str:
        """" · why the lab ended this run" (its starter's page went silent), or ""."""
        if self.lab.ended_reason(snap.run_id) != "starter_left":
            return ""
        return " · " + tr("degr_ended_starter_left", lang, seconds=self.lab.heartbeat_timeout_s or 0)

    def _chart(self, shown: Shown, lang: str) -> PlotData:
        return self.plots.get(("curves", shown.curves_key), lambda: degradation_chart(
            shown.result, chart_words(lang), source=shown.source, message=shown.message))

    def _gradients(self, shown: Shown, lang: str) -> PlotData:
        return self.plots.get(("gradients", shown.gradients_key), lambda: gradient_chart(
            shown.result, chart_words(lang), source=shown.source))

    def view(self, lang: str, drawn: Any, preset: str | None = None) -> tuple[Any, Any, str, bool, tuple]:
        """(error chart, gradient chart (each gr.skip() when the visitor already has it), status,
        whether a run is active, the new drawn keys). ``preset``: the visitor's choice, else the
        recorded preset the visitor has on screen, if any."""
        snap = self.lab.snapshot()
        had = tuple(drawn) if isinstance(drawn, (tuple, list)) and len(drawn) == 2 else (None, None)
        if preset is None and isinstance(had[0], (tuple, list)) and len(had[0]) == 3 and had[0][0] == "recorded":
            preset = had[0][1] if had[0][1] in PRESETS else None
        shown = self.shown(snap, lang, preset)
        if shown.result is None:
            plot: Any = None
            grads: Any = None
        else:
            plot = gr.skip() if _same(had[0], shown.curves_key) else self._chart(shown, lang)
            grads = gr.skip() if _same(had[1], shown.gradients_key) else self._gradients(shown, lang)
        active = bool(snap is not None and snap.active)
        return plot, grads, self.status(snap, lang, shown), active, (shown.curves_key, shown.gradients_key)

    # --- events --------------------------------------------------------------------------------

    def open(self, lang: str, drawn: Any = None):
        """Page load and tab select: the recorded or the live/last curves; the timer on if a run is active."""
        plot, grads, status, active, key = self.view(lang, drawn)
        return plot, grads, status, gr.Timer(active=active), key

    def tick(self, lang: str, drawn: Any):
        """The timer: new points drawn, the status line; when the run has ended the timer stops and
        the note of a click made during the run (started, busy, not yours) goes."""
        plot, grads, status, active, key = self.view(lang, drawn)
        if active:
            return plot, grads, status, gr.skip(), gr.skip(), key
        return plot, grads, status, "", gr.Timer(active=False), key

    def watch(self, lang: str, drawn: Any):
        """The slow timer every open page runs: a run another visitor started shows up here within
        WATCH_S (and the fast timer takes over); nothing is sent while this page already shows it."""
        snap = self.lab.snapshot()
        curves = drawn[0] if isinstance(drawn, (tuple, list)) and len(drawn) == 2 else None
        showing_it = isinstance(curves, (tuple, list)) and len(curves) > 1 and curves[0] == "run" and (
            snap is not None and curves[1] == snap.run_id
        )
        if snap is None or not snap.active or showing_it:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return self.open(lang, drawn)

    def choose_preset(self, preset: Any, lang: str, drawn: Any):
        """A preset chosen: its depths and steps in the controls, its finding, and (no run going)
        its recorded curves."""
        if preset not in PRESETS:
            raise UserError("error_degr_preset", lang, value=preset, choices=", ".join(PRESETS))
        config = PRESETS[preset].config
        controls = (list(config.depths), config.data, config.steps, tr(f"degr_finding_{preset}", lang))
        snap = self.lab.snapshot()
        if snap is not None and snap.active:
            return (*controls, gr.skip(), gr.skip(), gr.skip(), gr.skip())  # the run's curves stay
        plot, grads, status, _, key = self.view(lang, drawn, preset)
        return (*controls, plot, grads, status, key)

    def controls_changed(self, depths: Any, data: Any, steps: Any, lang: str):
        """Depths, data or steps set by hand: the preset they make (and its finding), or none."""
        try:
            key = preset_of(self.run_config(depths, data, steps, lang, check_data=False))
        except UserError:  # a half-made choice (no depth yet): no preset, Start will say what is wrong
            key = None
        return key, tr(f"degr_finding_{key}", lang) if key else ""

    def run_config(self, depths: Sequence[Any] | None, data: Any, steps: Any, lang: str,
                   check_data: bool = True) -> DegradationConfig:
        """The controls' values checked (they are the client's data) on top of the section's config."""
        choices = ", ".join(map(str, self.depth_choices))
        if not depths:
            raise UserError("error_degr_depths", lang, choices=choices)
        chosen = []
        for value in depths:
            if isinstance(value, bool) or not isinstance(value, (int, str)) or str(value) not in map(str, self.depth_choices):
                raise UserError("error_degr_depth", lang, value=value, choices=choices)
            chosen.append(int(value))
        if data not in ("offline", "cifar10"):
            raise UserError("error_degr_data", lang, value=data)
        lo, hi = STEPS_RANGE
        if isinstance(steps, bool) or not isinstance(steps, (int, float)) or steps != int(steps) or not lo <= steps <= hi:
            raise UserError("error_degr_steps", lang, lo=lo, hi=hi, value=steps)
        if data == "cifar10" and check_data:
            try:
                check_cifar10()
            except DataError:
                raise UserError("degr_no_cifar", lang) from None
        return dataclasses.replace(self.config, depths=tuple(sorted(set(chosen))), data=data, steps=int(steps))

    def start(self, sid: str, lang: str, depths: Sequence[Any] | None, data: Any, steps: Any, drawn: Any = None):
        """Start: a new run (its chart says "starting" at once), or (one is going) the running
        one's curves and a note saying so."""
        config = self.run_config(depths, data, steps, lang)
        try:
            started = self.lab.start(config, owner=sid)
        except RunTooCostly as exc:
            raise UserError("error_degr_budget", lang, minutes=exc.minutes, limit_minutes=exc.limit_minutes,
                               max_steps=exc.max_steps) from None
        plot, grads, status, active, key = self.view(lang, drawn)
        if started:
            note = tr("degr_started", lang, networks=2 * len(config.depths), steps=config.steps,
                      data=tr(f"degr_data_name_{config.data}", lang))
        else:
            note = tr("degr_busy", lang)
        return plot, grads, status, note, gr.Timer(active=active), key

    def cancel(self, sid: str, lang: str) -> str:
        stopped = self.lab.cancel(owner=sid)
        if stopped is None:
            return tr("degr_not_yours", lang)
        return tr("degr_cancelled" if stopped else "degr_nothing_to_cancel", lang)


def _same(a: Any, b: Hashable) -> bool:
    """Whether the visitor's key (a list after a round trip through the browser) is ``b``."""
    def plain(v: Any) -> Any:
        return tuple(plain(x) for x in v) if isinstance(v, (tuple, list)) else v

    return a is not None and plain(a) == plain(b)


def build(page: Page, tab: gr.Tab, config: DegradationConfig | None = None) -> DegradationSection:
    """The section's components (in the current layout context, inside the lab ``tab``) and events."""
    config = config or DegradationConfig()
    gr.Markdown(I18N("degr_heading"))
    gr.Markdown(I18N("degr_help"))
    gr.Markdown(I18N("degr_notice"), elem_id="degradation-notice")
    section = DegradationSection(page.explorer.degradation, config)
    preset_key = preset_of(config)
    preset = ChoiceRadio([(I18N(f"degr_preset_{k}"), k) for k in PRESETS], value=preset_key,
                      label=I18N("degr_preset_label"), elem_id="degradation-preset")
    finding = gr.Markdown(I18N(f"degr_finding_{preset_key}") if preset_key else "", elem_id="degradation-finding")
    with gr.Row():
        depths = Choices(section.depth_choices, value=list(config.depths), label=I18N("degr_depths_label"),
                         elem_id="degradation-depths")
        data = ChoiceRadio([(I18N("degr_data_offline"), "offline"), (I18N("degr_data_cifar10"), "cifar10")],
                           value=config.data, label=I18N("degr_data_label"), elem_id="degradation-data")
        steps = NumberInput(config.steps, minimum=STEPS_RANGE[0], maximum=STEPS_RANGE[1], precision=0, step=100,
                            label=I18N("degr_steps_label"), elem_id="degradation-steps")
    with gr.Row():
        start = gr.Button(I18N("degr_start"), variant="primary", elem_id="degradation-start", scale=4)
        cancel = gr.Button(I18N("cancel_button"), size="sm", elem_id="degradation-cancel", scale=1)
    note = gr.Markdown(elem_id="degradation-note")
    status = gr.Markdown(elem_id="degradation-status")  # above the charts: seen with them at 1400x1000
    with gr.Row():
        plot = gr.Plot(label=I18N("degr_plot_label"), show_label=False, format="png", elem_id="degradation-plot",
                       scale=3)
        grads = gr.Plot(label=I18N("degr_gradients_label"), show_label=False, format="png",
                        elem_id="degradation-gradients", scale=2)
    timer = gr.Timer(TICK_S, active=False)
    watch = gr.Timer(WATCH_S)
    drawn = gr.State(None)  # this visitor's keys of the charts on screen

    # Every timer tick and page open is also a heartbeat: a run whose starter's page has gone
    # silent for a minute is ended (DegradationLab.check_starter).
    def on_open(request: gr.Request, shown: Hashable | None):
        sid, lang = visitor(request)
        section.lab.heartbeat(sid)
        return section.open(lang, shown)

    def on_tick(request: gr.Request, shown: Hashable | None):
        sid, lang = visitor(request)
        section.lab.heartbeat(sid)
        return section.tick(lang, shown)

    def on_watch(request: gr.Request, shown: Hashable | None):
        sid, lang = visitor(request)
        section.lab.heartbeat(sid)
        return section.watch(lang, shown)

    @friendly
    def on_preset(request: gr.Request, chosen: str, shown: Any):
        return section.choose_preset(chosen, visitor(request)[1], shown)

    def on_controls(request: gr.Request, chosen: list, source: str, count: float | None):
        return section.controls_changed(chosen, source, count, visitor(request)[1])

    @friendly
    def on_start(request: gr.Request, chosen: list, source: str, count: float | None, shown: Any):
        sid, lang = visitor(request)
        return section.start(sid, lang, chosen, source, count, shown)

    def on_cancel(request: gr.Request) -> str:
        sid, lang = visitor(request)
        return section.cancel(sid, lang)

    view = [plot, grads, status, timer, drawn]
    # Reading the snapshot and shared, cached charts: no model, no queue (ticks never crowd the
    # queue that visitors' analyses wait in).
    fast = dict(queue=False, show_progress="hidden", **HIDDEN)
    page.on_load(on_open, [drawn], view)
    tab.select(on_open, [drawn], view, **fast)
    timer.tick(on_tick, [drawn], [plot, grads, status, note, timer, drawn], **fast)
    watch.tick(on_watch, [drawn], view, **fast)
    preset.input(on_preset, [preset, drawn], [depths, data, steps, finding, plot, grads, status, drawn], **fast)
    gr.on([depths.input, data.input, steps.input], on_controls, [depths, data, steps], [preset, finding], **fast)
    start.click(on_start, [depths, data, steps, drawn], [plot, grads, status, note, timer, drawn],
                concurrency_id="degradation", **HIDDEN)
    cancel.click(on_cancel, None, [note], concurrency_id="degradation", **HIDDEN)
    return section
