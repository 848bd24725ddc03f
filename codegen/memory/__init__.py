"""Static memory planning. In: a call list with every buffer's size and lifetime. Out: `planner.MemoryPlan`,
one arena with an offset per buffer (first fit, reshape aliases, in-place element-wise ops), and `plot`, the
per-layer memory profile as a PNG. May import: `codegen.ir` and `codegen.kernels.base`.
"""
