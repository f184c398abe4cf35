"""Synthetic result tables with a known generating law, for the analysis tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def synth(law: str = "claim", n_fam: int = 6, per: int = 8, noise: float = 0.03, seed: int = 1) -> pd.DataFrame:
    """Families with different A/√F ratios; t = 2 + 0.5√F + 3A (claim) or 1 + 8F (flops), × log-normal noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for f in range(n_fam):
        ratio = [0.5, 1, 2, 4, 8, 16][f % 6]  # M activations per √GMAC: RegNet-like … EfficientNet-like
        for i in range(per):
            f_g = np.exp(rng.uniform(np.log(0.2), np.log(30)))
            a_m = ratio * np.sqrt(f_g) * np.exp(rng.normal(0, 0.15))
            t = 2 + 0.5 * np.sqrt(f_g) + 3 * a_m if law == "claim" else 1 + 8 * f_g
            rows.append(
                {
                    "model": f"f{f}_m{i}",
                    "family": f"fam{f}",
                    "macs": f_g * 1e9,
                    "params": 4e6 * f_g * np.exp(rng.normal(0, 0.3)),
                    "acts": a_m * 1e6,
                    "latency_ms": t * np.exp(rng.normal(0, noise)),
                }
            )
    return pd.DataFrame(rows)
