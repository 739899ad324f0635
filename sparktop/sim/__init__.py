"""The simulated Spark: a vLLM-compatible server on a modelled GB10."""
