"""Forward hooks that live for exactly one call.

Hooks sit on shared modules and fire for every forward that passes through them, from any
thread. The taps here are registered inside a context manager, removed in its ``finally`` (even
when the forward raises), and ignore forwards run by other threads, so two requests analysing
the same model at once never see each other's tensors.
"""

from __future__ import annotations

import threading
from contextlib import ExitStack, contextmanager
from typing import Callable, Iterator, Mapping

from torch import Tensor, nn

__all__ = ["forward_taps", "hook_count"]

OnOutput = Callable[[str, Tensor], None]


@contextmanager
def forward_taps(modules: Mapping[str, nn.Module], on_output: OnOutput) -> Iterator[None]:
    """Call ``on_output(name, output)`` for each module's forward run by this thread, until exit."""
    owner = threading.get_ident()

    def make_hook(name: str):
        def hook(module: nn.Module, args: tuple, output: Tensor) -> None:
            if threading.get_ident() == owner:
                on_output(name, output)

        return hook

    with ExitStack() as stack:
        for name, module in modules.items():
            stack.enter_context(module.register_forward_hook(make_hook(name)))
        yield


def hook_count(model: nn.Module) -> int:
    """All module hooks of every kind registered anywhere in ``model`` (0 when nothing leaked)."""
    kinds = (
        "_forward_hooks",
        "_forward_pre_hooks",
        "_backward_hooks",
        "_backward_pre_hooks",
        "_state_dict_hooks",
        "_load_state_dict_pre_hooks",
    )
    return sum(len(getattr(m, kind, ())) for m in model.modules() for kind in kinds)
