"""Sequence families: operators that keep a state tensor from one invoke to the next (SVDF)."""
