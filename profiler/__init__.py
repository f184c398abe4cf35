"""archprof's profiler: counts, timing, sweeps, analysis, reports and CI checks for any ``nn.Module``."""

__version__ = "0.1.0"
