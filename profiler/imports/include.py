"""Which rows of a public table to import: ``--include`` patterns, and the named rule ``cnn-seed-families``.

``--include`` takes comma-separated items; each is an fnmatch pattern on timm's model name (``resnet*``), a name
preceded by ``!`` to exclude (``!*_clip*``), or the name of a shipped rule. A model is imported when it matches
at least one include pattern and no exclude pattern (no include pattern at all: everything not excluded).

``cnn-seed-families`` — the CNN families archprof is about (its registry's seed families, ShuffleNet aside, which
timm does not have): ResNet, ResNeXt, SE-ResNet, SE-ResNeXt, DenseNet, MobileNet v1, MobileNet v2, EfficientNet,
RegNetX, RegNetY, Inception. The rule: the model's family by the ``timm:`` source's rule
(``models.external.timm_family``: leading letters, a ``vN`` version kept, ``tf_``/``legacy_``/… prefixes dropped)
is one of ``SEED_FAMILIES``, and its name matches none of ``SEED_EXCLUDE``:

- ``inception_next_*``: a MetaFormer (ConvNeXt-style token mixer) that only shares the name;
- ``*_clip*``: CLIP ResNets, whose head is an attention pool (a transformer layer), not the family's;
- ``*_gn``: group-norm variants (a different normalisation, another kernel mix);
- ``*_evos``, ``*_frn``: EvoNorm / filter-response-norm variants (likewise);
- ``*_pruned``: channel-pruned variants with irregular widths (kept out so a family means one design rule);
- ``*_cc_*``: CondConv EfficientNets (per-input mixtures of expert kernels, another kind of convolution).

Variants that keep the family's design (``resnet50d``, ``resnet50t``, ``seresnext26d_32x4d``, ``tf_efficientnet_b0``,
``efficientnet_lite0``, ``regnety_032``, ``mobilenetv2_110d``, ``inception_resnet_v2``) stay in; families with
another design rule (``resnetv2``, ``resnetrs``, ``resnetaa``, ``resnetblur``, ``efficientnetv2``, ``wide``,
``densenetblur``, ``seresnextaa``) are out because their family name differs.
"""

from __future__ import annotations

import fnmatch

from profiler.core.errors import UsageError

SEED_FAMILIES = (
    "resnet",
    "resnext",
    "seresnet",
    "seresnext",
    "densenet",
    "mobilenetv1",
    "mobilenetv2",
    "efficientnet",
    "regnetx",
    "regnety",
    "inception",
)
SEED_EXCLUDE = ("inception_next_*", "*_clip*", "*_gn", "*_evos", "*_frn", "*_pruned", "*_cc_*")
RULES = {"cnn-seed-families": "the CNN seed families (profiler.imports.include module doc)"}


class Include:
    """A parsed ``--include`` value; ``accepts(name)`` says whether a timm model name is imported."""

    def __init__(self, text: str | None) -> None:
        self.text = text or ""
        self.patterns: list[str] = []
        self.excludes: list[str] = []
        self.rules: list[str] = []
        for item in (s.strip() for s in self.text.split(",")):
            if not item:
                continue
            if item in RULES:
                self.rules.append(item)
            elif item.startswith("!"):
                self.excludes.append(item[1:])
            elif item.replace("-", "").isalpha() and "-" in item:
                raise UsageError(
                    f"unknown include rule {item!r}; valid rules: {', '.join(RULES)} "
                    "(or fnmatch patterns on timm names, e.g. 'resnet*,!*_gn')"
                )
            else:
                self.patterns.append(item)

    def accepts(self, name: str) -> bool:
        """True when ``name`` matches an include pattern or rule and no exclude pattern."""
        if any(fnmatch.fnmatchcase(name, p) for p in self.excludes):
            return False
        if not self.patterns and not self.rules:
            return True
        if any(fnmatch.fnmatchcase(name, p) for p in self.patterns):
            return True
        return "cnn-seed-families" in self.rules and seed_family(name)

    def describe(self) -> str:
        """The rule in words, for meta.json and the run's README."""
        if not self.text:
            return "every row of the table"
        parts = [
            f"{r} (profiler/imports/include.py): families {', '.join(SEED_FAMILIES)} by the timm: family "
            f"rule, excluding {', '.join(SEED_EXCLUDE)}"
            for r in self.rules
        ]
        parts += [f"fnmatch {p}" for p in self.patterns]
        parts += [f"not {p}" for p in self.excludes]
        return "; ".join(parts)


def seed_family(name: str) -> bool:
    """Whether timm model ``name`` belongs to a CNN seed family (the rule in the module doc)."""
    from models.external import timm_family

    if any(fnmatch.fnmatchcase(name, p) for p in SEED_EXCLUDE):
        return False
    return timm_family(name) in SEED_FAMILIES
