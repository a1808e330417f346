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
  ke_sgemm_serial(0, 0, a->T, a->D, a->S, 1.0f, p, a->S, v, a->vs[2], 0.0f, j->out + t * a->T * a->D, a->D);
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
  float *gk = j->gk + t * a->S * a->D, *gv = j->gv + t * a->S * a->D;
  float *ds = ke_alloc((size_t)(a->T * a->S) * sizeof(float));
  for (long hh = 0; hh < group; hh++) {
    long h = g * group + hh, bh = b * a->H + h;
    const float *q = a->q + b * a->qs[0] + h * a->qs[1];
    const float *p = j->probs + bh * a->T * a->S;
    const float *go = j->gout + bh * a->T * a->D;
    float beta = hh == 0 ? 0.0f : 1.0f;
    // dV += P^T dO ; dP = dO V^T ; dS = softmax'(dP) * scale ; dQ = dS K ; dK += dS^T Q
    ke_sgemm_serial(1, 0, a->S, a->D, a->T, 1.0f, p, a->S, go, a->D, beta, gv, a->D);
    ke_sgemm_serial(0, 1, a->T, a->S, a->D, 1.0f, go, a->D, v, a->vs[2], 0.0f, ds, a->S);
    ke_table()->softmax_bwd(a->T, a->S, p, ds, ds);
    ke_sgemm_serial(0, 0, a->T, a->D, a->S, a->scale, ds, a->S, k, a->ks[2], 0.0f, j->gq + bh * a->T * a->D, a->D);
    ke_sgemm_serial(1, 0, a->S, a->D, a->T, a->scale, ds, a->S, q, a->qs[2], beta, gk, a->D);
  }
  ke_free(ds, (size_t)(a->T * a->S) * sizeof(float));
}

void ke_attention_bwd(const ke_attn_args *a, const float *probs, const float *gout, float *gq, float *gk, float *gv) {
  attn_job j = {a, (float *)probs, NULL, gout, gq, gk, gv, NULL, 0};
  ke_parallel_for(a->B * a->Hkv, bwd_task, &j);
}
