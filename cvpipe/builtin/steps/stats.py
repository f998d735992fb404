"""The ``stats`` step: dataset statistics as ``stats.json``, a chart and a table (computed by
:mod:`cvpipe.dataset_stats`)."""

from __future__ import annotations

from typing import Any

from ...errors import ConfigError
from ._common import dataset_in, describe

__all__ = ["StatsStep"]


class StatsStep:
    """Dataset statistics (per class, box size and aspect histograms) as stats.json and a PNG chart."""

    def __init__(self, *, dataset: str = "dataset", bins: int = 20, chart: bool = True, table: bool = True) -> None:
        """
        Args:
            dataset: the context name of the dataset.
            bins: histogram bins (2-200).
            chart: write ``stats.png`` (matplotlib).
            table: print the per-class table.
        """
        if not 2 <= bins <= 200:
            raise ConfigError("out of range", field="bins", value=bins, expected="2 to 200")
        self.dataset, self.bins, self.chart, self.table = dataset, bins, chart, table
        self.inputs = {"dataset": dataset}
        self.outputs: dict[str, str] = {}

    def run(self, ctx: Any) -> dict[str, Any]:
        from ...console import format_table
        from ...dataset_stats import dataset_stats, stats_chart
        from ...fsutil import atomic_write_json

        ds = dataset_in(ctx, self.dataset)
        stats = dataset_stats(ds, self.bins)
        out_dir = ctx.step_dir
        atomic_write_json(out_dir / "stats.json", stats)
        files = {"json": str(out_dir / "stats.json")}
        if self.chart:
            files["chart"] = str(stats_chart(stats, out_dir / "stats.png", title=f"{self.dataset}: {describe(ds)}"))
        if self.table:
            rows = [[c, v["images"], v["boxes"]] for c, v in stats["per_class"].items()]
            rows.append(["(all)", stats["images"], stats["boxes"]])
            ctx.log(format_table(rows, ["class", "images", "boxes"]))
        size = stats["box_size"]["summary"]
        summary = describe(ds) + (f"; median box {size['median']:.0f}px" if size else "")
        return {"summary": summary, "files": files, **{k: stats[k] for k in
                ("images", "boxes", "empty_images", "per_class", "splits", "flags", "boxes_per_image")},
                "box_size": size, "aspect": stats["aspect"]["summary"]}
