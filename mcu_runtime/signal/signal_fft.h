/* TFLM's signal-library FFT operators.
 *
 * signal_fft_auto_scale_s16: shifts the block left by as many bits as its largest magnitude leaves free
 * (TFLM's MaxAbs16 and MostSignificantBit32) and writes that count to *scale_bits.
 *
 * signal_rfft_s16: the real FFT of each row (input_length samples zero-padded to fft_length) as TFLM's
 * kissfft FIXED_POINT=16 computes it: a complex FFT of fft_length / 2 points by decimation in time with
 * radix-4, 2, 3 and 5 butterflies that divide by their radix, then the split into fft_length / 2 + 1 bins
 * ([re, im] pairs). `factors` holds (radix, m) per stage outermost first, `perm` the input position of each
 * complex point, the twiddle tables the fixed-point exp(-i t) values, all computed by the compiler. The
 * output row (output_length >= fft_length + 2 values) serves as the work buffer; values past the bins are 0.
 *
 * signal_irfft_s16: kissfft's inverse real FFT (kiss_fftri): the fft_length / 2 + 1 bins of each row merged
 * into fft_length / 2 complex points (written at their decimation-in-time places, `inverse_perm`), then the
 * inverse complex FFT (conjugate twiddles), giving fft_length samples; the same per-radix division applies. */
#ifndef MCU_RUNTIME_SIGNAL_FFT_H
#define MCU_RUNTIME_SIGNAL_FFT_H

#include <stdint.h>

typedef struct {
    int32_t size;
} signal_fft_auto_scale_params_t;

/* Rfft and Irfft: per row, input_length values in and output_length out (each also the row's stride). */
typedef struct {
    int32_t rows;
    int32_t input_length;  /* Rfft: samples (zero-padded to fft_length); Irfft: 2 per bin, >= fft_length + 2 */
    int32_t fft_length;
    int32_t output_length; /* Rfft: 2 per bin, >= fft_length + 2; Irfft: samples, >= fft_length (rest set 0) */
    int32_t stages;        /* (radix, m) pairs in `factors` */
} signal_real_fft_params_t;

void signal_fft_auto_scale_s16(const signal_fft_auto_scale_params_t *p, const int16_t *input, int16_t *output,
                               int32_t *scale_bits);

void signal_rfft_s16(const signal_real_fft_params_t *p, const int16_t *input, const int32_t *factors,
                     const int16_t *twiddles, const int16_t *split_twiddles, const int16_t *perm, int16_t *output);

void signal_irfft_s16(const signal_real_fft_params_t *p, const int16_t *input, const int32_t *factors,
                      const int16_t *twiddles, const int16_t *split_twiddles, const int16_t *inverse_perm,
                      int16_t *output);

/* The int32 (kissfft FIXED_POINT=32: 31 fraction bits, int64 products) and float32 forms; the float inverse
 * is divided by fft_length at the end, as TFLM does. Tables are of the transform's element type. */
void signal_rfft_s32(const signal_real_fft_params_t *p, const int32_t *input, const int32_t *factors,
                     const int32_t *twiddles, const int32_t *split_twiddles, const int16_t *perm, int32_t *output);
void signal_irfft_s32(const signal_real_fft_params_t *p, const int32_t *input, const int32_t *factors,
                      const int32_t *twiddles, const int32_t *split_twiddles, const int16_t *inverse_perm,
                      int32_t *output);
void signal_rfft_f32(const signal_real_fft_params_t *p, const float *input, const int32_t *factors,
                     const float *twiddles, const float *split_twiddles, const int16_t *perm, float *output);
void signal_irfft_f32(const signal_real_fft_params_t *p, const float *input, const int32_t *factors,
                      const float *twiddles, const float *split_twiddles, const int16_t *inverse_perm,
                      float *output);

#endif
