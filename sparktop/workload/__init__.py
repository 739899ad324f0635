"""The built-in load generator, the arena presets and adapters for external benchmark tools."""
