/* CAST: element-wise C conversion between int8/uint8/int16/uint16/int32/uint32/float32 (TFLM's cast.cc). */
#ifndef MCU_RUNTIME_CAST_H
#define MCU_RUNTIME_CAST_H

#include <stdint.h>

enum { CAST_INT8 = 0, CAST_UINT8 = 1, CAST_INT16 = 2, CAST_UINT16 = 3, CAST_INT32 = 4, CAST_UINT32 = 5,
       CAST_FLOAT32 = 6 };

typedef struct {
    int32_t size;
    int32_t in_type;  /* CAST_* codes */
    int32_t out_type;
} cast_params_t;

/* Integers convert modulo 2^bits or to the nearest float; floats truncate toward zero. output may be input
 * when both types have one size (elements are read before they are written). */
void cast_elements(const cast_params_t *p, const void *input, void *output);

#endif
