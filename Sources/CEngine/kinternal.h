// Internal to CEngine: the per-chunk kernel table chosen at start-up.
#ifndef KINTERNAL_H
#define KINTERNAL_H
#include "cengine.h"

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
} ke_kernels;

const ke_kernels *ke_table(void);
void ke_sgemm_serial(int transA, int transB, long M, long N, long K, float alpha, const float *A, long lda,
                     const float *B, long ldb, float beta, float *C, long ldc);
#endif
