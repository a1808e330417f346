// Measures the FP32 FMA peak: independent register-resident FMA chains on every thread.
#include "cengine.h"
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define PEAK_ITERS 480000000L

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static void fma_loop_avx2(float *sink) {
  __m256 a0 = _mm256_set1_ps(1.0f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  __m256 a8 = a0, a9 = a0, a10 = a0, a11 = a0;
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  for (long i = 0; i < PEAK_ITERS / 12; i++) {
    a0 = _mm256_fmadd_ps(a0, m, c); a1 = _mm256_fmadd_ps(a1, m, c); a2 = _mm256_fmadd_ps(a2, m, c);
    a3 = _mm256_fmadd_ps(a3, m, c); a4 = _mm256_fmadd_ps(a4, m, c); a5 = _mm256_fmadd_ps(a5, m, c);
    a6 = _mm256_fmadd_ps(a6, m, c); a7 = _mm256_fmadd_ps(a7, m, c); a8 = _mm256_fmadd_ps(a8, m, c);
    a9 = _mm256_fmadd_ps(a9, m, c); a10 = _mm256_fmadd_ps(a10, m, c); a11 = _mm256_fmadd_ps(a11, m, c);
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                           _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
  s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
  float out[8]; _mm256_storeu_ps(out, s); *sink = out[0];
}
#endif

static void fma_loop_portable(float *sink) {
  float a[32];
  for (int k = 0; k < 32; k++) a[k] = 1.0f;
  for (long i = 0; i < PEAK_ITERS / 4; i++)
    for (int k = 0; k < 32; k++) a[k] = a[k] * 0.999999f + 1e-7f;
  float s = 0; for (int k = 0; k < 32; k++) s += a[k];
  *sink = s;
}

static double flops_per_call(void) {
#if defined(__x86_64__)
  if (ke_has_avx2_fma()) return (double)(PEAK_ITERS / 12) * 12 * 8 * 2;
#endif
  return (double)(PEAK_ITERS / 4) * 32 * 2;
}

static void peak_task(void *ctx, long t) {
  float *sinks = ctx;
#if defined(__x86_64__)
  if (ke_has_avx2_fma()) { fma_loop_avx2(sinks + t * 16); return; }
#endif
  fma_loop_portable(sinks + t * 16);
}

double ke_measure_fma_peak(int threads) {
  int saved = ke_num_threads();
  ke_set_num_threads(threads);
  float sinks[64 * 16];
  struct timespec t0, t1;
  double best = 0;
  for (int rep = 0; rep < 3; rep++) {
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ke_parallel_for(threads, peak_task, sinks);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
    double g = flops_per_call() * threads / s / 1e9;
    if (g > best) best = g;
  }
  ke_set_num_threads(saved);
  return best;
}
