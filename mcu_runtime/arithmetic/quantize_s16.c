#include "quantize_s16.h"

#include "fixedpoint_s32.h"

/* TfLiteRound on a float, in float only: compare the exact fractional part (see quantize.c). */
static inline float round_away_f32(float x)
{
    const float ax = x < 0.0f ? -x : x;
    if (!(ax < 8388608.0f)) {
        return x;
    }
    float t = (float)(int32_t)ax;
    if (ax - t >= 0.5f) {
        t += 1.0f;
    }
    return x < 0.0f ? -t : t;
}

void quantize_f32_s16(const quantize_f32_s8_params_t *p, const float *input, int16_t *output)
{
    for (int32_t i = 0; i < p->size; ++i) {
        float r = round_away_f32(input[i] / p->scale);
        if (r != r) {
            r = 0.0f; /* NaN: TFLM's cast is undefined; the zero point, like quantize_f32_s8 */
        }
        r = r > 131072.0f ? 131072.0f : (r < -131072.0f ? -131072.0f : r); /* any |r| > 65535 clamps alike */
        output[i] = (int16_t)clamp_s32((int32_t)r + p->zero_point, INT16_MIN, INT16_MAX);
    }
}

void dequantize_s16_f32(const dequantize_s8_f32_params_t *p, const int16_t *input, float *output)
{
    const double scale = (double)p->scale;
    for (int32_t i = 0; i < p->size; ++i) {
        output[i] = (float)(scale * (double)((int32_t)input[i] - p->zero_point));
    }
}

/* Every sum and difference goes through uint32: TFLite's int32 arithmetic wraps at extreme values. */
static inline int32_t requantize_one(const requantize_s8_params_t *p, int32_t x, int32_t lo, int32_t hi)
{
    const int32_t v = (int32_t)((uint32_t)x - (uint32_t)p->input_zero_point);
    const int32_t scaled = multiply_by_quantized_multiplier(v, p->multiplier, p->shift);
    return clamp_s32((int32_t)((uint32_t)scaled + (uint32_t)p->output_zero_point), lo, hi);
}

void requantize_s8_s16(const requantize_s8_params_t *p, const int8_t *input, int16_t *output)
{
    for (int32_t i = 0; i < p->size; ++i) {
        output[i] = (int16_t)requantize_one(p, input[i], INT16_MIN, INT16_MAX);
    }
}

void requantize_s8_s32(const requantize_s8_params_t *p, const int8_t *input, int32_t *output)
{
    for (int32_t i = 0; i < p->size; ++i) {
        output[i] = requantize_one(p, input[i], INT32_MIN, INT32_MAX);
    }
}

void requantize_s16_s8(const requantize_s8_params_t *p, const int16_t *input, int8_t *output)
{
    for (int32_t i = 0; i < p->size; ++i) {
        output[i] = (int8_t)requantize_one(p, input[i], INT8_MIN, INT8_MAX);
    }
}

void requantize_s16_s16(const requantize_s8_params_t *p, const int16_t *input, int16_t *output)
{
    for (int32_t i = 0; i < p->size; ++i) {
        output[i] = (int16_t)requantize_one(p, input[i], INT16_MIN, INT16_MAX);
    }
}

void requantize_s16_s32(const requantize_s8_params_t *p, const int16_t *input, int32_t *output)
{
    for (int32_t i = 0; i < p->size; ++i) {
        output[i] = requantize_one(p, input[i], INT32_MIN, INT32_MAX);
    }
}

void requantize_s32_s8(const requantize_s8_params_t *p, const int32_t *input, int8_t *output)
{
    for (int32_t i = 0; i < p->size; ++i) {
        output[i] = (int8_t)requantize_one(p, input[i], INT8_MIN, INT8_MAX);
    }
}

void requantize_s32_s16(const requantize_s8_params_t *p, const int32_t *input, int16_t *output)
{
    for (int32_t i = 0; i < p->size; ++i) {
        output[i] = (int16_t)requantize_one(p, input[i], INT16_MIN, INT16_MAX);
    }
}
