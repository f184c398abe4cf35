""" "This run's models predicted on DEVICE": the report section of ``report --predict-on DEV,…``.

Per cell with a traffic fit (at most ``MAX_CELLS``), ``predict --from RUN --device DEV`` for every device asked
(``analysis.cross_device``: the cell's fit carried by datasheet ratios) and one bar chart: predicted latency per
model and device, with the 95 % intervals, for up to ``MAX_MODELS`` models spread over FLOPs. A cell that cannot
be carried (no op tables, a dtype a device has no peak for) gets a note with the reason, not a crash.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
from matplotlib.figure import Figure

MAX_CELLS = 3
MAX_MODELS = 16


def _predict(source: str, key: dict, device: str) -> dict:
    from profiler.analysis.cross_device import predict

    args = argparse.Namespace(
        source=source,
        cell=[f"{k}={v}" for k, v in key.items()],
        device=device,
        compare=None,
        models=None,
        calibrate=None,
        form=None,
        from_device=None,
        resolution=None,
    )
    return predict(args)


def bars(docs: dict[str, dict], max_models: int = MAX_MODELS) -> Figure:
    """Grouped horizontal bars: predicted latency per model (rows) and device (colours), 95 % intervals."""
    from profiler.hardware.transfer import pick_spread

    first = next(iter(docs.values()))["predictions"]
    idx = sorted(
        pick_spread(np.array([p["gmacs"] for p in first]), min(max_models, len(first))), key=lambda i: first[i]["gmacs"]
    )
    fig = Figure(figsize=(7.5, 0.32 * len(idx) * max(1, len(docs) / 2) + 1.2), layout="constrained")
    ax = fig.add_subplot()
    height = 0.8 / len(docs)
    for j, doc in enumerate(docs.values()):
        rows = [doc["predictions"][i] for i in idx]
        y = np.arange(len(idx)) + (j - (len(docs) - 1) / 2) * height
        pred = np.array([r["predicted_ms"] for r in rows])
        lo = np.array([r["pi95_ms"][0] for r in rows])
        hi = np.array([r["pi95_ms"][1] for r in rows])
        err = np.vstack([np.clip(pred - lo, 0, None), np.clip(hi - pred, 0, None)])
        ax.barh(y, pred, height=height, label=doc["target"]["device"], xerr=np.nan_to_num(err), capsize=1.5)
    ax.set_yticks(
        np.arange(len(idx)),
        [
            f"{str(first[i]['model']).removeprefix('timm:')} {first[i]['resolution']}px"
            if first[i]["resolution"]
            else str(first[i]["model"])
            for i in idx
        ],
    )
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel(f"predicted latency ({next(iter(docs.values()))['unit']})")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def section(source: str, devices: list[str], figure: Callable) -> dict:
    """The section's context: figures and notes per cell of the run (mixed batches compared per image)."""
    from profiler.analysis import load_frame
    from profiler.analysis.data import per_image, split_cells
    from profiler.core.errors import UsageError
    from profiler.hardware.datasheets import lookup

    out = {"devices": [lookup(d).name for d in devices], "figures": [], "notes": []}
    try:
        cells = [k for k, _ in split_cells(per_image(load_frame(source))[0])]
    except UsageError as exc:
        return out | {"notes": [str(exc)]}
    for key in cells[:MAX_CELLS]:
        label = " ".join(f"{k}={v}" for k, v in key.items())
        try:
            docs = {d: _predict(source, key, d) for d in devices}
        except UsageError as exc:
            out["notes"].append(f"{label}: {exc}")
            continue
        doc = next(iter(docs.values()))
        caption = (
            f"{doc['fit']['form']} fitted on the {doc['source']['models']} models of {label} on "
            f"{doc['source']['device']}, each term scaled by the datasheet ratio of its resource (compute: "
            f"peak at {doc['source']['dtype']}; traffic: bandwidth; launches and fixed cost unchanged). "
            "Bars: up to 16 models spread over FLOPs; whiskers: 95 % interval from the source's "
            "leave-one-family-out error. No target was measured."
        )
        out["figures"].append(
            figure(
                f"Predicted on {', '.join(d['target']['device'] for d in docs.values())}: {label}",
                caption,
                bars,
                docs,
                n_points=MAX_MODELS * len(docs),
            )
        )
    return out
