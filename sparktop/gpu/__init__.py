"""GPU readings through NVML and the unified-memory breakdown of GB10-like devices."""
