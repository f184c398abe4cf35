"""timm models of many architectures count with both methods, with equal MACs (issue #24, item 3).

fvcore (jit trace of the real forward) is the reference; the dispatch pass on meta tensors is what sweeps use. Both
must agree on MACs, params and acts, and neither may leave an op that can carry MACs uncounted. A ViT (timm calls
the fused ``scaled_dot_product_attention``, counted as its two matmuls) and a ConvNeXt run by default; the rest
are slow (3-10 s each on the busy 2-core VM).
"""

from __future__ import annotations

import pytest

from profiler.counting import count_model
from profiler.counting.macs import MAC_OP_PATTERN

SLOW = [  # 24 CNNs of 22 architectures
    "resnet18",
    "resnet50d",
    "seresnext26d_32x4d",
    "regnetx_002",
    "regnety_002",
    "efficientnet_b0",
    "tf_efficientnet_lite0",
    "mobilenetv2_100",
    "mobilenetv3_large_100",
    "mnasnet_100",
    "densenet121",
    "dla34",
    "dpn68",
    "ghostnet_100",
    "inception_v3",
    "resnest14d",
    "rexnet_100",
    "lcnet_050",
    "mixnet_s",
    "hrnet_w18_small",
    "cspresnet50",
    "res2net50_14w_8s",
    "repvgg_a0",
    "fbnetc_100",
]
MODELS = ["vit_tiny_patch16_224", "convnext_atto", *(pytest.param(n, marks=pytest.mark.slow) for n in SLOW)]


@pytest.mark.parametrize("name", MODELS)
def test_timm_model_counts_equal_by_both_methods(timm_lib, name: str) -> None:
    by_torch = count_model(f"timm:{name}", method="torch")
    by_fvcore = count_model(f"timm:{name}", method="fvcore")
    assert by_torch.macs == by_fvcore.macs > 0
    assert (by_torch.params, by_torch.acts) == (by_fvcore.params, by_fvcore.acts)
    for c in (by_torch, by_fvcore):
        assert not [op for op in c.uncounted_ops if MAC_OP_PATTERN.search(op)], c.uncounted_ops


@pytest.mark.slow
def test_vit_attention_macs_are_its_two_matmuls(timm_lib) -> None:
    # vit_tiny at 224: 12 blocks, 3 heads of 64, 197 tokens; Q·Kᵀ and attn·V each 3·197·197·64 MACs per block.
    import models

    def count(fused: bool) -> int:
        timm_lib.layers.set_fused_attn(fused)
        try:
            assert models.get_spec("timm:vit_tiny_patch16_224").build().blocks[0].attn.fused_attn is fused
            return count_model("timm:vit_tiny_patch16_224", method="fvcore").macs
        finally:
            timm_lib.layers.set_fused_attn(True)

    assert count(True) == count(False)  # fused op (our rule) = explicit matmuls (fvcore's own rules)
    blocks_attention = 12 * 2 * 3 * 197 * 197 * 64
    assert blocks_attention == 178_831_872
    no_attention = count_model("timm:vit_tiny_patch16_224", method="torch").macs - blocks_attention
    assert no_attention == 1_074_851_328  # fvcore's count before the attention rule: the linear layers only
