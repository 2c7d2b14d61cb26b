"""Dataset exemplars: for every channel of C1..C5, the images (and patches) that excite it most.

``build_index(model, folder)`` scores a folder of images (locally with DataLoader workers, or on a
Ray cluster), ``index.save(path)`` writes a portable .npz with patch thumbnails inside, and
``load_index(path).top(stage, channel)`` lists a channel's exemplars without the folder.

Imports from: model, probe.
"""

from .build import ENGINES, IndexProgress, build_index
from .ray_engine import EngineUnavailable
from .store import Exemplar, ExemplarIndex, IndexFileError, load_index
from .topk import TopK, merge_topk, stage_maxima

__all__ = [
    "ENGINES",
    "EngineUnavailable",
    "Exemplar",
    "ExemplarIndex",
    "IndexFileError",
    "IndexProgress",
    "TopK",
    "build_index",
    "load_index",
    "merge_topk",
    "stage_maxima",
]
