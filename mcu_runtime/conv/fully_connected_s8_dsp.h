/* FULLY_CONNECTED, int8, for cores with the DSP extension (SMLAD): bit-identical to fully_connected_s8 and
 * fully_connected_per_channel_s8, with constants re-laid out at generation time by
 * codegen/kernels/fully_connected_dsp.py (which documents the layouts):
 *
 * - filter: output rows in pairs (r0, r1). A word holds, for input columns j and j + 2, the bytes
 *   [r0[j], c[j], r0[j+2], c[j+2]] with c = r1 - (r0 < 0): read as two int16 lanes it is r0 + 256 * r1
 *   exactly. One SMLAD of that word with two sign-extended inputs accumulates r0.x + 256 * r1.x, one more
 *   SMLAD of the sign-extended word accumulates r0.x: three instructions for four MACs. Blocks of three
 *   pairs (then single pairs) run over the input in chunks of chunk_words words; each chunk starts with
 *   the accumulators' initial values, {b0, b0 + 256 * b1} (mod 2^32) per pair in the first chunk and zeros
 *   after. The biases have the input offset folded in (bias + input_offset * sum(row) + n * filter_offset *
 *   input_offset), so the inner loop multiplies raw inputs; filter_offset * sum(x) is added at the end. The
 *   generator sizes chunks so that |b1 + r1.x| < 2^23 over a chunk for every input: the accumulators'
 *   difference, 256 * that mod 2^32, then gives it exactly.
 * - requant: {multiplier, rsh = -1 - shift, nudge_lo, nudge_hi} once (per tensor) or per output row.
 * - fixups: n_fixups {row, column}: weights stored one above their value (a -128 that cannot be paired),
 *   whose input the kernel subtracts.
 */
#ifndef MCU_RUNTIME_FULLY_CONNECTED_S8_DSP_H
#define MCU_RUNTIME_FULLY_CONNECTED_S8_DSP_H

#include <stdint.h>

typedef struct {
    int32_t batches;
    int32_t in_features;
    int32_t out_features;
    int32_t filter_offset;  /* -filter zero point (per-tensor weights); 0 for per-channel */
    int32_t output_offset;  /* output zero point */
    int32_t act_min;
    int32_t act_max;
    int32_t requant_stride; /* 0: one requant entry for every output; 4: one entry per output row */
    int32_t chunk_words;    /* input words per chunk; in_features / 4 or more: a single chunk */
    int32_t n_fixups;
    /* Groups whose outputs the assembly requantizes itself, from row 0 (the generator checks the case). */
    int32_t fast_blocks;
    int32_t fast_singles;
    int32_t nudge_hi; /* 2^(rsh-1) + output_offset * 2^rsh for those groups */
} fully_connected_s8_dsp_params_t;

void fully_connected_s8_dsp(const fully_connected_s8_dsp_params_t *p, const int8_t *input, const int32_t *filter,
                            const int32_t *requant, const int32_t *fixups, int8_t *output);

#endif
