"""The explorer's page, one module per tab. ``app.py`` composes them:

- ``page``: what the tabs share (photo, architecture, banner, status, the analysis chain);
- ``predictions``, ``stages``, ``residual``, ``attributions``, ``lab``, ``architecture``: the tabs;
- ``files``: the download; ``api``: the four named endpoints for scripts.
"""
