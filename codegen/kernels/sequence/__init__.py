"""Sequence families: operators that keep state tensors from one invoke to the next (SVDF, LSTM)."""
