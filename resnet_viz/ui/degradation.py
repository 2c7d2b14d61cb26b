"""The lab's Degradation section: plain and residual CIFAR networks trained live, curves streaming.

The server has one run (:class:`~resnet_viz.serve.degradation_lab.DegradationLab`, held by the explorer):
one visitor starts it, every visitor watches it. Before any run the page shows the committed
recorded curves, labelled with how they were made; a 5 s timer notices a run another visitor
starts. While a run is active a 1 s timer reads the
runner's snapshot; the chart is drawn only when it has new points, once for all visitors (the
rendered plot is shared), never under a model gate.

:class:`DegradationSection` holds the logic as plain methods (tests call them directly);
:func:`build` makes the components and wires them to it.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any, Hashable, Sequence

import gradio as gr
from gradio.components.plot import PlotData

from ..degradation.chart import degradation_chart
from ..degradation.data import DataError, check_cifar10
from ..degradation.experiment import DegradationConfig, DegradationResult
from ..degradation.runner import RunSnapshot
from ..draw import charts
from ..i18n import UserError, catalogue_words, tr
from ..serve.degradation_lab import DegradationLab, RunTooCostly
from .inputs import ChoiceRadio, Choices, NumberInput
from .page import HIDDEN, I18N, Page, friendly, visitor

__all__ = ["DEPTHS", "STEPS_RANGE", "DegradationSection", "build", "chart_words"]

DEPTHS = (20, 32, 44, 56)  # the paper's Fig. 6 depths (6n + 2)
STEPS_RANGE = (10, 64_000)  # 64k: the paper's whole CIFAR-10 schedule
TICK_S = 1.0
WATCH_S = 5.0  # how soon an open page notices a run another visitor started


def chart_words(lang: str) -> dict[str, str]:
    """The chart's words in ``lang``; English where no installed font can draw Hangul."""
    if lang == "ko" and charts.hangul_font() is None:
        lang = "en"
    return catalogue_words("dchart_", lang)


class _Plots:
    """Rendered charts shared by every visitor: drawn once per (curves, language), a few kept."""

    def __init__(self, plot: gr.Plot | None, keep: int = 8) -> None:
        self._plot = plot or gr.Plot(format="png", render=False)
        self._keep = keep
        self._lock = threading.Lock()  # one drawing at a time: the same chart is not drawn twice
        self._cache: dict[Hashable, PlotData] = {}
        self.drawn = 0  # charts actually drawn (tests and the timer's cost)

    def get(self, key: Hashable, result: DegradationResult, lang: str) -> PlotData:
        with self._lock:
            if key not in self._cache:
                figure = degradation_chart(result, chart_words(lang))
                self._cache[key] = self._plot.postprocess(figure)  # PNG; gr.Plot closes the figure
                self.drawn += 1
                while len(self._cache) > self._keep:
                    self._cache.pop(next(iter(self._cache)))
            return self._cache[key]


class DegradationSection:
    """What the section shows and does, without Gradio events: every method returns the values for
    its outputs. ``drawn`` is the visitor's key of the chart on screen (a gr.State)."""

    def __init__(self, lab: DegradationLab, config: DegradationConfig, plot: gr.Plot | None = None) -> None:
        self.lab = lab
        self.config = config  # the defaults of the controls and every other field of a run
        self.depth_choices = sorted(set(DEPTHS) | set(config.depths))
        self.plots = _Plots(plot)

    # --- what is on screen ---------------------------------------------------------------------

    def _shown(self, snap: RunSnapshot | None, lang: str) -> tuple[Hashable, DegradationResult | None]:
        """(key, result) of the curves to show: the run's when it has points, else the recorded."""
        if snap is not None and snap.result is not None:
            return ("run", snap.run_id, snap.result.points, snap.result.finished, lang), snap.result
        recorded = self.lab.recorded()
        return ("recorded", lang), recorded.result if recorded is not None else None

    def status(self, snap: RunSnapshot | None, lang: str) -> str:
        """State, step x of N, seconds, paused or not; the recorded run's label before any run."""
        if snap is None or (snap.result is None and not snap.active and snap.state != "failed"):
            recorded = self.lab.recorded()
            if recorded is None:
                return tr("degr_no_recorded", lang, error=self.lab.recorded_error)
            text = tr("degr_recorded", lang, command=recorded.command, machine=recorded.machine,
                      date=recorded.date, seconds=recorded.seconds)
            if snap is not None and snap.state == "cancelled":  # cancelled before its first point
                text = tr("degr_state_cancelled", lang) + self._ended_note(snap, lang) + " · " + text
            return text
        config = snap.result.config if snap.result is not None else (self.lab.config() or self.config)
        step = snap.result.step if snap.result is not None else 0
        end = time.time() if snap.active or snap.updated is None else snap.updated
        seconds = end - snap.started if snap.started is not None else 0.0
        text = tr("degr_status", lang, state=tr(f"degr_state_{snap.state}", lang), step=step, steps=config.steps,
                  seconds=seconds)
        if snap.active:
            text += " · " + (tr("degr_paused", lang) if snap.paused else tr("degr_not_paused", lang, pauses=self.lab.pauses))
        if snap.error:
            text += f" · {snap.error}"
        return text + self._ended_note(snap, lang)

    def _ended_note(self, snap: RunSnapshot, lang: str) -> str:
        """" · why the lab ended this run" (its starter's page went silent), or ""."""
        if self.lab.ended_reason(snap.run_id) != "starter_left":
            return ""
        return " · " + tr("degr_ended_starter_left", lang, seconds=self.lab.heartbeat_timeout_s or 0)

    def view(self, lang: str, drawn: Hashable | None) -> tuple[Any, str, bool, Hashable | None]:
        """(plot or gr.skip() when the visitor already has it, status, whether a run is active, key)."""
        snap = self.lab.snapshot()
        key, result = self._shown(snap, lang)
        if result is None:
            plot: Any = None
        elif key == drawn:
            plot = gr.skip()
        else:
            plot = self.plots.get(key, result, lang)
        return plot, self.status(snap, lang), bool(snap is not None and snap.active), key

    # --- events --------------------------------------------------------------------------------

    def open(self, lang: str, drawn: Hashable | None = None):
        """Page load and tab select: the recorded or the live/last curves; the timer on if a run is active."""
        plot, status, active, key = self.view(lang, drawn)
        return plot, status, gr.Timer(active=active), key

    def tick(self, lang: str, drawn: Hashable | None):
        """The timer: new points drawn, the status line; the timer stops when the run has ended."""
        plot, status, active, key = self.view(lang, drawn)
        return plot, status, gr.skip() if active else gr.Timer(active=False), key

    def watch(self, lang: str, drawn: Hashable | None):
        """The slow timer every open page runs: a run another visitor started shows up here within
        WATCH_S (and the fast timer takes over); nothing is sent while this page already shows it."""
        snap = self.lab.snapshot()
        showing_it = isinstance(drawn, (tuple, list)) and len(drawn) > 1 and drawn[0] == "run" and (
            snap is not None and drawn[1] == snap.run_id
        )
        if snap is None or not snap.active or showing_it:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return self.open(lang, drawn)

    def run_config(self, depths: Sequence[Any] | None, data: Any, steps: Any, lang: str) -> DegradationConfig:
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
        if data == "cifar10":
            try:
                check_cifar10()
            except DataError:
                raise UserError("degr_no_cifar", lang) from None
        return dataclasses.replace(self.config, depths=tuple(sorted(set(chosen))), data=data, steps=int(steps))

    def start(self, sid: str, lang: str, depths: Sequence[Any] | None, data: Any, steps: Any, drawn: Hashable | None = None):
        """Start: a new run, or (one is going) the running one's curves and a note saying so."""
        config = self.run_config(depths, data, steps, lang)
        try:
            started = self.lab.start(config, owner=sid)
        except RunTooCostly as exc:
            raise UserError("error_degr_budget", lang, minutes=exc.minutes, limit_minutes=exc.limit_minutes,
                               max_steps=exc.max_steps) from None
        plot, status, active, key = self.view(lang, drawn)
        if started:
            note = tr("degr_started", lang, networks=2 * len(config.depths), steps=config.steps, data=config.data)
        else:
            note = tr("degr_busy", lang)
        return plot, status, note, gr.Timer(active=active), key

    def cancel(self, sid: str, lang: str) -> str:
        stopped = self.lab.cancel(owner=sid)
        if stopped is None:
            return tr("degr_not_yours", lang)
        return tr("degr_cancelled" if stopped else "degr_nothing_to_cancel", lang)


def build(page: Page, tab: gr.Tab, config: DegradationConfig | None = None) -> DegradationSection:
    """The section's components (in the current layout context, inside the lab ``tab``) and events."""
    config = config or DegradationConfig()
    gr.Markdown(I18N("degr_heading"))
    gr.Markdown(I18N("degr_help"))
    gr.Markdown(I18N("degr_notice"), elem_id="degradation-notice")
    section_depths = sorted(set(DEPTHS) | set(config.depths))
    with gr.Row():
        depths = Choices(section_depths, value=list(config.depths), label=I18N("degr_depths_label"),
                         elem_id="degradation-depths")
        data = ChoiceRadio([(I18N("degr_data_offline"), "offline"), (I18N("degr_data_cifar10"), "cifar10")],
                           value=config.data, label=I18N("degr_data_label"), elem_id="degradation-data")
        steps = NumberInput(config.steps, minimum=STEPS_RANGE[0], maximum=STEPS_RANGE[1], precision=0, step=100,
                            label=I18N("degr_steps_label"), elem_id="degradation-steps")
    with gr.Row():
        start = gr.Button(I18N("degr_start"), variant="primary", elem_id="degradation-start", scale=4)
        cancel = gr.Button(I18N("cancel_button"), size="sm", elem_id="degradation-cancel", scale=1)
    note = gr.Markdown(elem_id="degradation-note")
    plot = gr.Plot(label=I18N("degr_plot_label"), show_label=False, format="png", elem_id="degradation-plot")
    status = gr.Markdown(elem_id="degradation-status")
    timer = gr.Timer(TICK_S, active=False)
    watch = gr.Timer(WATCH_S)
    drawn = gr.State(None)  # this visitor's key of the chart on screen
    section = DegradationSection(page.explorer.degradation, config, plot)

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
    def on_start(request: gr.Request, chosen: list, source: str, count: float | None, shown: Hashable | None):
        sid, lang = visitor(request)
        return section.start(sid, lang, chosen, source, count, shown)

    def on_cancel(request: gr.Request) -> str:
        sid, lang = visitor(request)
        return section.cancel(sid, lang)

    view = [plot, status, timer, drawn]
    # Reading the snapshot and a shared, cached chart: no model, no queue (ticks never crowd the
    # queue that visitors' analyses wait in).
    fast = dict(queue=False, show_progress="hidden", **HIDDEN)
    page.on_load(on_open, [drawn], view)
    tab.select(on_open, [drawn], view, **fast)
    timer.tick(on_tick, [drawn], view, **fast)
    watch.tick(on_watch, [drawn], view, **fast)
    start.click(on_start, [depths, data, steps, drawn], [plot, status, note, timer, drawn], concurrency_id="degradation",
                **HIDDEN)
    cancel.click(on_cancel, None, [note], concurrency_id="degradation", **HIDDEN)
    return section
