"""Data movement families: PAD, RESHAPE, CONCATENATION, TRANSPOSE, window copies and streamed input rows."""
