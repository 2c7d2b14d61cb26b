"""Benchmark scripts. Run each from the repository root as a module, ``python -m bench.NAME``
(for example ``python -m bench.bench_model``), so ``bench`` and ``resnet_viz`` import from the
checkout; each prints its results through :func:`bench.common.report`."""
