"""archprof model zoo: CNN families as frozen specs, one registry, design-space samplers.

>>> from models import get_model, list_models
>>> "resnet50" in list_models("resnet*")
True
"""

from models.registry import (
    ModelInfo,
    Spec,
    check_resolution,
    get_model,
    get_spec,
    list_models,
    min_resolution,
    model_info,
    replace_spec,
    resolve_model,
    spec_from_dict,
    spec_hash,
    spec_to_dict,
)
from models.spaces import SPACES, sample

__all__ = [
    "SPACES",
    "ModelInfo",
    "Spec",
    "check_resolution",
    "get_model",
    "get_spec",
    "list_models",
    "min_resolution",
    "model_info",
    "replace_spec",
    "resolve_model",
    "sample",
    "spec_from_dict",
    "spec_hash",
    "spec_to_dict",
]
