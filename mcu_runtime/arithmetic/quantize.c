#include "quantize.h"

#include "fixedpoint_s32.h"

/* Round half away from zero in float only (TfLiteRound on a float). Adding 0.5f and flooring is wrong
 * for 0.49999997f (the sum rounds up to 1.0f), so compare the exact fractional part instead. */
static inline float round_half_away_f32(float x)
{
    const float ax = x < 0.0f ? -x : x;
    if (!(ax < 8388608.0f)) {
        return x; /* >= 2^23 is already integral; also passes infinities and NaN through */
    }
    float t = (float)(int32_t)ax;
    if (ax - t >= 0.5f) { /* exact: a float's fractional part is itself a float */
        t += 1.0f;
    }
    return x < 0.0f ? -t : t;
}

void quantize_f32_s8(const quantize_f32_s8_params_t *p, const float *input, int8_t *output)
{
    const float scale = p->scale;
    const int32_t zp = p->zero_point;
    for (int32_t i = 0; i < p->size; ++i) {
        float r = round_half_away_f32(input[i] / scale);
        /* TFLM converts r to int32 unchecked: undefined beyond +-2^31 and for NaN. We saturate instead
         * and map NaN to the zero point (as Arm's saturating conversion does); in range this is exact. */
        if (r != r) {
            r = 0.0f;
        }
        r = r > 512.0f ? 512.0f : (r < -512.0f ? -512.0f : r); /* any |r| > 255 clamps alike */
        output[i] = (int8_t)clamp_s32((int32_t)r + zp, -128, 127);
    }
}

void requantize_s8(const requantize_s8_params_t *p, const int8_t *input, int8_t *output)
{
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t x = (int32_t)input[i] - p->input_zero_point;
        const int32_t scaled = multiply_by_quantized_multiplier(x, p->multiplier, p->shift);
        /* Add through uint32: at extreme scale ratios TFLite's int32 sum wraps; so must ours, without UB. */
        const int32_t y = (int32_t)((uint32_t)scaled + (uint32_t)p->output_zero_point);
        output[i] = (int8_t)clamp_s32(y, -128, 127);
    }
}

void dequantize_s8_f32(const dequantize_s8_f32_params_t *p, const int8_t *input, float *output)
{
    const double scale = (double)p->scale;
    for (int32_t i = 0; i < p->size; ++i) {
        output[i] = (float)(scale * (double)((int32_t)input[i] - p->zero_point));
    }
}
