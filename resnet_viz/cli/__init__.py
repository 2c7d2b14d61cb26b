"""``python -m resnet_viz``: one module per command, one shared set of options.

- ``main``: the parser; ``analyze``, ``download``, ``visualize``, ``index``, ``degradation``,
  ``trust``, ``serve``: one module per command (``serve`` imports the server rooms only when it runs);
- ``options``: what every command shares (the model options, argument types, error lines);
  ``progress``: the one progress bar.

Imports from: model, probe, explain, trust, draw, degradation, exemplars, serve, ui.
"""
