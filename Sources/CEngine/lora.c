// LoRA with input dropout, fused by row blocks: the dropped-out input (or the masked input
// gradient) exists only one block of rows at a time, in cache, never as a full tensor. Masks are
// the counter-based ones of ke_dropout (element index = row * in + column), so every split of
// the work gives the same result as ke_dropout over the whole matrix.
#include "kinternal.h"
#include <string.h>

#define LORA_BLOCK_ROWS 32

typedef struct { uint32_t k0, k1, thr; float scale; } drop_key;

static drop_key make_key(uint64_t key, float p) {
  uint64_t z = key + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  double t = (double)p * 16777216.0;
  drop_key k = {(uint32_t)z, (uint32_t)(z >> 32), t >= 16777216.0 ? 16777216u : (uint32_t)(t + 0.5),
                p < 1.0f ? 1.0f / (1.0f - p) : 0.0f};
  return k;
}

// Shared by ke_dropout (dispatch.c).
void ke_dropout_key(uint64_t key, float p, uint32_t *k0, uint32_t *k1, uint32_t *thr, float *scale) {
  drop_key k = make_key(key, p);
  *k0 = k.k0; *k1 = k.k1; *thr = k.thr; *scale = k.scale;
}

typedef struct {
  int kind; long rows, in, r, tasks;
  const float *x, *a, *t; float *out, *parts;
  drop_key key;
} lora_job;

static long lora_tasks(long rows, long in, long r) {
  long blocks = (rows + LORA_BLOCK_ROWS - 1) / LORA_BLOCK_ROWS;
  long t = ke_num_threads() * 2;
  if ((double)rows * (double)in * (double)r < 2e5) t = 1;
  if (t > blocks) t = blocks;
  return t < 1 ? 1 : t;
}

static void range(long total, long tasks, long t, long *b, long *e) {
  long base = total / tasks, extra = total % tasks;
  *b = t * base + (t < extra ? t : extra);
  *e = *b + base + (t < extra ? 1 : 0);
}

static void lora_task(void *ctx, long t) {
  lora_job *j = ctx;
  long r0, r1; range(j->rows, j->tasks, t, &r0, &r1);
  const ke_kernels *k = ke_table();
  long in = j->in, r = j->r;
  size_t scratch_bytes = (size_t)LORA_BLOCK_ROWS * (size_t)in * sizeof(float);
  float *scratch = j->kind != 1 ? ke_alloc(scratch_bytes) : NULL;
  float *part = j->kind == 2 ? j->parts + t * r * in : NULL;
  if (part) memset(part, 0, (size_t)(r * in) * sizeof(float));
  for (long b = r0; b < r1; b += LORA_BLOCK_ROWS) {
    long nb = r1 - b < LORA_BLOCK_ROWS ? r1 - b : LORA_BLOCK_ROWS;
    switch (j->kind) {
    case 0: // out[rows, r] = dropout(x) · Aᵀ
      k->dropout(b * in, nb * in, j->x + b * in, scratch, j->key.k0, j->key.k1, j->key.thr, j->key.scale);
      ke_sgemm_serial(0, 1, nb, r, in, 1.0f, scratch, in, j->a, in, 0.0f, j->out + b * r, r);
      break;
    case 1: // out[rows, in] = mask ⊙ (t · A)
      ke_sgemm_serial(0, 0, nb, in, r, 1.0f, j->t + b * r, r, j->a, in, 0.0f, j->out + b * in, in);
      k->dropout(b * in, nb * in, j->out + b * in, j->out + b * in, j->key.k0, j->key.k1, j->key.thr, j->key.scale);
      break;
    case 2: // part[r, in] += tᵀ · dropout(x)
      k->dropout(b * in, nb * in, j->x + b * in, scratch, j->key.k0, j->key.k1, j->key.thr, j->key.scale);
      ke_sgemm_serial(1, 0, r, in, nb, 1.0f, j->t + b * r, r, scratch, in, 1.0f, part, in);
      break;
    }
  }
  if (scratch) ke_free(scratch, scratch_bytes);
}

void ke_lora_down(long rows, long in, long r, const float *x, const float *a, uint64_t key, float p, float *u) {
  if (rows <= 0 || r <= 0) return;
  lora_job j; memset(&j, 0, sizeof j);
  j.kind = 0; j.rows = rows; j.in = in; j.r = r; j.x = x; j.a = a; j.out = u; j.key = make_key(key, p);
  j.tasks = lora_tasks(rows, in, r);
  ke_parallel_for(j.tasks, lora_task, &j);
}

void ke_lora_up_masked(long rows, long in, long r, const float *t, const float *a, uint64_t key, float p, float *out) {
  if (rows <= 0 || in <= 0) return;
  lora_job j; memset(&j, 0, sizeof j);
  j.kind = 1; j.rows = rows; j.in = in; j.r = r; j.t = t; j.a = a; j.out = out; j.key = make_key(key, p);
  j.tasks = lora_tasks(rows, in, r);
  ke_parallel_for(j.tasks, lora_task, &j);
}

void ke_lora_grad_a(long rows, long in, long r, const float *t, const float *x, uint64_t key, float p, float *ga) {
  if (r <= 0 || in <= 0) return;
  if (rows <= 0) { memset(ga, 0, (size_t)(r * in) * sizeof(float)); return; }
  lora_job j; memset(&j, 0, sizeof j);
  j.kind = 2; j.rows = rows; j.in = in; j.r = r; j.t = t; j.x = x; j.key = make_key(key, p);
  j.tasks = lora_tasks(rows, in, r);
  size_t bytes = (size_t)(j.tasks * r * in) * sizeof(float);
  j.parts = ke_alloc(bytes);
  ke_parallel_for(j.tasks, lora_task, &j);
  long n = r * in;
  memcpy(ga, j.parts, (size_t)n * sizeof(float));
  for (long t = 1; t < j.tasks; t++) for (long i = 0; i < n; i++) ga[i] += j.parts[t * n + i];
  ke_free(j.parts, bytes);
}
