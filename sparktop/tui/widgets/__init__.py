"""Thin widgets: each renders part of a frame and nothing else."""
