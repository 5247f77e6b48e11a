/* The CPU kernel of crossent's fused softmax cross-entropy.
 *
 * Two passes over a block of logits rows x (float32, bfloat16 or float16; computed in
 * float32), with z' = cap * tanh(x / cap) under a soft cap (cap > 0) and z' = x without:
 *
 *   crossent_stats_<T>   read pass:  lse_i = logsumexp_j z'_ij, zy_i = z'_{i,y_i} (0 when
 *                                    y_i is not a column of the block), zsum_i = sum_j z'_ij
 *   crossent_apply_<T>   read-write: out_ij = dz'/dz_ij * (exp(z'_ij - lse_i) k_i - u_i
 *                                    - h_i [j = y_i]); `out` may alias `x`
 *
 * The row factors k, u, h and the loss come from the host (crossent.torch.fused.host),
 * which holds the one Python statement of the formula; this file is its only other copy.
 * Rows are spread over OpenMP threads; each row's loops are vectorised, and on x86-64 with
 * GCC every row function is compiled for AVX-512, AVX2 and baseline CPUs
 * (target_clones), the best chosen when the library is loaded, so that one build runs
 * everywhere. Built at install time as the optional extension crossent.torch.fused._kernel
 * (setup.py) and called through ctypes; without it the fused losses use composed torch ops.
 */

#ifdef CROSSENT_PYTHON_MODULE
#define PY_SSIZE_T_CLEAN
#include <Python.h> /* first, as Python asks */
#endif

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12 && defined(__x86_64__) && \
    defined(__linux__) && !defined(CROSSENT_NO_CLONES)
#define CE_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CE_CLONES
#endif

/* Bumped whenever an exported signature changes; the loader refuses another value. */
#define CROSSENT_KERNEL_ABI 2

#ifndef CROSSENT_SOURCE_SHA256
#define CROSSENT_SOURCE_SHA256 ""
#endif

/* exp(x), accurate to about 1 ulp on [-87.3, 88.3] and exactly 0 below: Cody-Waite
   reduction x = n ln2 + r, |r| <= ln2/2, and Cephes' degree-6 polynomial for e^r. Written
   branch-free so that compilers vectorise the loops that call it. */
static inline float ce_exp(float x) {
    const float lo = -87.33654f, hi = 88.3762626647949f;
    float xc = x < lo ? lo : (x > hi ? hi : x);
    /* round to nearest through the 1.5 * 2^23 shifter; no -ffast-math needed */
    float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = xc - n * 0.693359375f - n * -2.12194440e-4f;
    float p = 1.9875691500E-4f;
    p = p * r + 1.3981999507E-3f;
    p = p * r + 8.3334519073E-3f;
    p = p * r + 4.1665795894E-2f;
    p = p * r + 1.6666665459E-1f;
    p = p * r + 5.0000001201E-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return x < lo ? 0.0f : p * scale;
}

/* tanh(x): Cephes' odd polynomial for |x| < 0.625, else 1 - 2 / (e^{2|x|} + 1). */
static inline float ce_tanh(float x) {
    float ax = x < 0.0f ? -x : x;
    float z = x * x;
    float small = ((((-5.70498872745E-3f * z + 2.06390887954E-2f) * z - 5.37397155531E-2f) * z +
                    1.33314422036E-1f) * z - 3.33332819422E-1f) * z * x + x;
    float big = 1.0f - 2.0f / (ce_exp(2.0f * (ax > 44.0f ? 44.0f : ax)) + 1.0f);
    big = x < 0.0f ? -big : big;
    return ax < 0.625f ? small : big;
}

/* Loads and stores of each storage type, in float32. */
static inline float load_f32(const float *p, int64_t j) { return p[j]; }
static inline void store_f32(float *p, int64_t j, float v) { p[j] = v; }

static inline float load_bf16(const uint16_t *p, int64_t j) {
    uint32_t bits = (uint32_t)p[j] << 16;
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

static inline void store_bf16(uint16_t *p, int64_t j, float v) {
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    uint32_t rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16; /* nearest, ties even */
    p[j] = (uint16_t)(v != v ? ((bits >> 16) | 0x40u) : rounded);    /* NaN stays NaN */
}

#ifdef __FLT16_MAX__
#define CE_HAS_F16 1
static inline float load_f16(const _Float16 *p, int64_t j) { return (float)p[j]; }
static inline void store_f16(_Float16 *p, int64_t j, float v) { p[j] = (_Float16)v; }
#endif

/* The two passes for storage type T with loads load_<NAME> and stores store_<NAME>. The
   row functions carry the per-CPU clones; the exported functions spread the rows. */
#define CE_DEFINE_KERNELS(NAME, T)                                                          \
    CE_CLONES static void stats_row_##NAME(const T *row, int64_t cols, int64_t yi, float cap, \
                                           float *lse, float *zy, float *zsum) {            \
        float m = -INFINITY, total = 0.0f, sum = 0.0f;                                      \
        if (cap > 0.0f) {                                                                   \
            _Pragma("omp simd reduction(max:m) reduction(+:total)")                         \
            for (int64_t j = 0; j < cols; j++) {                                            \
                float z = cap * ce_tanh(load_##NAME(row, j) / cap);                         \
                m = z > m ? z : m;                                                          \
                total += z;                                                                 \
            }                                                                               \
            if (m > -INFINITY) {                                                            \
                _Pragma("omp simd reduction(+:sum)")                                        \
                for (int64_t j = 0; j < cols; j++)                                          \
                    sum += ce_exp(cap * ce_tanh(load_##NAME(row, j) / cap) - m);            \
            }                                                                               \
        } else {                                                                            \
            _Pragma("omp simd reduction(max:m) reduction(+:total)")                         \
            for (int64_t j = 0; j < cols; j++) {                                            \
                float z = load_##NAME(row, j);                                              \
                m = z > m ? z : m;                                                          \
                total += z;                                                                 \
            }                                                                               \
            /* the row is in cache now: this pass is compute-bound */                      \
            if (m > -INFINITY) {                                                            \
                _Pragma("omp simd reduction(+:sum)")                                        \
                for (int64_t j = 0; j < cols; j++) sum += ce_exp(load_##NAME(row, j) - m);  \
            }                                                                               \
        }                                                                                   \
        *lse = m > -INFINITY ? m + logf(sum) : m;                                           \
        float target = 0.0f;                                                                \
        if (yi >= 0 && yi < cols) {                                                         \
            target = load_##NAME(row, yi);                                                  \
            if (cap > 0.0f) target = cap * ce_tanh(target / cap);                           \
        }                                                                                   \
        *zy = target;                                                                       \
        *zsum = total;                                                                      \
    }                                                                                       \
                                                                                            \
    CE_CLONES static void apply_row_##NAME(const T *row, T *orow, int64_t cols, int64_t yi,  \
                                           float cap, float li, float ki, float ui,         \
                                           float hi) {                                      \
        if (cap > 0.0f) {                                                                   \
            _Pragma("omp simd")                                                             \
            for (int64_t j = 0; j < cols; j++) {                                            \
                float z = cap * ce_tanh(load_##NAME(row, j) / cap);                         \
                float g = ce_exp(z - li) * ki - ui - (j == yi ? hi : 0.0f);                 \
                float c = z / cap;                                                          \
                store_##NAME(orow, j, g * (1.0f - c * c));                                  \
            }                                                                               \
        } else {                                                                            \
            _Pragma("omp simd")                                                             \
            for (int64_t j = 0; j < cols; j++) {                                            \
                float g = ce_exp(load_##NAME(row, j) - li) * ki - ui - (j == yi ? hi : 0.0f); \
                store_##NAME(orow, j, g);                                                   \
            }                                                                               \
        }                                                                                   \
    }                                                                                       \
                                                                                            \
    void crossent_stats_##NAME(const T *x, int64_t stride, int64_t rows, int64_t cols,      \
                               const int64_t *y, float cap, float *lse, float *zy,          \
                               float *zsum) {                                               \
        _Pragma("omp parallel for schedule(static)")                                        \
        for (int64_t i = 0; i < rows; i++)                                                  \
            stats_row_##NAME(x + i * stride, cols, y[i], cap, lse + i, zy + i, zsum + i);    \
    }                                                                                       \
                                                                                            \
    void crossent_apply_##NAME(const T *x, int64_t xstride, T *out, int64_t ostride,        \
                               int64_t rows, int64_t cols, const int64_t *y, float cap,     \
                               const float *lse, const float *k, const float *u,            \
                               const float *h) {                                            \
        _Pragma("omp parallel for schedule(static)")                                        \
        for (int64_t i = 0; i < rows; i++)                                                  \
            apply_row_##NAME(x + i * xstride, out + i * ostride, cols, y[i], cap, lse[i],    \
                             k[i], u[i], h[i]);                                             \
    }

/* Exported: crossent_stats_f32, crossent_apply_f32, ..._bf16 and, where the compiler has
   _Float16, ..._f16. */
CE_DEFINE_KERNELS(f32, float)
CE_DEFINE_KERNELS(bf16, uint16_t)
#ifdef CE_HAS_F16
CE_DEFINE_KERNELS(f16, _Float16)
#endif

/* 1 when the row loops run on OpenMP threads, 0 when the caller must split the rows. */
int crossent_openmp(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

/* 1 when the float16 functions exist. */
int crossent_has_f16(void) {
#ifdef CE_HAS_F16
    return 1;
#else
    return 0;
#endif
}

int crossent_kernel_abi(void) { return CROSSENT_KERNEL_ABI; }

/* SHA-256 of this file as the build saw it (setup.py defines it), so that the loader can
   refuse a library built from other source (a stale in-place build). */
const char *crossent_kernel_source_sha256(void) { return CROSSENT_SOURCE_SHA256; }

#ifdef CROSSENT_PYTHON_MODULE
/* An importable (empty) extension module, so that the library installs and is found as
   crossent.torch.fused._kernel; its functions are called through ctypes. */
static struct PyModuleDef kernel_module = {
    PyModuleDef_HEAD_INIT, "_kernel",
    "The compiled CPU kernel of crossent's fused cross-entropy (called through ctypes).", -1,
    NULL, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__kernel(void) { return PyModule_Create(&kernel_module); }
#endif
