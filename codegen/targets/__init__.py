"""What the code runs on. `boards`: the board catalogue (`boards/*/board.json`: memories, core, QEMU twin,
probe); `core`: which kernel variants a core can run (DSP extension or not). May import: `codegen.errors`
and `codegen.paths` only, so every stage can use it.
"""
