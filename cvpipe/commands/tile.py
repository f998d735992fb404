"""``cvpipe tile``: cut a dataset's large images into overlapping tiles, boxes cut to each.

    cvpipe tile data/aerial data/aerial-tiles --size 640 --overlap 0.2 --min-visibility 0.3 --to yolo

The tiles are made by :func:`cvpipe.tiling.tile_dataset` in a temporary folder beside DST and
written through the format's writer (DST appears whole or not at all); no torch on this path.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import click

_PATH = click.Path(path_type=Path)


@click.command()
@click.argument("src", type=_PATH)
@click.argument("dst", type=_PATH)
@click.option("--size", type=int, default=640, show_default=True, help="Tile side in pixels.")
@click.option("--overlap", type=float, default=0.2, show_default=True, help="Fraction of --size neighbouring tiles share.")
@click.option("--min-visibility", type=float, default=0.3, show_default=True,
              help="Keep a cut box when at least this fraction of its area is inside the tile.")
@click.option("--to", "to", metavar="FORMAT", help="Output format (default: the input's).")
@click.option("--from", "from_format", metavar="FORMAT", help="Input format (detected when omitted).")
@click.option("--images-dir", type=_PATH, metavar="DIR", help="Where the image files are (overrides the layout).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary instead of a table.")
def tile(src: Path, dst: Path, size: int, overlap: float, min_visibility: float, to: str | None,
         from_format: str | None, images_dir: Path | None, as_json: bool) -> None:
    """Cut the images of the dataset at SRC into --size tiles and write them to DST.

    Boxes are clipped to each tile, kept (flagged truncated) when at least --min-visibility of
    their area is inside, dropped otherwise; images no larger than --size are kept whole.
    """
    from ..console import print_json, print_table
    from ..formats import detect_format, get_format, read_dataset, write_dataset
    from ..tiling import check_tile_settings, tile_dataset

    check_tile_settings(size, overlap, min_visibility, prefix="--")
    fmt = from_format or detect_format(src)
    out_fmt = to or fmt
    get_format(out_fmt, need="writer", field="--to")
    ds = read_dataset(src, fmt, images_dir=images_dir)
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{dst.name}.tiles-", dir=dst.parent))
    try:
        tiled, counts = tile_dataset(ds, work / "tiles", size=size, overlap=overlap, min_visibility=min_visibility)
        report = write_dataset(tiled, dst, out_fmt, images="link")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = {"source": str(src), "written": str(dst), "format": out_fmt, "size": size, "overlap": overlap,
               "min_visibility": min_visibility, **counts, "writer": report}
    if as_json:
        print_json(summary)
        return
    print_table([[k, counts[k]] for k in ("images", "tiled", "kept_whole", "tiles", "boxes", "boxes_out",
                                           "clipped", "dropped")], ["", "count"])
    click.echo(f"\n{counts['images']} images -> {counts['tiles']} tiles of {size} px ({out_fmt}) -> {dst}")
