"""The per-op-class runtime model: per op class one throughput for compute and one for traffic, a launch cost
per op, fitted by non-negative least squares with relative-error weights.

    t̂ (ms per batch) = c₀ + Σ_class [ a_class · FLOP_class + b_class · MB_class ] + Σ_group l_group · ops_group

FLOP_class = 2 · batch · MACs of the class's ops (GFLOP per batch), MB_class = its memory traffic at the cell's
batch and dtype (``counting.opclass``: activations × batch at their element size, weights once per batch; MB per
batch), ops_group = its ops per forward (launches in eager mode); in a per-image cell (mixed batches, latency per
image: ``analysis.data.per_image``) every column is divided by the row's batch too. Classes are those of
``counting.opclass``; only the convs and ``linear`` have MACs. a is ms per GFLOP (1/throughput), b
ms per MB (1/bandwidth), l ms per op and c₀ a fixed cost per forward: all ≥ 0 (``scipy.optimize.nnls``), minimizing
Σ ((t̂ − t)/t)² — relative errors, latency being multiplicative — on the training rows. The sum replaces a
roofline's max so that the fit is linear; a class whose time follows its traffic simply gets a ≈ 0.

Class granularity: compute has one throughput for dense convs, one for depthwise and grouped convs together
(``conv_dwg``: both are mostly memory-bound, and few families have them) and one for linear/matmul; traffic and
launches are per class, depthwise apart from grouped convs in cells of ``FINE_MIN_MODELS`` models or more, merged
below (the 26-model H200 cells over-fit otherwise). On timm's RTX tables (232 rows, AMP) this split gave 4.1 % /
94 % within ±10 % (3090) and 3.6 % / 94 % (4090) held out, against 4.3 / 95 and 4.9 / 86 with compute split too
and 5.6 / 87 and 4.7 / 94 with all merged.

Launch groups (``LAUNCH_GROUPS``): a convolution's or a matmul's dispatch costs more host time than a ReLU's, so
``"class"`` fits one launch cost per op class; ``"mac"`` (the default) two — ops with MACs (conv, linear: cuDNN /
cuBLAS dispatch) and the rest; ``"one"`` one for all. On the H200 reference run (26 models, 9 families, one repeat)
per-class launch costs over-fit: held-out MAPE at batch 1 fp32 29.6 % against 23.1 % with "mac"
(``benchmarks/traffic_model.py`` prints all three).

Every term is tagged with the resource it stands for (``Term``: ``compute`` of an op class at a dtype,
``traffic``, ``launch``, ``fixed``), so that a fit can be carried to another device by scaling each term by the
ratio of that resource (the cross-device issue). A fit with fewer training models than coefficients is refused
(``TooFewModels``, naming both numbers); terms whose column is zero for every training model are dropped first
(and contribute nothing to a model that has them: ``OpClassFit.dropped`` says which). Predictions are never clipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from profiler.analysis.optables import OpTable, row_batches
from profiler.core.errors import UsageError
from profiler.counting.opclass import CLASS_LABELS, OP_CLASSES, TRAFFIC_DTYPES

NAME = "opclass"
FORMULA = "t = c0 + sum_class (a_class * FLOP_class + b_class * bytes_class) + sum_group l_group * ops_group"
# Coarse classes (small cells): depthwise and grouped convs share one class, "conv_dwg".
COARSE = {"conv_dw": "conv_dwg", "conv_grouped": "conv_dwg"}
ALL_CLASSES = (*OP_CLASSES, "conv_dwg")
LABELS = {**CLASS_LABELS, "conv_dwg": "depthwise/grouped conv"}
FINE_MIN_MODELS = 60  # depthwise and grouped convs get their own traffic terms in cells of at least this many models
MAC_CLASSES = ("conv", "conv_dw", "conv_grouped", "conv_dwg", "linear")
COMPUTE_CLASSES = ("conv", "conv_dwg", "linear")  # one compute throughput for depthwise and grouped convs
LAUNCH_GROUPS = {
    "class": {c: c for c in ALL_CLASSES},
    "mac": {c: ("mac" if c in MAC_CLASSES else "other") for c in ALL_CLASSES},
    "one": {c: "all" for c in ALL_CLASSES},
}
DEFAULT_LAUNCH = "mac"  # see the module docstring: per class over-fits the 26-model H200 cells
RESOURCES = ("compute", "traffic", "launch", "fixed")


class TooFewModels(UsageError):
    """A fit asked with fewer models than coefficients."""


@dataclass(frozen=True)
class Term:
    """One coefficient's column: what resource it stands for, the op class (or launch group) and the dtype."""

    name: str  # e.g. "compute:conv", "traffic:norm", "launch:mac", "fixed"
    resource: str  # compute | traffic | launch | fixed
    group: str | None  # op class (compute, traffic), launch group, or None
    dtype: str | None  # compute dtype of the class's ops (compute terms only)
    unit: str  # unit of the column (the coefficient is ms per unit)


def compute_dtype(op_cls: str, dtype: str, device: str = "cuda") -> str:
    """The dtype an op class computes in: under ``amp`` conv/linear run in fp16 (CUDA) or bf16 (CPU), others fp32."""
    if dtype != "amp":
        return dtype
    if op_cls in MAC_CLASSES:
        return "bf16" if device == "cpu" else "fp16"
    return "fp32"


def class_set(fine: bool) -> tuple[str, ...]:
    """The op classes the model fits: ``counting.opclass``'s (fine), or with depthwise and grouped convs merged."""
    return OP_CLASSES if fine else tuple(dict.fromkeys(COARSE.get(c, c) for c in OP_CLASSES))


def terms_for(
    dtype: str, launch: str = DEFAULT_LAUNCH, device: str = "cuda", classes: tuple[str, ...] = OP_CLASSES
) -> list[Term]:
    """All candidate terms of a cell at ``dtype`` (before columns that are zero are dropped)."""
    if launch not in LAUNCH_GROUPS:
        raise UsageError(f"unknown launch grouping {launch!r}; valid: {', '.join(LAUNCH_GROUPS)}")
    out = [Term("fixed", "fixed", None, None, "forward")]
    out += [Term(f"compute:{c}", "compute", c, compute_dtype(c, dtype, device), "GFLOP") for c in COMPUTE_CLASSES]
    out += [Term(f"traffic:{c}", "traffic", c, None, "MB") for c in classes]
    groups = dict.fromkeys(LAUNCH_GROUPS[launch][c] for c in classes)
    out += [Term(f"launch:{g}", "launch", g, None, "op") for g in groups]
    return out


def model_classes(table: OpTable, fine: bool = True) -> np.ndarray:
    """The class of every row of ``table`` (merged by ``COARSE`` unless ``fine``)."""
    return np.array([c if fine else COARSE.get(c, c) for c in table.classes])


def features(
    table: OpTable, batch: int, dtype: str, launch: str = DEFAULT_LAUNCH, fine: bool = True
) -> dict[str, float]:
    """{term name: column value} of one model at (batch, dtype): GFLOP and MB per batch, ops per forward."""
    classes, coarse = model_classes(table, fine), model_classes(table, False)
    row_mb = table.row_bytes(batch, dtype) * table.count / 1e6
    flop_g = 2.0 * batch * table.macs * table.count / 1e9
    out = {"fixed": 1.0}
    for c in COMPUTE_CLASSES:
        out[f"compute:{c}"] = float(flop_g[coarse == c].sum())
    for c in class_set(fine):
        out[f"traffic:{c}"] = float(row_mb[classes == c].sum())
    for c in class_set(fine):
        g = f"launch:{LAUNCH_GROUPS[launch][c]}"
        out[g] = out.get(g, 0.0) + float(table.count[classes == c].sum())
    return out


@dataclass
class OpClassFit:
    """Fitted coefficients (ms per unit) of the kept terms; ``dropped``: terms with no training signal."""

    terms: list[Term]
    coef: np.ndarray
    dropped: list[str] = field(default_factory=list)
    n_train: int = 0

    def as_dict(self) -> dict:
        """JSON-safe: every kept term with its resource tags and coefficient."""
        return {
            "n_train": self.n_train,
            "dropped": list(self.dropped),
            "terms": [
                {
                    "name": t.name,
                    "resource": t.resource,
                    "group": t.group,
                    "dtype": t.dtype,
                    "unit": t.unit,
                    "ms_per_unit": float(c),
                }
                for t, c in zip(self.terms, self.coef, strict=True)
            ],
        }


class OpClassCell:
    """The model's columns for every row of one cell; ``fit`` on a subset of rows, ``predict`` any rows."""

    def __init__(
        self, cell: pd.DataFrame, tables: list[OpTable], launch: str = DEFAULT_LAUNCH, fine: bool | None = None
    ) -> None:
        dtype = str(cell["dtype"].iloc[0]) if "dtype" in cell else "fp32"
        if dtype not in TRAFFIC_DTYPES:
            raise UsageError(f"no traffic model for dtype {dtype!r}; valid: {', '.join(TRAFFIC_DTYPES)}")
        device = str(cell["device"].iloc[0]) if "device" in cell else "cuda"
        batches, per = row_batches(cell)  # a per-image cell (mixed batches): columns per image, like its latency
        self.fine = len(cell) >= FINE_MIN_MODELS if fine is None else fine
        self.classes = class_set(self.fine)
        self.terms = terms_for(dtype, launch, device, self.classes)
        feats = [features(t, int(b), dtype, launch, self.fine) for t, b in zip(tables, batches, strict=True)]
        self.x = np.array([[f.get(t.name, 0.0) for t in self.terms] for f in feats], float) / per[:, None]
        self.class_ops = (
            np.array([[t.count[model_classes(t, self.fine) == c].sum() for c in self.classes] for t in tables], float)
            / per[:, None]
        )
        self.class_macs = np.array(  # to share a merged compute term among its classes
            [[(t.macs * t.count)[model_classes(t, self.fine) == c].sum() for c in self.classes] for t in tables], float
        )
        self.t = cell["latency_ms"].to_numpy(float)
        self.launch = launch

    def fit(self, mask: np.ndarray | None = None) -> OpClassFit:
        """NNLS on the rows in ``mask`` (all by default), relative-error weights; TooFewModels if n < coefficients."""
        from scipy.optimize import nnls

        m = np.ones(len(self.t), bool) if mask is None else np.asarray(mask, bool)
        x, y = self.x[m], self.t[m]
        keep = np.any(x != 0, axis=0)
        n, k = len(y), int(keep.sum())
        if n < k:
            raise TooFewModels(f"the per-op-class model has {k} coefficients but only {n} models to fit them on")
        xs = x[:, keep] / y[:, None]  # relative errors: (t̂ − t)/t = Σ β_j x_j / t − 1
        scale = np.abs(xs).max(axis=0)
        beta, _ = nnls(xs / scale, np.ones(n))
        terms = [t for t, k_ in zip(self.terms, keep, strict=True) if k_]
        dropped = [t.name for t, k_ in zip(self.terms, keep, strict=True) if not k_]
        return OpClassFit(terms, beta / scale, dropped, n)

    def _cols(self, fit: OpClassFit) -> np.ndarray:
        idx = [self.terms.index(t) for t in fit.terms]
        return self.x[:, idx]

    def predict(self, fit: OpClassFit, mask: np.ndarray | None = None) -> np.ndarray:
        m = slice(None) if mask is None else mask
        return self._cols(fit)[m] @ fit.coef

    def parts(self, fit: OpClassFit) -> pd.DataFrame:
        """Per model (rows) and term (columns): the ms the fit puts there."""
        return pd.DataFrame(self._cols(fit) * fit.coef, columns=[t.name for t in fit.terms])


def breakdown(oc: OpClassCell, fit: OpClassFit, i: int) -> dict:
    """Model ``i``'s predicted time split by resource and by op class (ms; a launch group's time goes to its
    classes in proportion to their ops), and its dominant classes."""
    by_resource = dict.fromkeys(RESOURCES, 0.0)
    by_class = {c: {"compute": 0.0, "traffic": 0.0, "launch": 0.0} for c in oc.classes}
    groups = LAUNCH_GROUPS[oc.launch]
    for t, c in zip(fit.terms, fit.coef, strict=True):
        v = float(c * oc.x[i, oc.terms.index(t)])
        by_resource[t.resource] += v
        if t.resource == "traffic":
            by_class[t.group]["traffic"] += v
        elif t.resource == "compute":  # a merged class (conv_dwg) shares its time by MACs
            ks = [k for k, cls in enumerate(oc.classes) if COARSE.get(cls, cls) == t.group]
            macs = oc.class_macs[i, ks]
            for k, m in zip(ks, macs, strict=True):
                by_class[oc.classes[k]]["compute"] += v * m / macs.sum() if macs.sum() > 0 else 0.0
        elif t.resource == "launch":
            for k, cls in enumerate(oc.classes):
                if groups[cls] == t.group:
                    by_class[cls]["launch"] += float(c * oc.class_ops[i, k])
    total = sum(by_resource.values())
    cls_total = {c: sum(d.values()) for c, d in by_class.items()}
    dominant = [c for c in sorted(cls_total, key=cls_total.get, reverse=True) if cls_total[c] > 0][:3]
    return {
        "predicted_ms": total,
        "ms_by_resource": by_resource,
        "ms_by_class": {c: d for c, d in by_class.items() if cls_total[c] > 0},
        "dominant": [
            {"class": c, "label": LABELS[c], "share": cls_total[c] / total if total > 0 else None} for c in dominant
        ],
    }


def summarize(oc: OpClassCell, fit: OpClassFit, models: list[str], resolutions: list[int] | None = None) -> dict:
    """JSON-safe block of a cell: the fit, median shares by resource and class, per model breakdown and ratio."""
    pred = oc.predict(fit)
    per_model = []
    for i, name in enumerate(models):
        b = breakdown(oc, fit, i)
        per_model.append(
            {
                "model": name,
                "resolution": None if resolutions is None else resolutions[i],
                "measured_ms": float(oc.t[i]),
                "ratio": float(oc.t[i] / pred[i]) if pred[i] > 0 else None,
                **b,
            }
        )
    share_res = {
        r: float(np.median([p["ms_by_resource"][r] / p["predicted_ms"] for p in per_model if p["predicted_ms"] > 0]))
        for r in RESOURCES
    }
    cls_share: dict[str, float] = {}
    for c in oc.classes:
        vals = [
            sum(p["ms_by_class"].get(c, {}).values()) / p["predicted_ms"] for p in per_model if p["predicted_ms"] > 0
        ]
        if any(v > 0 for v in vals):
            cls_share[c] = float(np.median(vals))
    rel = (pred - oc.t) / oc.t
    return {
        "formula": FORMULA,
        "launch_groups": oc.launch,
        "classes": "fine" if oc.fine else "coarse (depthwise and grouped convs as one class)",
        "fit": fit.as_dict(),
        "share_median_by_resource": share_res,
        "share_median_by_class": dict(sorted(cls_share.items(), key=lambda kv: -kv[1])),
        "rms_rel_resid": float(np.sqrt(np.mean(rel**2))),
        "per_model": per_model,
    }
