"""Reductions: MEAN and pooling (average, max)."""
