"""Counting: MACs (fvcore), params, activations (RegNet definition) and all-op activations of a forward pass.

>>> from profiler.counting import count_model
>>> c = count_model("resnet50")
>>> (c.macs, c.params, c.acts)
(4089184256, 25557032, 11315688)
"""

from profiler.counting.api import check_resolution, check_runs, count, count_model
from profiler.counting.types import CountingError, Counts, LayerCount

__all__ = ["CountingError", "Counts", "LayerCount", "check_resolution", "check_runs", "count", "count_model"]
