"""Pictures and charts that read on their own: pure functions from arrays to images or figures.

- ``render``: feature grids, overlays, heatmaps, the Grad-CAM ladder (numpy/PIL);
- ``charts``, ``chart_layout``: residual, gradient-flow and lesion charts (matplotlib's Figure API);
- ``annotate``, ``colormaps``: colour bars and title bands; ``fonts``: Hangul fonts;
- ``labels``, ``block_names``: the words on the pictures and the seed's block names (C2.1).

Imports from: i18n.
"""
