/* Correctly rounded expf / logf in portable C99 double arithmetic (no libm, no FMA, no tables of values).
 *
 * Each function first evaluates f(x) in plain double with a relative error below 2^-50 (bounds below) and
 * returns it when every value within 2^-46 of it rounds to the same float (Ziv's test). Otherwise (for 186
 * of the 2.2e9 floats in expf's working range and 690 of logf's, by an exhaustive scan) it recomputes f(x)
 * in double-double arithmetic (relative error below 2^-95) and rounds that exactly: round to odd at 53 bits,
 * then to nearest float. No float x has exp(x) or log(x) closer than 2^-54 (relative) to a rounding
 * boundary (the closest are 2^-28.7 and 2^-34 ulp away), so both paths are correctly rounded.
 * codegen/kernels/softmax.py ports this file operation by operation to Python floats (IEEE doubles too),
 * so the NumPy reference returns the same bits by construction; keep the two in step.
 *
 * The constants are not copied from anywhere: ln 2 was computed with Python's decimal module at 100 digits
 * (Decimal(2).ln()), 1/k! and 1/(2n+1) exactly with fractions.Fraction; each is split into the nearest
 * double `hi` and the nearest double to the remainder `lo` (tests/test_float_math.py recomputes and checks
 * every literal in this file). */
#include "float_math.h"

#include <float.h>
#include <stdint.h>

/* Build with -DFLOAT_MATH_FAST_PATH=0 to test the double-double path on every input. */
#ifndef FLOAT_MATH_FAST_PATH
#define FLOAT_MATH_FAST_PATH 1
#endif

typedef struct {
    double hi;
    double lo;
} dd_t;

/* ln 2 = LN2_HI + LN2_MID + LN2_LO, the first two with 45 significant bits so that k * LN2_HI and
 * k * LN2_MID are exact doubles for |k| < 256. */
static const double LN2_HI = 0x1.62e42fefa3a00p-1;
static const double LN2_MID = -0x1.0ca86c3898d00p-49;
static const double LN2_LO = 0x1.f97b57a079a19p-103;
static const double INV_LN2 = 0x1.71547652b82fep+0; /* only picks k: any nearby value would do */
/* Threshold near sqrt(2) for the log mantissa; only its vicinity matters (it bounds |s| below 0.1716). */
static const double SQRT2 = 0x1.6a09e667f3bcdp+0;

/* 1/k!, k = 0..22: exp(r) = sum r^k / k!. The fast path uses 1/k! up to k = 13. */
enum { EXP_SLOW_DEGREE = 22, EXP_FAST_DEGREE = 13 };
static const dd_t EXP_COEFFS[EXP_SLOW_DEGREE + 1] = {
    {0x1.0000000000000p+0, 0x0.0p+0},
    {0x1.0000000000000p+0, 0x0.0p+0},
    {0x1.0000000000000p-1, 0x0.0p+0},
    {0x1.5555555555555p-3, 0x1.5555555555555p-57},
    {0x1.5555555555555p-5, 0x1.5555555555555p-59},
    {0x1.1111111111111p-7, 0x1.1111111111111p-63},
    {0x1.6c16c16c16c17p-10, -0x1.f49f49f49f49fp-65},
    {0x1.a01a01a01a01ap-13, 0x1.a01a01a01a01ap-73},
    {0x1.a01a01a01a01ap-16, 0x1.a01a01a01a01ap-76},
    {0x1.71de3a556c734p-19, -0x1.c154f8ddc6c00p-73},
    {0x1.27e4fb7789f5cp-22, 0x1.cbbc05b4fa99ap-76},
    {0x1.ae64567f544e4p-26, -0x1.c062e06d1f209p-80},
    {0x1.1eed8eff8d898p-29, -0x1.2aec959e14c06p-83},
    {0x1.6124613a86d09p-33, 0x1.f28e0cc748ebep-87},
    {0x1.93974a8c07c9dp-37, 0x1.05d6f8a2efd1fp-92},
    {0x1.ae7f3e733b81fp-41, 0x1.1d8656b0ee8cbp-97},
    {0x1.ae7f3e733b81fp-45, 0x1.1d8656b0ee8cbp-101},
    {0x1.952c77030ad4ap-49, 0x1.ac981465ddc6cp-103},
    {0x1.6827863b97d97p-53, 0x1.eec01221a8b0bp-107},
    {0x1.2f49b46814157p-57, 0x1.2650f61dbdcb4p-112},
    {0x1.e542ba4020225p-62, 0x1.ea72b4afe3c2fp-120},
    {0x1.71b8ef6dcf572p-66, -0x1.d043ae40c4647p-120},
    {0x1.0ce396db7f853p-70, -0x1.aebcdbd20331cp-124},
};

/* 1/(2n+1), n = 0..20: log(m) = 2 atanh(s) = 2 s sum (s^2)^n / (2n+1), s = (m-1)/(m+1). The fast path uses
 * n up to 10. */
enum { LOG_SLOW_DEGREE = 20, LOG_FAST_DEGREE = 10 };
static const dd_t ATANH_COEFFS[LOG_SLOW_DEGREE + 1] = {
    {0x1.0000000000000p+0, 0x0.0p+0},
    {0x1.5555555555555p-2, 0x1.5555555555555p-56},
    {0x1.999999999999ap-3, -0x1.999999999999ap-57},
    {0x1.2492492492492p-3, 0x1.2492492492492p-57},
    {0x1.c71c71c71c71cp-4, 0x1.c71c71c71c71cp-58},
    {0x1.745d1745d1746p-4, -0x1.745d1745d1746p-59},
    {0x1.3b13b13b13b14p-4, -0x1.3b13b13b13b14p-58},
    {0x1.1111111111111p-4, 0x1.1111111111111p-60},
    {0x1.e1e1e1e1e1e1ep-5, 0x1.e1e1e1e1e1e1ep-61},
    {0x1.af286bca1af28p-5, 0x1.af286bca1af28p-59},
    {0x1.8618618618618p-5, 0x1.8618618618618p-59},
    {0x1.642c8590b2164p-5, 0x1.642c8590b2164p-60},
    {0x1.47ae147ae147bp-5, -0x1.eb851eb851eb8p-61},
    {0x1.2f684bda12f68p-5, 0x1.2f684bda12f68p-59},
    {0x1.1a7b9611a7b96p-5, 0x1.1a7b9611a7b96p-61},
    {0x1.0842108421084p-5, 0x1.0842108421084p-60},
    {0x1.f07c1f07c1f08p-6, -0x1.f07c1f07c1f08p-61},
    {0x1.d41d41d41d41dp-6, 0x1.0750750750750p-60},
    {0x1.bacf914c1bad0p-6, -0x1.bacf914c1bad0p-60},
    {0x1.a41a41a41a41ap-6, 0x1.0690690690690p-60},
    {0x1.8f9c18f9c18fap-6, -0x1.f3831f3831f38p-61},
};

/* ---- bit access (unions are the C99 way to reinterpret without aliasing problems) ---- */

static inline uint64_t bits_of_double(double d)
{
    union {
        double d;
        uint64_t u;
    } v;
    v.d = d;
    return v.u;
}

static inline double double_from_bits(uint64_t u)
{
    union {
        double d;
        uint64_t u;
    } v;
    v.u = u;
    return v.d;
}

static inline float float_from_bits(uint32_t u)
{
    union {
        float f;
        uint32_t u;
    } v;
    v.u = u;
    return v.f;
}

/* 2^k for -1022 <= k <= 1023. */
static inline double pow2(int32_t k)
{
    return double_from_bits((uint64_t)(k + 1023) << 52);
}

/* ---- double-double arithmetic (Knuth's TwoSum, Dekker's TwoProduct; needs round-to-nearest, no FMA
 * contraction, no excess precision) ---- */

static inline dd_t two_sum(double a, double b)
{
    const double s = a + b;
    const double bb = s - a;
    const dd_t r = {s, (a - (s - bb)) + (b - bb)};
    return r;
}

/* Exact when |a| >= |b| (or a == 0). */
static inline dd_t fast_two_sum(double a, double b)
{
    const double s = a + b;
    const dd_t r = {s, b - (s - a)};
    return r;
}

/* Veltkamp split into two 26-bit halves: a = hi + lo exactly. */
static inline dd_t split(double a)
{
    const double c = 134217729.0 * a; /* 2^27 + 1 */
    const double hi = c - (c - a);
    const dd_t r = {hi, a - hi};
    return r;
}

static inline dd_t two_prod(double a, double b)
{
    const double p = a * b;
    const dd_t as = split(a);
    const dd_t bs = split(b);
    const double err = ((as.hi * bs.hi - p) + as.hi * bs.lo + as.lo * bs.hi) + as.lo * bs.lo;
    const dd_t r = {p, err};
    return r;
}

static dd_t dd_add(dd_t a, dd_t b)
{
    const dd_t s = two_sum(a.hi, b.hi);
    const dd_t t = two_sum(a.lo, b.lo);
    dd_t r = fast_two_sum(s.hi, s.lo + t.hi);
    r = fast_two_sum(r.hi, r.lo + t.lo);
    return r;
}

static dd_t dd_mul(dd_t a, dd_t b)
{
    const dd_t p = two_prod(a.hi, b.hi);
    return fast_two_sum(p.hi, p.lo + (a.hi * b.lo + a.lo * b.hi));
}

/* c[0] + x (c[1] + x (c[2] + ...)) in double-double. */
static dd_t dd_horner(const dd_t *c, int32_t degree, dd_t x)
{
    dd_t acc = c[degree];
    for (int32_t i = degree - 1; i >= 0; --i) {
        acc = dd_add(dd_mul(acc, x), c[i]);
    }
    return acc;
}

/* The float nearest to (v.hi + v.lo) * 2^k, v normalized (v.hi = v.hi + v.lo rounded): rounding v to odd
 * at 53 bits keeps enough information for the one rounding to float (53 >= 24 + 2) to be correct. */
static float dd_to_float(dd_t v, int32_t k)
{
    uint64_t u = bits_of_double(v.hi);
    if (v.lo != 0.0 && (u & 1u) == 0) {
        /* Inexact and even: take the odd neighbour on the side of v.lo (away from or towards zero). */
        u = ((v.lo > 0.0) == (v.hi > 0.0)) ? u + 1u : u - 1u;
    }
    return (float)(double_from_bits(u) * pow2(k));
}

/* Ziv's test: true (and *out set) when all of [y - 2^-46 |y|, y + 2^-46 |y|] rounds to one float. Since
 * y's relative error is below 2^-50, the true value is in that interval and rounds to the same float. */
static inline int32_t rounds_unambiguously(double y, float *out)
{
    const double margin = y * 0x1p-46;
    const float a = (float)(y - margin);
    const float b = (float)(y + margin);
    *out = a;
    return a == b;
}

float mcu_expf(float x)
{
    if (x != x) {
        return x + x; /* quiet NaN */
    }
    if (x > 89.0f) { /* exp(88.73) > FLT_MAX: overflow, and +inf itself */
        return float_from_bits(0x7f800000u);
    }
    if (x < -104.0f) { /* exp(-104) < 2^-150 (half the smallest subnormal): rounds to +0, and -inf */
        return 0.0f;
    }
    /* x = k ln2 + r, |r| <= ln2/2 (a hair more, as t is rounded), -150 <= k <= 128. */
    const double xd = (double)x;
    const double t = xd * INV_LN2;
    const int32_t k = (int32_t)(t >= 0.0 ? t + 0.5 : t - 0.5);
    const double kd = (double)k;
    /* Exact: for k != 0, |x| > 0.34 so x and k LN2_HI are multiples of 2^-45, and |r_hi| < 0.35. */
    const double r_hi = xd - kd * LN2_HI;
    const double r_mid = -(kd * LN2_MID); /* exact: k and LN2_MID have 8 + 45 bits */
#if FLOAT_MATH_FAST_PATH
    {
        /* r: one rounding (<= 2^-55 absolute) and k LN2_LO < 2^-94 left out. Taylor to degree 13: truncation
         * < 2^-56 relative. Horner in double: about 1.5 * 2^-53 relative. Scaling by 2^k is exact. */
        const double r = r_hi + r_mid;
        double p = EXP_COEFFS[EXP_FAST_DEGREE].hi;
        for (int32_t i = EXP_FAST_DEGREE - 1; i >= 1; --i) {
            p = p * r + EXP_COEFFS[i].hi;
        }
        float out;
        if (rounds_unambiguously((1.0 + r * p) * pow2(k), &out)) {
            return out;
        }
    }
#endif
    /* r in double-double, error ~2^-150; Taylor to degree 22: truncation < 2^-108. */
    dd_t r = two_sum(r_hi, r_mid);
    r = two_sum(r.hi, r.lo - kd * LN2_LO);
    return dd_to_float(dd_horner(EXP_COEFFS, EXP_SLOW_DEGREE, r), k);
}

float mcu_logf(float x)
{
    if (x != x) {
        return x + x; /* quiet NaN */
    }
    if (x < 0.0f) {
        return float_from_bits(0x7fc00000u); /* NaN, same bits on every target */
    }
    if (x == 0.0f) {
        return float_from_bits(0xff800000u); /* -inf */
    }
    if (x > FLT_MAX) {
        return x; /* +inf */
    }
    /* x = 2^e m with m in [sqrt(2)/2, sqrt(2)]; subnormal floats are normal doubles. */
    const uint64_t u = bits_of_double((double)x);
    int32_t e = (int32_t)(u >> 52) - 1023;
    double m = double_from_bits((u & 0x000fffffffffffffu) | 0x3ff0000000000000u);
    if (m > SQRT2) {
        m *= 0.5;
        e += 1;
    }
    /* m has 24 significant bits, so m - 1 (Sterbenz) and m + 1 (26 bits) are exact. */
    const double num = m - 1.0;
    const double den = m + 1.0;
    const double ed = (double)e;
#if FLOAT_MATH_FAST_PATH
    {
        /* s: one rounding; log(m) = 2 s P(s^2) with |s| < 0.1716, P to degree 10 (truncation < 2^-60):
         * below 2^-51.5 relative. For e != 0, |log x| > 0.346 >= |log m|: the two more roundings keep the
         * total below 2^-50.5. e LN2_HI and e LN2_MID are exact; e LN2_LO < 2^-94 is left out. */
        const double s = num / den;
        const double z = s * s;
        double p = ATANH_COEFFS[LOG_FAST_DEGREE].hi;
        for (int32_t i = LOG_FAST_DEGREE - 1; i >= 0; --i) {
            p = p * z + ATANH_COEFFS[i].hi;
        }
        const double log_m = (s + s) * p;
        float out;
        if (rounds_unambiguously(ed * LN2_HI + (ed * LN2_MID + log_m), &out)) {
            return out;
        }
    }
#endif
    /* s = num / den in double-double: the remainder num - q den is exact. */
    const double q = num / den;
    const dd_t qd = two_prod(q, den);
    const dd_t s = two_sum(q, ((num - qd.hi) - qd.lo) / den);
    const dd_t p = dd_horner(ATANH_COEFFS, LOG_SLOW_DEGREE, dd_mul(s, s));
    dd_t log_m = dd_mul(s, p);
    log_m.hi *= 2.0;
    log_m.lo *= 2.0;
    dd_t e_ln2 = two_sum(ed * LN2_HI, ed * LN2_MID);
    e_ln2.lo += ed * LN2_LO;
    return dd_to_float(dd_add(e_ln2, log_m), 0);
}
