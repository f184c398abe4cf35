"""The GPU datasheet table: name matching (nvidia-smi spellings and typed names), a few entries, bad names."""

from __future__ import annotations

import re

import pytest

from profiler.core.errors import UsageError
from profiler.hardware.datasheets import TABLE, lookup, match
from profiler.hardware.peaks import find_peak


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("NVIDIA GeForce RTX 3090", "rtx3090"),
        ("NVIDIA GeForce RTX 4090", "rtx4090"),
        ("NVIDIA GeForce RTX 5090", "rtx5090"),
        ("NVIDIA H100 80GB HBM3", "h100-sxm"),
        ("NVIDIA H100 PCIe", "h100-pcie"),
        ("NVIDIA H200", "h200"),
        ("Tesla V100-SXM2-16GB", "v100-sxm2"),
        ("Tesla V100-PCIE-32GB", "v100-pcie"),
        ("NVIDIA A100-SXM4-80GB", "a100-80gb-sxm"),
        ("NVIDIA A100-SXM4-40GB", "a100-40gb-sxm"),
        ("NVIDIA A100 80GB PCIe", "a100-80gb-pcie"),
        ("NVIDIA A100-PCIE-40GB", "a100-40gb-pcie"),
        ("Tesla T4", "t4"),
        ("NVIDIA L4", "l4"),
        ("NVIDIA L40S", "l40s"),
        ("NVIDIA A10", "a10"),
        ("NVIDIA RTX PRO 6000 Blackwell Workstation Edition", "rtx-pro-6000"),
        ("NVIDIA RTX PRO 6000 Blackwell Max-Q Workstation Edition", "rtx-pro-6000-maxq"),
        # as users type them
        ("rtx3090", "rtx3090"),
        ("3090", "rtx3090"),
        ("RTX 4090", "rtx4090"),
        ("h100-sxm", "h100-sxm"),
        ("h100 pcie", "h100-pcie"),
        ("H200", "h200"),
        ("l4", "l4"),
        ("rtx-pro-6000-maxq", "rtx-pro-6000-maxq"),
    ],
)
def test_names_match(name: str, key: str) -> None:
    assert lookup(name).key == key


@pytest.mark.parametrize(
    "name",
    [
        "NVIDIA GeForce RTX 3090 Ti",
        "NVIDIA H100 NVL",
        "NVIDIA A10G",
        "NVIDIA RTX 6000 Ada Generation",
        "NVIDIA GeForce RTX 4090 Laptop GPU",
        "Tesla V100S-PCIE-32GB",
        "cpu",
        "",
        None,
    ],
)
def test_other_gpus_are_not_mistaken_for_a_known_one(name: str | None) -> None:
    assert match(name) is None  # a 3090 Ti or an H100 NVL has other figures: better no answer than a wrong one


def test_unknown_name_lists_the_closest() -> None:
    with pytest.raises(UsageError, match=r"'rtx 4080' is not in the datasheet table; closest: rtx4090") as exc:
        lookup("rtx 4080")
    assert "\n" not in str(exc.value)


def test_geforce_fp16_peak_is_the_fp32_accumulate_one() -> None:
    rtx3090, rtx4090 = lookup("rtx3090"), lookup("rtx4090")
    assert (rtx3090.peak_tflops("amp"), rtx3090.bandwidth_gbs, rtx3090.sm_count) == (71.0, 936.0, 82)
    assert (rtx4090.peak_tflops("fp16"), rtx4090.bandwidth_gbs, rtx4090.sm_count) == (165.2, 1008.0, 128)
    h100 = lookup("NVIDIA H100 80GB HBM3")
    assert (h100.peak_tflops("fp32"), h100.peak_tflops("tf32"), h100.peak_tflops("bf16")) == (67.0, 494.7, 989.4)


def test_missing_dtype_peak_is_a_usage_error_naming_it() -> None:
    with pytest.raises(UsageError, match="V100 SXM2 has no bf16 peak"):
        lookup("v100").peak_tflops("bf16")
    with pytest.raises(UsageError, match="T4 has no tf32 peak"):
        lookup("t4").peak_tflops("tf32")
    with pytest.raises(UsageError, match="no peak for dtype 'int8'"):
        lookup("t4").peak_tflops("int8")


def test_every_entry_is_sourced_and_sane() -> None:
    assert len({d.key for d in TABLE}) == len(TABLE)
    for d in TABLE:
        assert re.search(r"\((19|20)\d\d\)", d.source), d.key  # a document and its year
        assert d.sm_count > 0 and d.bandwidth_gbs > 0
        assert d.fp16_tflops is None or d.fp16_tflops > d.fp32_tflops  # tensor cores beat the FP32 pipes
        assert match(d.key) is d and match(d.name) is d


def test_report_peaks_delegate_to_the_datasheet_table() -> None:
    peak = find_peak("NVIDIA GeForce RTX 3090")
    assert (peak.tflops("fp16"), peak.tflops("fp32"), peak.bandwidth_tbs) == (71.0, 35.6, 0.936)
    v100 = find_peak("Tesla V100-SXM2-16GB")  # no TF32 on Volta: the report's roofline uses FP32 in its place
    assert v100.tflops("tf32") == v100.tflops("fp32") == 15.7
