// Scaled dot-product attention, forward and backward, one (batch, head) pair per pool task.
// Probabilities are kept for the backward pass. Grouped-query attention: query head h reads key
// and value head h / (H / Hkv); the backward pass groups tasks by key/value head so that the
// accumulation into dK and dV needs no locks.
#include "kinternal.h"
#include <math.h>
#include <string.h>

void ke_sgemm_serial(int transA, int transB, long M, long N, long K, float alpha, const float *A, long lda,
                     const float *B, long ldb, float beta, float *C, long ldc);

static void mask_row(const ke_attn_args *a, long b, long i, float *row) {
  if (a->flags & 1) {
    long last = i + a->S - a->T;
    for (long j = last + 1; j < a->S; j++) row[j] = -INFINITY;
  }
  if (a->flags & 2) {
    const float *keep = a->keep + b * a->S;
    for (long j = 0; j < a->S; j++) if (keep[j] == 0.0f) row[j] = -INFINITY;
  }
}

typedef struct { const ke_attn_args *a; float *probs; float *out; const float *gout; float *gq, *gk, *gv; float *scratch; long per_task; } attn_job;

static void fwd_task(void *ctx, long t) {
  attn_job *j = ctx; const ke_attn_args *a = j->a;
  long b = t / a->H, h = t % a->H, g = h / (a->H / a->Hkv);
  const float *q = a->q + b * a->qs[0] + h * a->qs[1];
  const float *k = a->k + b * a->ks[0] + g * a->ks[1];
  const float *v = a->v + b * a->vs[0] + g * a->vs[1];
  float *p = j->probs + t * a->T * a->S;
  ke_sgemm_serial(0, 1, a->T, a->S, a->D, a->scale, q, a->qs[2], k, a->ks[2], 0.0f, p, a->S);
  if (a->flags) for (long i = 0; i < a->T; i++) mask_row(a, b, i, p + i * a->S);
  ke_table()->softmax_fwd(a->T, a->S, p, p);
  float *o = j->out + (a->os[2] ? b * a->os[0] + h * a->os[1] : t * a->T * a->D);
  ke_sgemm_serial(0, 0, a->T, a->D, a->S, 1.0f, p, a->S, v, a->vs[2], 0.0f, o, a->os[2] ? a->os[2] : a->D);
}

void ke_attention_fwd(const ke_attn_args *a, float *probs, float *out) {
  attn_job j = {a, probs, out, NULL, NULL, NULL, NULL, NULL, 0};
  ke_parallel_for(a->B * a->H, fwd_task, &j);
}

static void bwd_task(void *ctx, long t) {
  attn_job *j = ctx; const ke_attn_args *a = j->a;
  long b = t / a->Hkv, g = t % a->Hkv, group = a->H / a->Hkv;
  const float *k = a->k + b * a->ks[0] + g * a->ks[1];
  const float *v = a->v + b * a->vs[0] + g * a->vs[1];
  long ldk = a->gks[2] ? a->gks[2] : a->D, ldv = a->gvs[2] ? a->gvs[2] : a->D;
  long ldq = a->gqs[2] ? a->gqs[2] : a->D, ldo = a->gos[2] ? a->gos[2] : a->D;
  float *gk = j->gk + (a->gks[2] ? b * a->gks[0] + g * a->gks[1] : t * a->S * a->D);
  float *gv = j->gv + (a->gvs[2] ? b * a->gvs[0] + g * a->gvs[1] : t * a->S * a->D);
  float *ds = ke_alloc((size_t)(a->T * a->S) * sizeof(float));
  for (long hh = 0; hh < group; hh++) {
    long h = g * group + hh, bh = b * a->H + h;
    const float *q = a->q + b * a->qs[0] + h * a->qs[1];
    const float *p = j->probs + bh * a->T * a->S;
    const float *go = j->gout + (a->gos[2] ? b * a->gos[0] + h * a->gos[1] : bh * a->T * a->D);
    float *gq = j->gq + (a->gqs[2] ? b * a->gqs[0] + h * a->gqs[1] : bh * a->T * a->D);
    float beta = hh == 0 ? 0.0f : 1.0f;
    // dV += P^T dO ; dP = dO V^T ; dS = softmax'(dP) * scale ; dQ = dS K ; dK += dS^T Q
    ke_sgemm_serial(1, 0, a->S, a->D, a->T, 1.0f, p, a->S, go, ldo, beta, gv, ldv);
    ke_sgemm_serial(0, 1, a->T, a->S, a->D, 1.0f, go, ldo, v, a->vs[2], 0.0f, ds, a->S);
    ke_table()->softmax_bwd(a->T, a->S, p, ds, ds);
    ke_sgemm_serial(0, 0, a->T, a->D, a->S, a->scale, ds, a->S, k, a->ks[2], 0.0f, gq, ldq);
    ke_sgemm_serial(1, 0, a->S, a->D, a->T, a->scale, ds, a->S, q, a->qs[2], beta, gk, ldk);
  }
  ke_free(ds, (size_t)(a->T * a->S) * sizeof(float));
}

void ke_attention_bwd(const ke_attn_args *a, const float *probs, const float *gout, float *gq, float *gk, float *gv) {
  attn_job j = {a, (float *)probs, NULL, gout, gq, gk, gv, NULL, 0};
  ke_parallel_for(a->B * a->Hkv, bwd_task, &j);
}

// ---- rotary embedding (interleaved pairs), one (batch, head) pair per task ----
typedef struct {
  long B, H, N, D; const float *x; const long *xs; float *y; const long *ys;
  const float *cos, *sin; long skip; int backward;
} rope_job;

static void rope_task(void *ctx, long t) {
  rope_job *j = ctx;
  long b = t / j->H, h = t % j->H, D = j->D;
  const float *x = j->x + b * j->xs[0] + h * j->xs[1];
  float *y = j->y + b * j->ys[0] + h * j->ys[1];
  for (long n = 0; n < j->N; n++) {
    const float *xr = x + n * j->xs[2];
    float *yr = y + n * j->ys[2];
    if (n < j->skip) { memcpy(yr, xr, (size_t)D * sizeof(float)); continue; }
    const float *c = j->cos + (n - j->skip) * D, *s = j->sin + (n - j->skip) * D;
    if (!j->backward) {
      for (long i = 0; i < D; i += 2) {
        float x0 = xr[i], x1 = xr[i + 1];
        yr[i] = x0 * c[i] - x1 * s[i];
        yr[i + 1] = x1 * c[i + 1] + x0 * s[i + 1];
      }
    } else {
      for (long i = 0; i < D; i += 2) {
        float g0 = xr[i], g1 = xr[i + 1];
        yr[i] = g0 * c[i] + g1 * s[i + 1];
        yr[i + 1] = g1 * c[i + 1] - g0 * s[i];
      }
    }
  }
}

void ke_rope_interleaved(long B, long H, long N, long D, const float *x, const long *xs, float *y,
                         const long *ys, const float *cos, const float *sin, long skip, int backward) {
  rope_job j = {B, H, N, D, x, xs, y, ys, cos, sin, skip, backward};
  if (B * H > 0) ke_parallel_for(B * H, rope_task, &j);
}
