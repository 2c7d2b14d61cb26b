"""What a server needs and a notebook does not: the models shared by every visitor, their sessions
and files, and the gate that lets short requests pass slow ones.

- ``explorer``: the app's shared state and the model work the tabs ask for (no Gradio);
- ``registry``: models per architecture, loaded once; ``gate``, ``cancel``: one computation per
  model, slow work that pauses for short requests and can be cancelled; ``batching``: concurrent
  analyses in one forward;
- ``sessions``, ``downloads``, ``feature_cache``: per-visitor state and files, cached pictures;
- ``degradation_lab``: the degradation experiment's one live run per server; ``trust_lab``: the lab's data
  randomisation test (the shipped pair, one live training per server);
- ``ray_app``, ``ray_workers``: the same model work on Ray Serve replicas (imported only by
  ``python -m resnet_viz serve`` and the Serve config: they need Ray).

Imports from: model, probe, explain, trust, draw, degradation, exemplars, i18n.
"""
