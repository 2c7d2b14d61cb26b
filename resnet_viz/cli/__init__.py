"""``python -m resnet_viz``: one module per command, one shared set of options.

- ``main``: the parser and the ``analyze`` and ``download`` commands;
- ``visualize``, ``index``, ``degradation``: the other commands;
- ``options``: what every command shares (numbers, channel lists).

Imports from: model, probe, explain, draw, degradation, exemplars.
"""
