"""Imports every family module so that each registers its named variants."""

from models import (  # noqa: F401
    anynet,
    densenet,
    efficientnet,
    inception,
    mobilenet,
    regnet,
    resnet,
    shufflenet,
)
