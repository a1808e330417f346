// Internal to CEngine: the per-chunk kernel table chosen at start-up.
#ifndef KINTERNAL_H
#define KINTERNAL_H
#include "cengine.h"
#include <string.h>

// IEEE half to float, exact (subnormals included).
static inline float half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0) {
    if (man == 0) bits = sign;
    else { // subnormal
      float f = (float)man * (1.0f / 16777216.0f);
      memcpy(&bits, &f, 4); bits |= sign;
    }
  } else if (exp == 31) bits = sign | 0x7f800000 | (man << 13);
  else bits = sign | ((exp + 112) << 23) | (man << 13);
  float f; memcpy(&f, &bits, 4); return f;
}

typedef struct {
  void (*unary)(int, long, const float *, float *, float, float);
  void (*unary_bwd)(int, long, const float *, const float *, const float *, float *, float, float);
  void (*binary_row)(int, long, const float *, long, const float *, long, float *);
  void (*reduce_rows)(int, long, long, const float *, float *);
  void (*sum_cols)(long, long, const float *, float *);
  void (*layernorm_fwd)(long, long, const float *, const float *, const float *, float, float *, float *, float *);
  void (*layernorm_bwd)(long, long, const float *, const float *, const float *, const float *, const float *,
                        float *, float *, float *);
  void (*rmsnorm_fwd)(long, long, const float *, const float *, float, float *, float *);
  void (*rmsnorm_bwd)(long, long, const float *, const float *, const float *, const float *, float *, float *);
  void (*softmax_fwd)(long, long, const float *, float *);
  void (*softmax_bwd)(long, long, const float *, const float *, float *);
  void (*log_softmax_fwd)(long, long, const float *, float *);
  void (*log_softmax_bwd)(long, long, const float *, const float *, float *);
  void (*adamw)(long, float *, const float *, float *, float *, float, float, float, float, float, float, float);
  void (*dropout)(long, long, const float *, float *, uint32_t, uint32_t, uint32_t, float);
  void (*rope_half_row)(long, const float *, const float *, const float *, float *, int);
  void (*swiglu)(long, const float *, const float *, float *);
  void (*swiglu_bwd)(long, const float *, const float *, const float *, float *, float *);
} ke_kernels;

const ke_kernels *ke_table(void);
void ke_sgemm_serial(int transA, int transB, long M, long N, long K, float alpha, const float *A, long lda,
                     const float *B, long ldb, float beta, float *C, long ldc);
#endif
