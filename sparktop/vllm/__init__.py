"""Reading vLLM: the exposition parser, the version-tolerant schema and the scraper."""
