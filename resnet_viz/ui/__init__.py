"""The explorer's page, one module per tab; the only room that imports Gradio. ``app.py`` composes them:

- ``page``: what the tabs share (photo, architecture, banner, status, the analysis chain);
- ``predictions``, ``stages``, ``residual``, ``attributions``, ``lab``, ``architecture``: the tabs;
  ``channel_panel`` (stage tab) and ``degradation`` (lab tab): their larger sections;
- ``files``: the download; ``api``: the four named endpoints for scripts;
- ``photo_input``: the image input that hands the handlers the uploaded file untouched;
- ``ray_page``: the page as the Ray Serve deployment's page replica (needs Ray).

Imports from: model, probe, explain, trust, draw, degradation, exemplars, serve, i18n.
"""
