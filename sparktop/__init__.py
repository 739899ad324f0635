"""sparktop: watch vLLM serving benchmarks live on a DGX Spark (or its simulated twin)."""

__version__ = "0.1.0"
