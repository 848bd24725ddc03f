"""Execution schedules. In: the lowered calls of a graph and an SRAM budget. Out: a `search.Schedule`:
per-layer, or the first stage run patch by patch (recomputed halos, cached bands, blocks in bands, streamed
input rows), rewritten into the call list that executes it.

`patch_schedule` builds patch and band call lists, `se_two_pass` the two-pass patches past a squeeze-and-excite
block, `band_segments` the blocks in bands, `search` weighs the
candidates under the budget and ranks them with `cost_model` (fitted to emulator counts, `cost_model.json`).
May import: `codegen.ir`, `codegen.errors`, `codegen.kernels`, `codegen.memory` and `codegen.passes`
in-place helpers.
"""
