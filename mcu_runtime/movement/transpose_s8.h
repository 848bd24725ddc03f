/* TRANSPOSE of an int8 tensor of rank <= 4 (lower ranks padded with leading 1s) by a constant permutation. */
#ifndef MCU_RUNTIME_TRANSPOSE_S8_H
#define MCU_RUNTIME_TRANSPOSE_S8_H

#include <stdint.h>

typedef struct {
    int32_t in_d0, in_d1, in_d2, in_d3;
    int32_t perm0, perm1, perm2, perm3;  /* output axis k is input axis perm<k> */
} transpose_s8_params_t;

void transpose_s8(const transpose_s8_params_t *p, const int8_t *input, int8_t *output);

#endif
