"""``python -m resnet_viz index FOLDER --out INDEX``: build an exemplar index from the shell."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..exemplars.build import ENGINES, build_index
from ..exemplars.folder import scan_folder
from ..exemplars.ray_engine import EngineUnavailable, require_ray
from ..model.weights import WeightsError, load_model
from .options import add_model_options, error, non_negative_int, positive_int
from .progress import ProgressBar

__all__ = ["add_index_command"]


def _megabytes(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.1f} MB"


def _index_command(args: argparse.Namespace) -> int:
    try:
        if args.engine == "ray":
            require_ray()
    except EngineUnavailable as exc:
        return error(str(exc))
    folder, out = Path(args.folder), Path(args.out)
    if not folder.is_dir():
        return error(f"image folder {args.folder!r} {'is not a folder' if folder.exists() else 'does not exist'}")
    if not out.parent.is_dir():
        return error(f"cannot write the index to {args.out!r}: folder {str(out.parent)!r} does not exist")
    try:
        if not scan_folder(folder).images:  # before loading a model for nothing
            return error(f"nothing to index in {args.folder!r}: no image files (by extension) in it")
    except OSError as exc:
        return error(str(exc))
    try:
        model = load_model(args.arch, args.weights, args.device, precision=args.precision, progress=not args.quiet)
    except (WeightsError, ValueError) as exc:
        return error(str(exc))
    bar = None if args.quiet else ProgressBar()
    progress = None if bar is None else (lambda fraction, status: bar.update(fraction, str(status), phase=status.phase))
    try:
        index = build_index(
            model, folder, top_k=args.top_k, engine=args.engine, progress=progress, batch_size=args.batch_size,
            workers=args.workers, patch_size=args.patch_size, ray_address=args.ray_address, ray_cpus=args.ray_cpus,
        )  # fmt: skip
    except (OSError, ValueError, EngineUnavailable) as exc:  # the folder changed, a bad option, no Ray
        return error(str(exc))
    finally:
        if bar is not None:
            bar.close()
    meta, unreadable = index.meta, index.unreadable
    if meta["indexed"] == 0:
        return error(f"nothing to index in {args.folder!r}: all {len(meta['images'])} image files are unreadable")
    index.save(out)
    channels = sum(s["channels"] for s in meta["stages"])
    print(
        f"indexed {meta['indexed']} of {len(meta['images'])} images in {args.folder} "
        f"({len(unreadable)} unreadable) with {meta['arch']} {meta['weights']} weights, engine {meta['engine']}, "
        f"in {meta['total_s']:.1f} s ({meta['indexed'] / max(meta['scoring_s'], 1e-9):.1f} images/s scoring): "
        f"top-{meta['top_k']} of {channels} channels in {', '.join(index.stages)} -> {out} ({_megabytes(out)})"
    )
    for item in unreadable:
        print(f"  unreadable: {item['path']}: {item['reason']}")
    return 0




def add_index_command(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("index", help="the images (and patches) of a folder that excite each channel most")
    run.add_argument("folder", metavar="FOLDER", help="walked recursively; image files only")
    run.add_argument("--out", required=True, metavar="INDEX", help="the index file to write (.npz)")
    add_model_options(run)
    run.add_argument("--top-k", type=positive_int, default=9, help="exemplars kept per channel (default 9)")
    run.add_argument("--engine", default="local", choices=list(ENGINES), help="local (default) or ray")
    run.add_argument("--ray-address", metavar="ADDR", help="join this Ray cluster (default: start a local one)")
    run.add_argument("--ray-cpus", type=positive_int, metavar="N", help="CPUs of the local Ray started (default: all)")
    run.add_argument("--batch-size", type=positive_int, default=32)
    run.add_argument(
        "--workers", type=non_negative_int, help="local: decoding processes (default: half the cores, 1-4); ray: model replicas"
    )
    run.add_argument("--patch-size", type=positive_int, default=64, help="longest side of stored patches, px")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(handler=_index_command)
