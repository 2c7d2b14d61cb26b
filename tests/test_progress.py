"""The command line's one progress bar: redrawn in place on a terminal, sparse lines in a log."""

from __future__ import annotations

import io

from resnet_viz.cli.progress import ProgressBar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_one_line_redrawn_and_kept_lines_above_it():
    out = Terminal()
    bar = ProgressBar(out)
    bar.update(0.5, "half", phase="a")
    bar.print("first channel done")
    bar.update(1.0, "all")
    bar.close()
    text = out.getvalue()
    assert text.count("\n") == 2  # the kept line and the bar's last state
    assert "[###############---------------]  50.0%  half" in text
    assert "\r\033[Kfirst channel done\n" in text and text.rstrip().endswith("(0 s)")


def test_a_log_gets_a_line_per_phase_and_at_the_end_not_per_update():
    out = io.StringIO()
    bar = ProgressBar(out, every_s=3600)
    for i in range(100):
        bar.update(i / 200, f"scoring {i}", phase="scoring")
    bar.update(0.6, "patches", phase="patches")
    bar.update(1.0, "done", phase="patches")
    lines = out.getvalue().splitlines()
    assert [line.strip().split("  ")[1] for line in lines] == ["scoring 0", "patches", "done"]
    assert lines[0].startswith("  0.0%") and lines[-1].startswith("100.0%")


def test_every_s_none_keeps_a_log_to_the_lines_that_stay():
    out = io.StringIO()
    bar = ProgressBar(out, every_s=None)
    bar.update(0.5, "step 1", phase="x")
    bar.print("channel 1 done")
    bar.update(1.0, "step 2")
    bar.close()
    assert out.getvalue() == "channel 1 done\n"
