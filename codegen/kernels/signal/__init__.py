"""TFLite Micro's signal-library custom operators (CUSTOM:Signal*), the audio front end's kernels."""
