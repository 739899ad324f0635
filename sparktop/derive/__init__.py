"""Derivation over time: rates, windowed quantiles and the figures every view shows. Pure code."""
