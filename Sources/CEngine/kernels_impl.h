// Kernel bodies, compiled twice on x86-64: once for the baseline ISA and once for AVX2+FMA (see
// kernels_avx2.c / kernels_portable.c). Every function works on one chunk, single-threaded;
// dispatch.c splits the work over the pool. Loops are written so that clang vectorises them.
// Requires: KSUFFIX(name) to name the variant, KFMA(a, b, c) for a*b+c.
#include <math.h>
#include <string.h>
#include <stdint.h>

#define KCAT2(a, b) a##_##b
#define KCAT(a, b) KCAT2(a, b)
#define K(name) KCAT(name, KSUFFIX)

static inline float K(k_exp)(float x) {
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  float v = KFMA(x, 1.44269504088896341f, 0.5f);
  float n = (float)(int32_t)v;
  n = n > v ? n - 1.0f : n;
  float r = KFMA(n, -0.693359375f, x);
  r = KFMA(n, 2.12194440e-4f, r);
  float p = 1.9875691500E-4f;
  p = KFMA(p, r, 1.3981999507E-3f);
  p = KFMA(p, r, 8.3334519073E-3f);
  p = KFMA(p, r, 4.1665795894E-2f);
  p = KFMA(p, r, 1.6666665459E-1f);
  p = KFMA(p, r, 5.0000001201E-1f);
  p = KFMA(p, r * r, r) + 1.0f;
  int32_t e = ((int32_t)n + 127) << 23;
  float s;
  memcpy(&s, &e, 4);
  return p * s;
}

static inline float K(k_sigmoid)(float x) { return 1.0f / (1.0f + K(k_exp)(-x)); }

static inline float K(k_tanh)(float x) {
  float ax = x < 0 ? -x : x;
  float e = K(k_exp)(-2.0f * ax);
  float t = (1.0f - e) / (1.0f + e);
  float x2 = x * x;
  float small = x * KFMA(x2, KFMA(x2, 0.133333333f, -0.333333333f), 1.0f);
  float r = x < 0 ? -t : t;
  return ax < 0.0625f ? small : r;
}

// erf by Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7).
static inline float K(k_erf)(float x) {
  float ax = x < 0 ? -x : x;
  float t = 1.0f / KFMA(0.3275911f, ax, 1.0f);
  float p = KFMA(t, 1.061405429f, -1.453152027f);
  p = KFMA(p, t, 1.421413741f);
  p = KFMA(p, t, -0.284496736f);
  p = KFMA(p, t, 0.254829592f);
  float y = 1.0f - p * t * K(k_exp)(-ax * ax);
  return x < 0 ? -y : y;
}

#define GELU_C 0.7978845608028654f   /* sqrt(2/pi) */
#define GELU_K 0.044715f

void K(unary_chunk)(int op, long n, const float *restrict x, float *restrict y, float p0, float p1) {
  switch (op) {
  case KE_NEG: for (long i = 0; i < n; i++) y[i] = -x[i]; break;
  case KE_EXP: for (long i = 0; i < n; i++) y[i] = K(k_exp)(x[i]); break;
  case KE_LOG: for (long i = 0; i < n; i++) y[i] = logf(x[i]); break;
  case KE_SQRT: for (long i = 0; i < n; i++) y[i] = sqrtf(x[i]); break;
  case KE_RSQRT: for (long i = 0; i < n; i++) y[i] = 1.0f / sqrtf(x[i]); break;
  case KE_ABS: for (long i = 0; i < n; i++) y[i] = fabsf(x[i]); break;
  case KE_RELU: for (long i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0.0f; break;
  case KE_GELU_ERF:
    for (long i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + K(k_erf)(x[i] * 0.70710678118654752f));
    break;
  case KE_GELU_TANH:
    for (long i = 0; i < n; i++) {
      float v = x[i];
      y[i] = 0.5f * v * (1.0f + K(k_tanh)(GELU_C * KFMA(GELU_K * v, v * v, v)));
    }
    break;
  case KE_QUICK_GELU: for (long i = 0; i < n; i++) y[i] = x[i] * K(k_sigmoid)(1.702f * x[i]); break;
  case KE_SILU: for (long i = 0; i < n; i++) y[i] = x[i] * K(k_sigmoid)(x[i]); break;
  case KE_SIGMOID: for (long i = 0; i < n; i++) y[i] = K(k_sigmoid)(x[i]); break;
  case KE_TANH: for (long i = 0; i < n; i++) y[i] = K(k_tanh)(x[i]); break;
  case KE_SQUARE: for (long i = 0; i < n; i++) y[i] = x[i] * x[i]; break;
  case KE_POW_SCALAR: for (long i = 0; i < n; i++) y[i] = powf(x[i], p0); break;
  case KE_CLAMP:
    for (long i = 0; i < n; i++) { float v = x[i] < p0 ? p0 : x[i]; y[i] = v > p1 ? p1 : v; }
    break;
  case KE_ADD_SCALAR: for (long i = 0; i < n; i++) y[i] = x[i] + p0; break;
  case KE_MUL_SCALAR: for (long i = 0; i < n; i++) y[i] = x[i] * p0; break;
  case KE_RECIPROCAL: for (long i = 0; i < n; i++) y[i] = 1.0f / x[i]; break;
  case KE_SIGN: for (long i = 0; i < n; i++) y[i] = (float)((x[i] > 0) - (x[i] < 0)); break;
  }
}

void K(unary_bwd_chunk)(int op, long n, const float *restrict x, const float *restrict y,
                        const float *restrict gy, float *restrict gx, float p0, float p1) {
  switch (op) {
  case KE_NEG: for (long i = 0; i < n; i++) gx[i] = -gy[i]; break;
  case KE_EXP: for (long i = 0; i < n; i++) gx[i] = gy[i] * y[i]; break;
  case KE_LOG: for (long i = 0; i < n; i++) gx[i] = gy[i] / x[i]; break;
  case KE_SQRT: for (long i = 0; i < n; i++) gx[i] = gy[i] * 0.5f / y[i]; break;
  case KE_RSQRT: for (long i = 0; i < n; i++) gx[i] = -0.5f * gy[i] * y[i] * y[i] * y[i]; break;
  case KE_ABS: for (long i = 0; i < n; i++) gx[i] = x[i] > 0 ? gy[i] : (x[i] < 0 ? -gy[i] : 0.0f); break;
  case KE_RELU: for (long i = 0; i < n; i++) gx[i] = x[i] > 0 ? gy[i] : 0.0f; break;
  case KE_GELU_ERF:
    for (long i = 0; i < n; i++) {
      float v = x[i];
      float cdf = 0.5f * (1.0f + K(k_erf)(v * 0.70710678118654752f));
      float pdf = 0.3989422804014327f * K(k_exp)(-0.5f * v * v);
      gx[i] = gy[i] * KFMA(v, pdf, cdf);
    }
    break;
  case KE_GELU_TANH:
    for (long i = 0; i < n; i++) {
      float v = x[i], v2 = v * v;
      float t = K(k_tanh)(GELU_C * KFMA(GELU_K * v, v2, v));
      float du = GELU_C * KFMA(3.0f * GELU_K, v2, 1.0f);
      gx[i] = gy[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du);
    }
    break;
  case KE_QUICK_GELU:
    for (long i = 0; i < n; i++) {
      float s = K(k_sigmoid)(1.702f * x[i]);
      gx[i] = gy[i] * (s + 1.702f * x[i] * s * (1.0f - s));
    }
    break;
  case KE_SILU:
    for (long i = 0; i < n; i++) {
      float s = K(k_sigmoid)(x[i]);
      gx[i] = gy[i] * s * (1.0f + x[i] * (1.0f - s));
    }
    break;
  case KE_SIGMOID: for (long i = 0; i < n; i++) gx[i] = gy[i] * y[i] * (1.0f - y[i]); break;
  case KE_TANH: for (long i = 0; i < n; i++) gx[i] = gy[i] * (1.0f - y[i] * y[i]); break;
  case KE_SQUARE: for (long i = 0; i < n; i++) gx[i] = 2.0f * x[i] * gy[i]; break;
  case KE_POW_SCALAR: for (long i = 0; i < n; i++) gx[i] = gy[i] * p0 * powf(x[i], p0 - 1.0f); break;
  case KE_CLAMP: for (long i = 0; i < n; i++) gx[i] = (x[i] >= p0 && x[i] <= p1) ? gy[i] : 0.0f; break;
  case KE_ADD_SCALAR: for (long i = 0; i < n; i++) gx[i] = gy[i]; break;
  case KE_MUL_SCALAR: for (long i = 0; i < n; i++) gx[i] = gy[i] * p0; break;
  case KE_RECIPROCAL: for (long i = 0; i < n; i++) gx[i] = -gy[i] * y[i] * y[i]; break;
  case KE_SIGN: for (long i = 0; i < n; i++) gx[i] = 0.0f; break;
  }
}

#define BIN_LOOP(EXPR)                                                                           \
  if (sa == 1 && sb == 1) { for (long i = 0; i < n; i++) { float x = a[i], z = b[i]; out[i] = (EXPR); } } \
  else if (sa == 1 && sb == 0) { float z = b[0]; for (long i = 0; i < n; i++) { float x = a[i]; out[i] = (EXPR); } } \
  else if (sa == 0 && sb == 1) { float x = a[0]; for (long i = 0; i < n; i++) { float z = b[i]; out[i] = (EXPR); } } \
  else { for (long i = 0; i < n; i++) { float x = a[i * sa], z = b[i * sb]; out[i] = (EXPR); } }

void K(binary_row)(int op, long n, const float *restrict a, long sa, const float *restrict b, long sb,
                   float *restrict out) {
  switch (op) {
  case KE_ADD: BIN_LOOP(x + z) break;
  case KE_SUB: BIN_LOOP(x - z) break;
  case KE_MUL: BIN_LOOP(x * z) break;
  case KE_DIV: BIN_LOOP(x / z) break;
  case KE_MAX: BIN_LOOP(x > z ? x : z) break;
  case KE_MIN: BIN_LOOP(x < z ? x : z) break;
  case KE_POW: BIN_LOOP(powf(x, z)) break;
  }
}

static inline float K(row_sum)(long n, const float *restrict x) {
#pragma clang fp reassociate(on)
  float s = 0.0f;
  for (long i = 0; i < n; i++) s += x[i];
  return s;
}

static inline float K(row_max)(long n, const float *restrict x) {
  float m = -INFINITY;
  for (long i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
  return m;
}

static inline float K(row_dot)(long n, const float *restrict x, const float *restrict y) {
#pragma clang fp reassociate(on)
  float s = 0.0f;
  for (long i = 0; i < n; i++) s += x[i] * y[i];
  return s;
}

void K(reduce_rows_chunk)(int kind, long rows, long n, const float *restrict x, float *restrict out) {
  for (long r = 0; r < rows; r++) {
    const float *xr = x + r * n;
    if (kind == 0) out[r] = K(row_sum)(n, xr);
    else if (kind == 1) out[r] = K(row_max)(n, xr);
    else {
      float m = K(row_max)(n, xr);
      if (m == -INFINITY) { out[r] = -INFINITY; continue; }
      float s = 0.0f;
      {
#pragma clang fp reassociate(on)
        for (long i = 0; i < n; i++) s += K(k_exp)(xr[i] - m);
      }
      out[r] = m + logf(s);
    }
  }
}

void K(sum_cols_chunk)(long rows, long n, const float *restrict x, float *restrict out) {
  for (long r = 0; r < rows; r++) {
    const float *xr = x + r * n;
    for (long i = 0; i < n; i++) out[i] += xr[i];
  }
}

void K(layernorm_fwd_chunk)(long rows, long n, const float *restrict x, const float *restrict w,
                            const float *restrict b, float eps, float *restrict y,
                            float *restrict mean, float *restrict rstd) {
  for (long r = 0; r < rows; r++) {
    const float *xr = x + r * n;
    float *yr = y + r * n;
    float mu = K(row_sum)(n, xr) / (float)n;
    float var = 0.0f;
    {
#pragma clang fp reassociate(on)
      for (long i = 0; i < n; i++) { float d = xr[i] - mu; var += d * d; }
    }
    float rs = 1.0f / sqrtf(var / (float)n + eps);
    if (w && b) for (long i = 0; i < n; i++) yr[i] = KFMA((xr[i] - mu) * rs, w[i], b[i]);
    else if (w) for (long i = 0; i < n; i++) yr[i] = (xr[i] - mu) * rs * w[i];
    else for (long i = 0; i < n; i++) yr[i] = (xr[i] - mu) * rs;
    if (mean) mean[r] = mu;
    if (rstd) rstd[r] = rs;
  }
}

// gw, gb accumulate (callers give per-thread buffers).
void K(layernorm_bwd_chunk)(long rows, long n, const float *restrict x, const float *restrict w,
                            const float *restrict mean, const float *restrict rstd,
                            const float *restrict gy, float *restrict gx, float *restrict gw,
                            float *restrict gb) {
  for (long r = 0; r < rows; r++) {
    const float *xr = x + r * n, *gr = gy + r * n;
    float *gxr = gx + r * n;
    float mu = mean[r], rs = rstd[r];
    float s1 = 0.0f, s2 = 0.0f;
    {
#pragma clang fp reassociate(on)
      for (long i = 0; i < n; i++) {
        float xh = (xr[i] - mu) * rs;
        float g = w ? gr[i] * w[i] : gr[i];
        s1 += g;
        s2 += g * xh;
      }
    }
    s1 /= (float)n; s2 /= (float)n;
    for (long i = 0; i < n; i++) {
      float xh = (xr[i] - mu) * rs;
      float g = w ? gr[i] * w[i] : gr[i];
      gxr[i] = rs * (g - s1 - xh * s2);
    }
    if (gw) for (long i = 0; i < n; i++) gw[i] = KFMA(gr[i], (xr[i] - mu) * rs, gw[i]);
    if (gb) for (long i = 0; i < n; i++) gb[i] += gr[i];
  }
}

void K(rmsnorm_fwd_chunk)(long rows, long n, const float *restrict x, const float *restrict w, float eps,
                          float *restrict y, float *restrict rstd) {
  for (long r = 0; r < rows; r++) {
    const float *xr = x + r * n;
    float *yr = y + r * n;
    float ss = K(row_dot)(n, xr, xr);
    float rs = 1.0f / sqrtf(ss / (float)n + eps);
    if (w) for (long i = 0; i < n; i++) yr[i] = xr[i] * rs * w[i];
    else for (long i = 0; i < n; i++) yr[i] = xr[i] * rs;
    if (rstd) rstd[r] = rs;
  }
}

void K(rmsnorm_bwd_chunk)(long rows, long n, const float *restrict x, const float *restrict w,
                          const float *restrict rstd, const float *restrict gy, float *restrict gx,
                          float *restrict gw) {
  for (long r = 0; r < rows; r++) {
    const float *xr = x + r * n, *gr = gy + r * n;
    float *gxr = gx + r * n;
    float rs = rstd[r];
    float s = 0.0f;
    {
#pragma clang fp reassociate(on)
      for (long i = 0; i < n; i++) s += (w ? gr[i] * w[i] : gr[i]) * xr[i];
    }
    float c = s * rs * rs * rs / (float)n;
    for (long i = 0; i < n; i++) gxr[i] = rs * (w ? gr[i] * w[i] : gr[i]) - c * xr[i];
    if (gw) for (long i = 0; i < n; i++) gw[i] = KFMA(gr[i], xr[i] * rs, gw[i]);
  }
}

void K(softmax_fwd_chunk)(long rows, long n, const float *restrict x, float *restrict y) {
  for (long r = 0; r < rows; r++) {
    const float *xr = x + r * n;
    float *yr = y + r * n;
    float m = K(row_max)(n, xr);
    if (m == -INFINITY) { for (long i = 0; i < n; i++) yr[i] = 0.0f; continue; }
    float s = 0.0f;
    {
#pragma clang fp reassociate(on)
      for (long i = 0; i < n; i++) { float e = K(k_exp)(xr[i] - m); yr[i] = e; s += e; }
    }
    float inv = 1.0f / s;
    for (long i = 0; i < n; i++) yr[i] *= inv;
  }
}

void K(softmax_bwd_chunk)(long rows, long n, const float *restrict y, const float *restrict gy,
                          float *restrict gx) {
  for (long r = 0; r < rows; r++) {
    const float *yr = y + r * n, *gr = gy + r * n;
    float *gxr = gx + r * n;
    float d = K(row_dot)(n, yr, gr);
    for (long i = 0; i < n; i++) gxr[i] = yr[i] * (gr[i] - d);
  }
}

void K(log_softmax_fwd_chunk)(long rows, long n, const float *restrict x, float *restrict y) {
  for (long r = 0; r < rows; r++) {
    const float *xr = x + r * n;
    float *yr = y + r * n;
    float m = K(row_max)(n, xr);
    float s = 0.0f;
    {
#pragma clang fp reassociate(on)
      for (long i = 0; i < n; i++) s += K(k_exp)(xr[i] - m);
    }
    float lse = m + logf(s);
    for (long i = 0; i < n; i++) yr[i] = xr[i] - lse;
  }
}

void K(log_softmax_bwd_chunk)(long rows, long n, const float *restrict y, const float *restrict gy,
                              float *restrict gx) {
  for (long r = 0; r < rows; r++) {
    const float *yr = y + r * n, *gr = gy + r * n;
    float *gxr = gx + r * n;
    float s = K(row_sum)(n, gr);
    for (long i = 0; i < n; i++) gxr[i] = gr[i] - K(k_exp)(yr[i]) * s;
  }
}

void K(adamw_chunk)(long n, float *restrict p, const float *restrict g, float *restrict m,
                    float *restrict v, float lr, float b1, float b2, float eps, float wd, float bc1,
                    float bc2) {
  float decay = 1.0f - lr * wd, step = lr / bc1, inv_sqrt_bc2 = 1.0f / sqrtf(bc2);
  for (long i = 0; i < n; i++) {
    float gi = g[i];
    float mi = KFMA(b1, m[i], (1.0f - b1) * gi);
    float vi = KFMA(b2, v[i], (1.0f - b2) * gi * gi);
    m[i] = mi; v[i] = vi;
    float denom = sqrtf(vi) * inv_sqrt_bc2 + eps;
    p[i] = p[i] * decay - step * mi / denom;
  }
}

// Counter-based dropout: element i of a call keyed (k0, k1) is kept when the top 24 bits of
// hash(i, k0, k1) are >= thr (thr = p * 2^24); kept elements are multiplied by `scale`. The mask
// depends only on (i, k0, k1), so any split of the work gives the same mask. y may equal x.
static inline uint32_t K(k_drop_hash)(uint32_t i, uint32_t k0, uint32_t k1) {
  uint32_t h = (i ^ k0) * 0x9E3779B1u;
  h ^= h >> 15;
  h += k1;
  h *= 0x85EBCA6Bu;
  h ^= h >> 13;
  h *= 0xC2B2AE35u;
  h ^= h >> 16;
  return h;
}

static void K(dropout_inplace)(uint32_t b, long n, float *y, uint32_t k0, uint32_t k1, uint32_t thr, float scale) {
  for (long i = 0; i < n; i++) {
    uint32_t h = K(k_drop_hash)(b + (uint32_t)i, k0, k1);
    y[i] *= (h >> 8) >= thr ? scale : 0.0f;
  }
}

void K(dropout_chunk)(long begin, long n, const float *x, float *y, uint32_t k0, uint32_t k1, uint32_t thr,
                      float scale) {
  uint32_t b = (uint32_t)begin;
  // Separate loops so that neither needs a run-time alias check (which sends x == y to scalar code).
  if (x == y) { K(dropout_inplace)(b, n, y, k0, k1, thr, scale); return; }
  const float *restrict xr = x;
  float *restrict yr = y;
  for (long i = 0; i < n; i++) {
    uint32_t h = K(k_drop_hash)(b + (uint32_t)i, k0, k1);
    yr[i] = xr[i] * ((h >> 8) >= thr ? scale : 0.0f);
  }
}

// One row of the "rotate half" rotary embedding (Llama). backward = 0: y = x*c + rot(x)*s with
// rot(x) = [-x2, x1]; backward = 1 (x is the output gradient): y = x*c + rot^T(x*s).
void K(rope_half_row)(long d, const float *restrict x, const float *restrict c, const float *restrict s,
                      float *restrict y, int backward) {
  long h = d / 2;
  if (!backward) {
    for (long j = 0; j < h; j++) y[j] = KFMA(x[j], c[j], -(x[j + h] * s[j]));
    for (long j = h; j < d; j++) y[j] = KFMA(x[j], c[j], x[j - h] * s[j]);
  } else {
    for (long j = 0; j < h; j++) y[j] = KFMA(x[j], c[j], x[j + h] * s[j + h]);
    for (long j = h; j < d; j++) y[j] = KFMA(x[j], c[j], -(x[j - h] * s[j - h]));
  }
}

// SwiGLU (Llama's gated MLP): y = silu(g) * u; backward gg = gy * u * silu'(g), gu = gy * silu(g).
void K(swiglu_chunk)(long n, const float *restrict g, const float *restrict u, float *restrict y) {
  for (long i = 0; i < n; i++) y[i] = g[i] * K(k_sigmoid)(g[i]) * u[i];
}

void K(swiglu_bwd_chunk)(long n, const float *restrict g, const float *restrict u, const float *restrict gy,
                         float *restrict gg, float *restrict gu) {
  for (long i = 0; i < n; i++) {
    float s = K(k_sigmoid)(g[i]), sl = g[i] * s;
    gu[i] = gy[i] * sl;
    gg[i] = gy[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));
  }
}
