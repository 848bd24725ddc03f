#include "conv2d_s8.h"

#include "conv_window.h"
#include "fixedpoint_s32.h"

/* sum (in[i] + input_offset) * w[i]; both runs are contiguous. */
static int32_t conv_dot_s8(const int8_t *in, const int8_t *w, int32_t n, int32_t input_offset)
{
    int32_t acc = 0;
    for (int32_t i = 0; i < n; ++i) {
        acc += ((int32_t)in[i] + input_offset) * (int32_t)w[i];
    }
    return acc;
}

void conv2d_s8(const conv2d_s8_params_t *p, const int8_t *input, const int8_t *filter, const int32_t *bias,
               const int32_t *mult, const int32_t *shift, int8_t *output)
{
    const int32_t in_c = p->in_c;
    const int32_t in_row = p->in_w * in_c;
    const int32_t filter_row = p->kernel_w * in_c;
    const int32_t filter_size = p->kernel_h * filter_row;
    int8_t *out = output;

    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_h;
        int32_t ky_lo, ky_hi;
        conv_tap_range(iy0, p->in_h, p->kernel_h, p->dilation_h, &ky_lo, &ky_hi);

        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            const int32_t ix0 = ox * p->stride_w - p->pad_w;
            int32_t kx_lo, kx_hi;
            conv_tap_range(ix0, p->in_w, p->kernel_w, p->dilation_w, &kx_lo, &kx_hi);

            /* With dilation_w == 1 the valid taps of one filter row are a single contiguous run in both
             * the input and the OHWI filter; otherwise one run of in_c per tap. */
            int32_t runs, run_len;
            if (p->dilation_w == 1) {
                runs = kx_hi > kx_lo ? 1 : 0;
                run_len = (kx_hi - kx_lo) * in_c;
            } else {
                runs = kx_hi - kx_lo;
                run_len = in_c;
            }
            const int32_t in_step = p->dilation_w * in_c;
            /* Offsets, not pointers: with an empty window they may lie outside the arrays. */
            const int32_t in_px = (ix0 + kx_lo * p->dilation_w) * in_c;
            const int8_t *w_px = filter + kx_lo * in_c;

            for (int32_t oc = 0; oc < p->out_c; ++oc) {
                const int8_t *w_oc = w_px + oc * filter_size;
                int32_t acc = bias[oc];
                for (int32_t ky = ky_lo; ky < ky_hi; ++ky) {
                    const int8_t *in_r = input + (in_px + (iy0 + ky * p->dilation_h) * in_row);
                    const int8_t *w_r = w_oc + ky * filter_row;
                    for (int32_t r = 0; r < runs; ++r) {
                        acc += conv_dot_s8(in_r + r * in_step, w_r + r * in_c, run_len, p->input_offset);
                    }
                }
                acc = multiply_by_quantized_multiplier(acc, mult[oc], shift[oc]) + p->output_offset;
                *out++ = (int8_t)clamp_s32(acc, p->act_min, p->act_max);
            }
        }
    }
}
