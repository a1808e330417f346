// BLAS bridge. OpenBLAS is kept single-threaded; large products are split into row or column
// panels that run on the engine's pool, so BLAS threads x pool threads never exceed the cores.
#include "cengine.h"
#include <pthread.h>

// Declared here rather than through cblas.h so that the header's location does not matter.
enum { RowMajor = 101, NoTrans = 111, Trans = 112 };
extern void cblas_sgemm(int order, int ta, int tb, int M, int N, int K, float alpha,
                        const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);
extern void openblas_set_num_threads(int n);

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static void blas_init(void) { openblas_set_num_threads(1); }

typedef struct {
  int ta, tb; long M, N, K; float alpha, beta;
  const float *A; long lda; const float *B; long ldb; float *C; long ldc;
  long parts; int split_rows;
} gemm_job;

static void gemm_part(void *ctx, long t) {
  gemm_job *j = (gemm_job *)ctx;
  if (j->split_rows) {
    long chunk = (j->M + j->parts - 1) / j->parts;
    long r0 = t * chunk, r1 = r0 + chunk > j->M ? j->M : r0 + chunk;
    if (r1 <= r0) return;
    const float *A = j->ta ? j->A + r0 : j->A + r0 * j->lda;
    cblas_sgemm(RowMajor, j->ta ? Trans : NoTrans, j->tb ? Trans : NoTrans, (int)(r1 - r0), (int)j->N,
                (int)j->K, j->alpha, A, (int)j->lda, j->B, (int)j->ldb, j->beta, j->C + r0 * j->ldc, (int)j->ldc);
  } else {
    long chunk = (j->N + j->parts - 1) / j->parts;
    chunk = (chunk + 15) & ~15L;
    long c0 = t * chunk, c1 = c0 + chunk > j->N ? j->N : c0 + chunk;
    if (c1 <= c0) return;
    const float *B = j->tb ? j->B + c0 * j->ldb : j->B + c0;
    cblas_sgemm(RowMajor, j->ta ? Trans : NoTrans, j->tb ? Trans : NoTrans, (int)j->M, (int)(c1 - c0),
                (int)j->K, j->alpha, j->A, (int)j->lda, B, (int)j->ldb, j->beta, j->C + c0, (int)j->ldc);
  }
}

void ke_sgemm_serial(int transA, int transB, long M, long N, long K, float alpha, const float *A, long lda,
                     const float *B, long ldb, float beta, float *C, long ldc) {
  pthread_once(&blas_once, blas_init);
  if (M <= 0 || N <= 0) return;
  cblas_sgemm(RowMajor, transA ? Trans : NoTrans, transB ? Trans : NoTrans, (int)M, (int)N, (int)K, alpha, A,
              (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

void ke_sgemm(int transA, int transB, long M, long N, long K, float alpha,
              const float *A, long lda, const float *B, long ldb, float beta, float *C, long ldc) {
  pthread_once(&blas_once, blas_init);
  if (M <= 0 || N <= 0) return;
  gemm_job j = {transA, transB, M, N, K, alpha, beta, A, lda, B, ldb, C, ldc, 1, 1};
  double flops = 2.0 * (double)M * (double)N * (double)K;
  int threads = ke_num_threads();
  if (threads > 1 && flops > 4e6) {
    j.split_rows = M >= N || N < 64;
    long extent = j.split_rows ? M : N;
    j.parts = threads;
    if (extent < j.parts * 8) j.parts = 1;
  }
  if (j.parts == 1) {
    gemm_part(&j, 0);
  } else {
    ke_parallel_for(j.parts, gemm_part, &j);
  }
}

typedef struct {
  int ta, tb; long M, N, K; float alpha, beta;
  const float *A; const long *offA; long lda;
  const float *B; const long *offB; long ldb;
  float *C; const long *offC; long ldc;
} batched_job;

static void batched_item(void *ctx, long t) {
  batched_job *j = (batched_job *)ctx;
  cblas_sgemm(RowMajor, j->ta ? Trans : NoTrans, j->tb ? Trans : NoTrans, (int)j->M, (int)j->N, (int)j->K,
              j->alpha, j->A + j->offA[t], (int)j->lda, j->B + j->offB[t], (int)j->ldb, j->beta,
              j->C + j->offC[t], (int)j->ldc);
}

void ke_sgemm_batched(long count, int transA, int transB, long M, long N, long K, float alpha,
                      const float *A, const long *offA, long lda,
                      const float *B, const long *offB, long ldb, float beta,
                      float *C, const long *offC, long ldc) {
  pthread_once(&blas_once, blas_init);
  if (count == 1) {
    ke_sgemm(transA, transB, M, N, K, alpha, A + offA[0], lda, B + offB[0], ldb, beta, C + offC[0], ldc);
    return;
  }
  batched_job j = {transA, transB, M, N, K, alpha, beta, A, offA, lda, B, offB, ldb, C, offC, ldc};
  ke_parallel_for(count, batched_item, &j);
}
