// Chooses the kernel variant for this CPU once, and splits each kernel's work over the pool.
#include "kinternal.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define DECLARE_VARIANT(S)                                                                        \
  void unary_chunk_##S(int, long, const float *, float *, float, float);                         \
  void unary_bwd_chunk_##S(int, long, const float *, const float *, const float *, float *, float, float); \
  void binary_row_##S(int, long, const float *, long, const float *, long, float *);             \
  void reduce_rows_chunk_##S(int, long, long, const float *, float *);                          \
  void sum_cols_chunk_##S(long, long, const float *, float *);                                   \
  void layernorm_fwd_chunk_##S(long, long, const float *, const float *, const float *, float, float *, float *, float *); \
  void layernorm_bwd_chunk_##S(long, long, const float *, const float *, const float *, const float *, const float *, float *, float *, float *); \
  void rmsnorm_fwd_chunk_##S(long, long, const float *, const float *, float, float *, float *);  \
  void rmsnorm_bwd_chunk_##S(long, long, const float *, const float *, const float *, const float *, float *, float *); \
  void softmax_fwd_chunk_##S(long, long, const float *, float *);                                \
  void softmax_bwd_chunk_##S(long, long, const float *, const float *, float *);                 \
  void log_softmax_fwd_chunk_##S(long, long, const float *, float *);                            \
  void log_softmax_bwd_chunk_##S(long, long, const float *, const float *, float *);             \
  void adamw_chunk_##S(long, float *, const float *, float *, float *, float, float, float, float, float, float, float); \
  void dropout_chunk_##S(long, long, const float *, float *, uint32_t, uint32_t, uint32_t, float);          \
  void rope_half_row_##S(long, const float *, const float *, const float *, float *, int);                \
  void swiglu_chunk_##S(long, const float *, const float *, float *);                                      \
  void swiglu_bwd_chunk_##S(long, const float *, const float *, const float *, float *, float *);          \
  static const ke_kernels table_##S = {unary_chunk_##S, unary_bwd_chunk_##S, binary_row_##S, reduce_rows_chunk_##S, \
    sum_cols_chunk_##S, layernorm_fwd_chunk_##S, layernorm_bwd_chunk_##S, rmsnorm_fwd_chunk_##S,  \
    rmsnorm_bwd_chunk_##S, softmax_fwd_chunk_##S, softmax_bwd_chunk_##S, log_softmax_fwd_chunk_##S, \
    log_softmax_bwd_chunk_##S, adamw_chunk_##S, dropout_chunk_##S, rope_half_row_##S, \
    swiglu_chunk_##S, swiglu_bwd_chunk_##S};

DECLARE_VARIANT(portable)
#if defined(__x86_64__)
DECLARE_VARIANT(avx2)
#endif

static const ke_kernels *chosen = NULL;
static int chosen_avx2 = 0;
static pthread_once_t choose_once = PTHREAD_ONCE_INIT;

static void choose(void) {
  chosen = &table_portable;
#if defined(__x86_64__)
  const char *force = getenv("LLM2CLIP_PORTABLE_KERNELS");
  __builtin_cpu_init();
  if (!(force && force[0] == '1') && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    chosen = &table_avx2;
    chosen_avx2 = 1;
  }
#endif
}

const ke_kernels *ke_table(void) { pthread_once(&choose_once, choose); return chosen; }
int ke_has_avx2_fma(void) { ke_table(); return chosen_avx2; }
const char *ke_kernel_isa(void) { return ke_has_avx2_fma() ? "avx2+fma" : "portable"; }

// ---- splitting helpers ----
#define MIN_ELEMS_PER_TASK 32768L

static long tasks_for(long work, long min_per_task) {
  long t = work / min_per_task;
  long threads = ke_num_threads();
  long cap = threads * 4;
  if (t > cap) t = cap;
  return t < 1 ? 1 : t;
}

static void chunk_range(long total, long tasks, long t, long *begin, long *end) {
  long base = total / tasks, extra = total % tasks;
  *begin = t * base + (t < extra ? t : extra);
  *end = *begin + base + (t < extra ? 1 : 0);
}

// ---- unary ----
typedef struct { int op; long n; const float *x, *y, *gy; float *out; float p0, p1; long tasks; } unary_job;

static void unary_task(void *c, long t) {
  unary_job *j = c; long b, e; chunk_range(j->n, j->tasks, t, &b, &e);
  ke_table()->unary(j->op, e - b, j->x + b, j->out + b, j->p0, j->p1);
}
void ke_unary(int op, long n, const float *x, float *y, float p0, float p1) {
  unary_job j = {op, n, x, NULL, NULL, y, p0, p1, tasks_for(n, MIN_ELEMS_PER_TASK)};
  ke_parallel_for(j.tasks, unary_task, &j);
}
static void unary_bwd_task(void *c, long t) {
  unary_job *j = c; long b, e; chunk_range(j->n, j->tasks, t, &b, &e);
  ke_table()->unary_bwd(j->op, e - b, j->x ? j->x + b : NULL, j->y ? j->y + b : NULL, j->gy + b, j->out + b,
                        j->p0, j->p1);
}
void ke_unary_backward(int op, long n, const float *x, const float *y, const float *gy, float *gx, float p0, float p1) {
  unary_job j = {op, n, x, y, gy, gx, p0, p1, tasks_for(n, MIN_ELEMS_PER_TASK)};
  ke_parallel_for(j.tasks, unary_bwd_task, &j);
}

void ke_fill(float *dst, long n, float value) {
  for (long i = 0; i < n; i++) dst[i] = value;
}

// ---- n-d iteration: collapse mergeable dims, then walk outer indices ----
#define MAXD 16
typedef struct {
  int ndim; long shape[MAXD]; long s0[MAXD], s1[MAXD], s2[MAXD];
} nd3;

// Merge adjacent dims when all three stride sets allow it; drop size-1 dims.
static void collapse(nd3 *d) {
  int w = 0;
  for (int i = 0; i < d->ndim; i++) {
    if (d->shape[i] == 1) continue;
    d->shape[w] = d->shape[i]; d->s0[w] = d->s0[i]; d->s1[w] = d->s1[i]; d->s2[w] = d->s2[i];
    w++;
  }
  d->ndim = w;
  if (w == 0) { d->ndim = 1; d->shape[0] = 1; d->s0[0] = d->s1[0] = d->s2[0] = 1; return; }
  int o = 0;
  for (int i = 1; i < d->ndim; i++) {
    if (d->s0[o] == d->s0[i] * d->shape[i] && d->s1[o] == d->s1[i] * d->shape[i] &&
        d->s2[o] == d->s2[i] * d->shape[i]) {
      d->shape[o] *= d->shape[i];
      d->s0[o] = d->s0[i]; d->s1[o] = d->s1[i]; d->s2[o] = d->s2[i];
    } else {
      o++;
      d->shape[o] = d->shape[i]; d->s0[o] = d->s0[i]; d->s1[o] = d->s1[i]; d->s2[o] = d->s2[i];
    }
  }
  d->ndim = o + 1;
}

static void outer_offsets(const nd3 *d, long index, long *o0, long *o1, long *o2) {
  long a = 0, b = 0, c = 0;
  for (int i = d->ndim - 2; i >= 0; i--) {
    long k = index % d->shape[i];
    index /= d->shape[i];
    a += k * d->s0[i]; b += k * d->s1[i]; c += k * d->s2[i];
  }
  *o0 = a; *o1 = b; *o2 = c;
}

typedef struct { nd3 d; int op; const float *a, *b; float *out; const float *src; float *dst; long rows, tasks; } nd_job;

static void binary_task(void *c, long t) {
  nd_job *j = c; long r0, r1; chunk_range(j->rows, j->tasks, t, &r0, &r1);
  long n = j->d.shape[j->d.ndim - 1];
  long sa = j->d.s0[j->d.ndim - 1], sb = j->d.s1[j->d.ndim - 1], so = j->d.s2[j->d.ndim - 1];
  const ke_kernels *k = ke_table();
  for (long r = r0; r < r1; r++) {
    long oa, ob, oo; outer_offsets(&j->d, r, &oa, &ob, &oo);
    if (so == 1) k->binary_row(j->op, n, j->a + oa, sa, j->b + ob, sb, j->out + oo);
    else for (long i = 0; i < n; i++) k->binary_row(j->op, 1, j->a + oa + i * sa, 0, j->b + ob + i * sb, 0, j->out + oo + i * so);
  }
}

void ke_binary(int op, int ndim, const long *shape, const float *a, const long *sa, const float *b,
               const long *sb, float *out) {
  nd_job j; memset(&j, 0, sizeof j);
  j.d.ndim = ndim;
  long st = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    j.d.shape[i] = shape[i]; j.d.s0[i] = sa[i]; j.d.s1[i] = sb[i]; j.d.s2[i] = st; st *= shape[i];
  }
  if (ndim == 0) { j.d.ndim = 1; j.d.shape[0] = 1; j.d.s0[0] = j.d.s1[0] = j.d.s2[0] = 1; }
  collapse(&j.d);
  j.op = op; j.a = a; j.b = b; j.out = out;
  long n = j.d.shape[j.d.ndim - 1];
  j.rows = st / (n ? n : 1);
  if (st == 0) return;
  j.tasks = tasks_for(st, MIN_ELEMS_PER_TASK);
  if (j.tasks > j.rows) j.tasks = j.rows;
  ke_parallel_for(j.tasks, binary_task, &j);
}

static void copy_task(void *c, long t) {
  nd_job *j = c; long r0, r1; chunk_range(j->rows, j->tasks, t, &r0, &r1);
  long n = j->d.shape[j->d.ndim - 1];
  long ss = j->d.s0[j->d.ndim - 1], ds = j->d.s1[j->d.ndim - 1];
  for (long r = r0; r < r1; r++) {
    long os, od, unused; outer_offsets(&j->d, r, &os, &od, &unused);
    const float *s = j->src + os; float *d = j->dst + od;
    if (ss == 1 && ds == 1) memcpy(d, s, (size_t)n * sizeof(float));
    else if (ss == 0) { float v = s[0]; for (long i = 0; i < n; i++) d[i * ds] = v; }
    else for (long i = 0; i < n; i++) d[i * ds] = s[i * ss];
  }
}

void ke_copy_strided(int ndim, const long *shape, const float *src, const long *sstr, float *dst, const long *dstr) {
  nd_job j; memset(&j, 0, sizeof j);
  j.d.ndim = ndim;
  long total = 1;
  for (int i = 0; i < ndim; i++) {
    j.d.shape[i] = shape[i]; j.d.s0[i] = sstr[i]; j.d.s1[i] = dstr[i]; j.d.s2[i] = 0; total *= shape[i];
  }
  if (total == 0) return;
  // s2 unused: give it the contiguous strides so collapse() only looks at src/dst.
  long st = 1;
  for (int i = ndim - 1; i >= 0; i--) { j.d.s2[i] = st; st *= shape[i]; }
  if (ndim == 0) { j.d.ndim = 1; j.d.shape[0] = 1; j.d.s0[0] = j.d.s1[0] = j.d.s2[0] = 1; }
  collapse(&j.d);
  j.src = src; j.dst = dst;
  long n = j.d.shape[j.d.ndim - 1];
  j.rows = total / n;
  j.tasks = tasks_for(total, MIN_ELEMS_PER_TASK);
  if (j.tasks > j.rows) j.tasks = j.rows;
  ke_parallel_for(j.tasks, copy_task, &j);
}

// ---- half-precision conversion ----
static inline uint16_t float_to_half(float f) {
  uint32_t x; memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  int32_t exp = (int32_t)((x >> 23) & 0xff) - 127 + 15;
  uint32_t man = x & 0x7fffff;
  if (((x >> 23) & 0xff) == 0xff) return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
  if (exp >= 31) return (uint16_t)(sign | 0x7c00);
  if (exp <= 0) {
    if (exp < -10) return (uint16_t)sign;
    man |= 0x800000;
    uint32_t shift = (uint32_t)(14 - exp);
    uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) half++;
    return (uint16_t)(sign | half);
  }
  uint32_t half = sign | ((uint32_t)exp << 10) | (man >> 13);
  uint32_t rem = man & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++;
  return (uint16_t)half;
}
void ke_f16_to_f32(const uint16_t *src, float *dst, long n) { for (long i = 0; i < n; i++) dst[i] = half_to_float(src[i]); }
void ke_f32_to_f16(const float *src, uint16_t *dst, long n) { for (long i = 0; i < n; i++) dst[i] = float_to_half(src[i]); }
void ke_bf16_to_f32(const uint16_t *src, float *dst, long n) {
  for (long i = 0; i < n; i++) { uint32_t b = (uint32_t)src[i] << 16; memcpy(dst + i, &b, 4); }
}
void ke_f32_to_bf16(const float *src, uint16_t *dst, long n) {
  for (long i = 0; i < n; i++) {
    uint32_t b; memcpy(&b, src + i, 4);
    if ((b & 0x7fffffff) > 0x7f800000) { dst[i] = (uint16_t)((b >> 16) | 0x40); continue; }
    b += 0x7fff + ((b >> 16) & 1);     // round to nearest even
    dst[i] = (uint16_t)(b >> 16);
  }
}

// ---- row-wise kernels ----
typedef struct {
  int kind; long rows, n; const float *x, *w, *b, *aux1, *aux2, *gy; float eps;
  float *y, *o1, *o2, *gw_parts, *gb_parts; long tasks;
} rows_job;

static long row_tasks(long rows, long n) {
  long t = tasks_for(rows * n, MIN_ELEMS_PER_TASK);
  return t > rows ? (rows > 0 ? rows : 1) : t;
}

static void reduce_task(void *c, long t) {
  rows_job *j = c; long r0, r1; chunk_range(j->rows, j->tasks, t, &r0, &r1);
  ke_table()->reduce_rows(j->kind, r1 - r0, j->n, j->x + r0 * j->n, j->y + r0);
}
void ke_reduce_rows(int kind, long rows, long n, const float *x, float *out) {
  rows_job j = {0}; j.kind = kind; j.rows = rows; j.n = n; j.x = x; j.y = out; j.tasks = row_tasks(rows, n);
  ke_parallel_for(j.tasks, reduce_task, &j);
}

static void sum_cols_task(void *c, long t) {
  rows_job *j = c; long r0, r1; chunk_range(j->rows, j->tasks, t, &r0, &r1);
  float *part = j->gw_parts + t * j->n;
  memset(part, 0, (size_t)j->n * sizeof(float));
  ke_table()->sum_cols(r1 - r0, j->n, j->x + r0 * j->n, part);
}
void ke_sum_cols(long rows, long n, const float *x, float *out, int accumulate) {
  rows_job j = {0}; j.rows = rows; j.n = n; j.x = x; j.tasks = row_tasks(rows, n);
  j.gw_parts = ke_alloc((size_t)(j.tasks * n) * sizeof(float));
  ke_parallel_for(j.tasks, sum_cols_task, &j);
  if (!accumulate) memset(out, 0, (size_t)n * sizeof(float));
  for (long t = 0; t < j.tasks; t++) for (long i = 0; i < n; i++) out[i] += j.gw_parts[t * n + i];
  ke_free(j.gw_parts, (size_t)(j.tasks * n) * sizeof(float));
}

static void ln_fwd_task(void *c, long t) {
  rows_job *j = c; long r0, r1; chunk_range(j->rows, j->tasks, t, &r0, &r1);
  ke_table()->layernorm_fwd(r1 - r0, j->n, j->x + r0 * j->n, j->w, j->b, j->eps, j->y + r0 * j->n,
                            j->o1 ? j->o1 + r0 : NULL, j->o2 ? j->o2 + r0 : NULL);
}
void ke_layernorm_fwd(long rows, long n, const float *x, const float *w, const float *b, float eps, float *y,
                      float *mean, float *rstd) {
  rows_job j = {0}; j.rows = rows; j.n = n; j.x = x; j.w = w; j.b = b; j.eps = eps; j.y = y; j.o1 = mean; j.o2 = rstd;
  j.tasks = row_tasks(rows, n);
  ke_parallel_for(j.tasks, ln_fwd_task, &j);
}

static void ln_bwd_task(void *c, long t) {
  rows_job *j = c; long r0, r1; chunk_range(j->rows, j->tasks, t, &r0, &r1);
  float *gw = j->gw_parts ? j->gw_parts + t * j->n : NULL;
  float *gb = j->gb_parts ? j->gb_parts + t * j->n : NULL;
  if (gw) memset(gw, 0, (size_t)j->n * sizeof(float));
  if (gb) memset(gb, 0, (size_t)j->n * sizeof(float));
  if (j->kind == 0)
    ke_table()->layernorm_bwd(r1 - r0, j->n, j->x + r0 * j->n, j->w, j->aux1 + r0, j->aux2 + r0, j->gy + r0 * j->n,
                              j->y + r0 * j->n, gw, gb);
  else
    ke_table()->rmsnorm_bwd(r1 - r0, j->n, j->x + r0 * j->n, j->w, j->aux2 + r0, j->gy + r0 * j->n, j->y + r0 * j->n, gw);
}

static void sum_parts(float *dst, const float *parts, long tasks, long n) {
  if (!dst) return;
  memset(dst, 0, (size_t)n * sizeof(float));
  for (long t = 0; t < tasks; t++) for (long i = 0; i < n; i++) dst[i] += parts[t * n + i];
}

void ke_layernorm_bwd(long rows, long n, const float *x, const float *w, const float *mean, const float *rstd,
                      const float *gy, float *gx, float *gw, float *gb) {
  rows_job j = {0}; j.kind = 0; j.rows = rows; j.n = n; j.x = x; j.w = w; j.aux1 = mean; j.aux2 = rstd; j.gy = gy; j.y = gx;
  j.tasks = row_tasks(rows, n);
  size_t bytes = (size_t)(j.tasks * n) * sizeof(float);
  j.gw_parts = gw ? ke_alloc(bytes) : NULL;
  j.gb_parts = gb ? ke_alloc(bytes) : NULL;
  ke_parallel_for(j.tasks, ln_bwd_task, &j);
  sum_parts(gw, j.gw_parts, j.tasks, n);
  sum_parts(gb, j.gb_parts, j.tasks, n);
  if (j.gw_parts) ke_free(j.gw_parts, bytes);
  if (j.gb_parts) ke_free(j.gb_parts, bytes);
}

static void rms_fwd_task(void *c, long t) {
  rows_job *j = c; long r0, r1; chunk_range(j->rows, j->tasks, t, &r0, &r1);
  ke_table()->rmsnorm_fwd(r1 - r0, j->n, j->x + r0 * j->n, j->w, j->eps, j->y + r0 * j->n, j->o2 ? j->o2 + r0 : NULL);
}
void ke_rmsnorm_fwd(long rows, long n, const float *x, const float *w, float eps, float *y, float *rstd) {
  rows_job j = {0}; j.rows = rows; j.n = n; j.x = x; j.w = w; j.eps = eps; j.y = y; j.o2 = rstd;
  j.tasks = row_tasks(rows, n);
  ke_parallel_for(j.tasks, rms_fwd_task, &j);
}
void ke_rmsnorm_bwd(long rows, long n, const float *x, const float *w, const float *rstd, const float *gy, float *gx,
                    float *gw) {
  rows_job j = {0}; j.kind = 1; j.rows = rows; j.n = n; j.x = x; j.w = w; j.aux2 = rstd; j.gy = gy; j.y = gx;
  j.tasks = row_tasks(rows, n);
  size_t bytes = (size_t)(j.tasks * n) * sizeof(float);
  j.gw_parts = gw ? ke_alloc(bytes) : NULL;
  ke_parallel_for(j.tasks, ln_bwd_task, &j);
  sum_parts(gw, j.gw_parts, j.tasks, n);
  if (j.gw_parts) ke_free(j.gw_parts, bytes);
}

static void sm_task(void *c, long t) {
  rows_job *j = c; long r0, r1; chunk_range(j->rows, j->tasks, t, &r0, &r1);
  const ke_kernels *k = ke_table();
  long off = r0 * j->n, rows = r1 - r0;
  switch (j->kind) {
  case 0: k->softmax_fwd(rows, j->n, j->x + off, j->y + off); break;
  case 1: k->softmax_bwd(rows, j->n, j->x + off, j->gy + off, j->y + off); break;
  case 2: k->log_softmax_fwd(rows, j->n, j->x + off, j->y + off); break;
  case 3: k->log_softmax_bwd(rows, j->n, j->x + off, j->gy + off, j->y + off); break;
  }
}
static void run_sm(int kind, long rows, long n, const float *x, const float *gy, float *out) {
  rows_job j = {0}; j.kind = kind; j.rows = rows; j.n = n; j.x = x; j.gy = gy; j.y = out; j.tasks = row_tasks(rows, n);
  ke_parallel_for(j.tasks, sm_task, &j);
}
void ke_softmax_fwd(long rows, long n, const float *x, float *y) { run_sm(0, rows, n, x, NULL, y); }
void ke_softmax_bwd(long rows, long n, const float *y, const float *gy, float *gx) { run_sm(1, rows, n, y, gy, gx); }
void ke_log_softmax_fwd(long rows, long n, const float *x, float *y) { run_sm(2, rows, n, x, NULL, y); }
void ke_log_softmax_bwd(long rows, long n, const float *y, const float *gy, float *gx) { run_sm(3, rows, n, y, gy, gx); }

typedef struct { long n; float *p; const float *g; float *m, *v; float lr, b1, b2, eps, wd, bc1, bc2; long tasks; } adam_job;
static void adam_task(void *c, long t) {
  adam_job *j = c; long b, e; chunk_range(j->n, j->tasks, t, &b, &e);
  ke_table()->adamw(e - b, j->p + b, j->g + b, j->m + b, j->v + b, j->lr, j->b1, j->b2, j->eps, j->wd, j->bc1, j->bc2);
}
void ke_adamw_step(long n, float *p, const float *g, float *m, float *v, float lr, float beta1, float beta2,
                   float eps, float weight_decay, float bias_c1, float bias_c2) {
  adam_job j = {n, p, g, m, v, lr, beta1, beta2, eps, weight_decay, bias_c1, bias_c2, tasks_for(n, MIN_ELEMS_PER_TASK)};
  ke_parallel_for(j.tasks, adam_task, &j);
}

// ---- dropout (counter-based masks) ----
typedef struct { long n; const float *x; float *y; uint32_t k0, k1, thr; float scale; long tasks; } dropout_job;
static void dropout_task(void *c, long t) {
  dropout_job *j = c; long b, e; chunk_range(j->n, j->tasks, t, &b, &e);
  ke_table()->dropout(b, e - b, j->x + b, j->y + b, j->k0, j->k1, j->thr, j->scale);
}
void ke_dropout_key(uint64_t key, float p, uint32_t *k0, uint32_t *k1, uint32_t *thr, float *scale); // lora.c
void ke_dropout(long n, const float *x, float *y, uint64_t key, float p) {
  if (n <= 0) return;
  dropout_job j; memset(&j, 0, sizeof j);
  j.n = n; j.x = x; j.y = y;
  ke_dropout_key(key, p, &j.k0, &j.k1, &j.thr, &j.scale);
  j.tasks = tasks_for(n, MIN_ELEMS_PER_TASK);
  ke_parallel_for(j.tasks, dropout_task, &j);
}

// ---- rotary embedding, "rotate half" layout ----
typedef struct { long n1, n2, d, rows, tasks; const float *x, *c, *s; long xs[3], cs[3]; float *y; int backward; } rope_job;
static void rope_task(void *ctx, long t) {
  rope_job *j = ctx; long r0, r1; chunk_range(j->rows, j->tasks, t, &r0, &r1);
  const ke_kernels *k = ke_table();
  for (long r = r0; r < r1; r++) {
    long i2 = r % j->n2, i1 = (r / j->n2) % j->n1, i0 = r / (j->n2 * j->n1);
    long ox = i0 * j->xs[0] + i1 * j->xs[1] + i2 * j->xs[2];
    long oc = i0 * j->cs[0] + i1 * j->cs[1] + i2 * j->cs[2];
    k->rope_half_row(j->d, j->x + ox, j->c + oc, j->s + oc, j->y + r * j->d, j->backward);
  }
}
void ke_rope_half(long n0, long n1, long n2, long d, const float *x, const long *xs, const float *cos_t,
                  const float *sin_t, const long *cs, float *y, int backward) {
  rope_job j; memset(&j, 0, sizeof j);
  j.n1 = n1; j.n2 = n2; j.d = d; j.rows = n0 * n1 * n2;
  if (j.rows <= 0 || d <= 0) return;
  j.x = x; j.c = cos_t; j.s = sin_t; j.y = y; j.backward = backward;
  for (int i = 0; i < 3; i++) { j.xs[i] = xs[i]; j.cs[i] = cs[i]; }
  j.tasks = row_tasks(j.rows, d);
  ke_parallel_for(j.tasks, rope_task, &j);
}

// ---- SwiGLU: y = silu(g) * u ----
typedef struct { long n; const float *g, *u, *gy; float *y, *gg, *gu; long tasks; } swiglu_job;
static void swiglu_task(void *c, long t) {
  swiglu_job *j = c; long b, e; chunk_range(j->n, j->tasks, t, &b, &e);
  if (j->gy) ke_table()->swiglu_bwd(e - b, j->g + b, j->u + b, j->gy + b, j->gg + b, j->gu + b);
  else ke_table()->swiglu(e - b, j->g + b, j->u + b, j->y + b);
}
void ke_swiglu_fwd(long n, const float *g, const float *u, float *y) {
  swiglu_job j = {n, g, u, NULL, y, NULL, NULL, tasks_for(n, MIN_ELEMS_PER_TASK)};
  if (n > 0) ke_parallel_for(j.tasks, swiglu_task, &j);
}
void ke_swiglu_bwd(long n, const float *g, const float *u, const float *gy, float *gg, float *gu) {
  swiglu_job j = {n, g, u, gy, NULL, gg, gu, tasks_for(n, MIN_ELEMS_PER_TASK)};
  if (n > 0) ke_parallel_for(j.tasks, swiglu_task, &j);
}
