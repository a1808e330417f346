// Dequantisation of GGML's block formats, as stored in GGUF files. Layouts (little-endian):
//   Q4_0  32 elems, 18 B: f16 d, 16 B nibbles            x = (q - 8) d
//   Q4_1  32 elems, 20 B: f16 d, f16 m, 16 B nibbles     x = q d + m
//   Q5_0  32 elems, 22 B: f16 d, u32 high bits, 16 B     x = (q - 16) d
//   Q5_1  32 elems, 24 B: f16 d, f16 m, u32 high, 16 B   x = q d + m
//   Q8_0  32 elems, 34 B: f16 d, 32 int8                 x = q d
//   In the 32-element formats low nibbles are elements 0-15 and high nibbles 16-31.
//   Q4_K 256 elems, 144 B: f16 d, f16 dmin, 12 B packed 6-bit scales/mins, 128 B nibbles
//   Q5_K 256 elems, 176 B: as Q4_K plus 32 B of fifth bits before the nibbles
//   Q6_K 256 elems, 210 B: 128 B low nibbles, 64 B high 2-bit pairs, 16 int8 scales, f16 d
#include "kinternal.h"

enum { T_Q4_0 = 2, T_Q4_1 = 3, T_Q5_0 = 6, T_Q5_1 = 7, T_Q8_0 = 8, T_Q4_K = 12, T_Q5_K = 13, T_Q6_K = 14 };

int ke_ggml_block_layout(int type, long *elems, long *bytes) {
  long e = 0, b = 0;
  switch (type) {
    case T_Q4_0: e = 32; b = 18; break;
    case T_Q4_1: e = 32; b = 20; break;
    case T_Q5_0: e = 32; b = 22; break;
    case T_Q5_1: e = 32; b = 24; break;
    case T_Q8_0: e = 32; b = 34; break;
    case T_Q4_K: e = 256; b = 144; break;
    case T_Q5_K: e = 256; b = 176; break;
    case T_Q6_K: e = 256; b = 210; break;
    default: return 0;
  }
  if (elems) *elems = e;
  if (bytes) *bytes = b;
  return 1;
}

static inline float rd_half(const uint8_t *p) { return half_to_float((uint16_t)(p[0] | (p[1] << 8))); }

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K block.
static inline void k_scale_min(int j, const uint8_t *q, int *sc, int *m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

static void block_q4_0(const uint8_t *b, float *y) {
  float d = rd_half(b);
  const uint8_t *qs = b + 2;
  for (int i = 0; i < 16; i++) {
    y[i] = ((int)(qs[i] & 0x0f) - 8) * d;
    y[i + 16] = ((int)(qs[i] >> 4) - 8) * d;
  }
}
static void block_q4_1(const uint8_t *b, float *y) {
  float d = rd_half(b), m = rd_half(b + 2);
  const uint8_t *qs = b + 4;
  for (int i = 0; i < 16; i++) {
    y[i] = (qs[i] & 0x0f) * d + m;
    y[i + 16] = (qs[i] >> 4) * d + m;
  }
}
static void block_q5(const uint8_t *b, float *y, int has_min) {
  float d = rd_half(b), m = has_min ? rd_half(b + 2) : 0.0f;
  const uint8_t *p = b + (has_min ? 4 : 2);
  uint32_t qh = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
  const uint8_t *qs = p + 4;
  for (int i = 0; i < 16; i++) {
    int lo = (qs[i] & 0x0f) | (((qh >> i) & 1) << 4);
    int hi = (qs[i] >> 4) | (((qh >> (i + 16)) & 1) << 4);
    if (has_min) { y[i] = lo * d + m; y[i + 16] = hi * d + m; }
    else { y[i] = (lo - 16) * d; y[i + 16] = (hi - 16) * d; }
  }
}
static void block_q8_0(const uint8_t *b, float *y) {
  float d = rd_half(b);
  const int8_t *qs = (const int8_t *)(b + 2);
  for (int i = 0; i < 32; i++) y[i] = qs[i] * d;
}
static void block_q4_k(const uint8_t *b, float *y) {
  float d = rd_half(b), dmin = rd_half(b + 2);
  const uint8_t *scales = b + 4, *q = b + 16;
  for (int j = 0, is = 0; j < 256; j += 64, is += 2, q += 32) {
    int sc, m;
    k_scale_min(is, scales, &sc, &m);
    float d1 = d * sc, m1 = dmin * m;
    k_scale_min(is + 1, scales, &sc, &m);
    float d2 = d * sc, m2 = dmin * m;
    for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 0x0f) - m1;
    for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - m2;
  }
}
static void block_q5_k(const uint8_t *b, float *y) {
  float d = rd_half(b), dmin = rd_half(b + 2);
  const uint8_t *scales = b + 4, *qh = b + 16, *ql = b + 48;
  uint8_t u1 = 1, u2 = 2;
  for (int j = 0, is = 0; j < 256; j += 64, is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
    int sc, m;
    k_scale_min(is, scales, &sc, &m);
    float d1 = d * sc, m1 = dmin * m;
    k_scale_min(is + 1, scales, &sc, &m);
    float d2 = d * sc, m2 = dmin * m;
    for (int l = 0; l < 32; l++) *y++ = d1 * ((ql[l] & 0x0f) + ((qh[l] & u1) ? 16 : 0)) - m1;
    for (int l = 0; l < 32; l++) *y++ = d2 * ((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
  }
}
static void block_q6_k(const uint8_t *b, float *y) {
  const uint8_t *ql = b, *qh = b + 128;
  const int8_t *sc = (const int8_t *)(b + 192);
  float d = rd_half(b + 208);
  for (int n = 0; n < 256; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
    for (int l = 0; l < 32; l++) {
      int is = l / 16;
      int q1 = (int)((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
      int q2 = (int)((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
      int q3 = (int)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      int q4 = (int)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = d * sc[is] * q1;
      y[l + 32] = d * sc[is + 2] * q2;
      y[l + 64] = d * sc[is + 4] * q3;
      y[l + 96] = d * sc[is + 6] * q4;
    }
  }
}

typedef struct { int type; const uint8_t *src; float *dst; long nblocks, per_task, elems, bytes; } dq_job;

static void dq_task(void *ctx, long t) {
  const dq_job *j = ctx;
  long b0 = t * j->per_task, b1 = b0 + j->per_task;
  if (b1 > j->nblocks) b1 = j->nblocks;
  for (long b = b0; b < b1; b++) {
    const uint8_t *s = j->src + b * j->bytes;
    float *y = j->dst + b * j->elems;
    switch (j->type) {
      case T_Q4_0: block_q4_0(s, y); break;
      case T_Q4_1: block_q4_1(s, y); break;
      case T_Q5_0: block_q5(s, y, 0); break;
      case T_Q5_1: block_q5(s, y, 1); break;
      case T_Q8_0: block_q8_0(s, y); break;
      case T_Q4_K: block_q4_k(s, y); break;
      case T_Q5_K: block_q5_k(s, y); break;
      case T_Q6_K: block_q6_k(s, y); break;
    }
  }
}

int ke_dequantize(int type, const void *src, float *dst, long nblocks) {
  dq_job j = {type, src, dst, nblocks, 0, 0, 0};
  if (!ke_ggml_block_layout(type, &j.elems, &j.bytes)) return -1;
  if (nblocks <= 0) return 0;
  long target = 16384 / j.elems;  // about 16k elements per task
  j.per_task = target < 1 ? 1 : target;
  long tasks = (nblocks + j.per_task - 1) / j.per_task;
  ke_parallel_for(tasks, dq_task, &j);
  return 0;
}
