"""The host side: everything that talks to a toolchain, an emulator or a board, and the command line.

It may import the compiler (`codegen`); the compiler never imports it. `cli` is the thin layer that parses
arguments and dispatches to the commands: `build` (compile with arm-none-eabi-gcc, measure in QEMU, report),
`run`, `evaluate`, `monitor`, `flash`, `plan_command`; `datasets` loads evaluation data; `host_runtime` and
`host_model` build the C kernels and generated models for the host (ctypes) so tests can call them;
`tflm_arena` asks TFLite Micro for its arena size; `link/` speaks the firmware protocol to a board or an
emulator.
"""
