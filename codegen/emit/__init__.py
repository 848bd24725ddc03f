"""Code generation. In: a compiled model (calls, schedule, memory plan). Out: C sources (`c_source`, with
repeated runs of calls folded into loops by `loops`), the firmware tree a Makefile builds (`firmware_tree`),
a PlatformIO project (`platformio`), and the flash/RAM figures read back from the linked image
(`firmware_size`). May import every compiler stage; never `tools`.
"""
