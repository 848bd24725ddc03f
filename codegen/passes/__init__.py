"""Graph and call-list passes. In: an int8 `ir.Graph` from the frontend. Out: the list of kernel calls
(`kernels.base.KernelCall`) with their parameters, rewritten for the target.

`fuse_pad` folds explicit PAD ops into the convolution that reads them; `lowering` turns each operator into
kernel calls through the kernel-family registry; `specialize` swaps in fast (DSP) variants where the cost
model says they pay; `depthwise_in_place` and `residual_in_place` let buffers share bytes to shrink the arena.
May import: `codegen.ir`, `codegen.errors`, `codegen.kernels`, `codegen.targets`, `codegen.memory` and
`codegen.schedule` (the in-place passes ask the planner and the schedule what they save).
"""
