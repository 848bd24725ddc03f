"""TFLite Micro's signal library (the audio front end's custom operators `Signal*`), bit-exact with TFLM."""
