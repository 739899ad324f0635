"""Test helpers: stand-ins for what cannot exist here (NVML without a GPU) and real-format files."""
