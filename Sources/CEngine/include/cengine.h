// CEngine: the C layer under TensorKit. Thread pool, caching allocator, BLAS bridge and the
// vectorised float32 kernels. Every kernel works on contiguous float32 buffers unless stated.
#ifndef CENGINE_H
#define CENGINE_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---- runtime facts ----
int ke_num_threads(void);             // worker count used by every parallel kernel
void ke_set_num_threads(int n);       // 1 ... cores; takes effect for the next kernel
int ke_has_avx2_fma(void);            // 1 when the AVX2+FMA kernels are in use
const char *ke_kernel_isa(void);      // "avx2+fma" or "portable"

// ---- thread pool ----
typedef void (*ke_task_fn)(void *ctx, long task);
// Runs fn(ctx, 0..ntasks-1) on the pool (the caller works too); returns when all are done.
void ke_parallel_for(long ntasks, ke_task_fn fn, void *ctx);

// ---- caching allocator (64-byte aligned, size-bucketed free lists) ----
void *ke_alloc(size_t bytes);
void ke_free(void *ptr, size_t bytes);
size_t ke_alloc_cached_bytes(void);   // bytes held in free lists
size_t ke_alloc_live_bytes(void);     // bytes handed out and not yet freed
long ke_alloc_thread_live_bytes(void); // the same, counting only this thread's allocations and frees
long ke_alloc_thread_peak_bytes(void);  // highest ke_alloc_thread_live_bytes since the last reset
void ke_alloc_thread_peak_reset(void);  // starts a new peak measurement at the current value
void ke_alloc_trim(void);             // return every cached block to the system

// ---- BLAS bridge (row-major; OpenBLAS runs single-threaded, the pool splits the work) ----
void ke_sgemm(int transA, int transB, long M, long N, long K, float alpha,
              const float *A, long lda, const float *B, long ldb, float beta, float *C, long ldc);
// count independent GEMMs with per-item element offsets, spread over the pool.
void ke_sgemm_batched(long count, int transA, int transB, long M, long N, long K, float alpha,
                      const float *A, const long *offA, long lda,
                      const float *B, const long *offB, long ldb, float beta,
                      float *C, const long *offC, long ldc);

// ---- copies ----
// dst[idx] = src[idx] over an n-d index space, both strided (element strides).
void ke_copy_strided(int ndim, const long *shape, const float *src, const long *sstr,
                     float *dst, const long *dstr);
void ke_fill(float *dst, long n, float value);
void ke_f16_to_f32(const uint16_t *src, float *dst, long n);
void ke_f32_to_f16(const float *src, uint16_t *dst, long n);
void ke_bf16_to_f32(const uint16_t *src, float *dst, long n);
void ke_f32_to_bf16(const float *src, uint16_t *dst, long n);

// ---- GGML block dequantisation (GGUF tensor types) ----
// Type codes are GGML's: 2 Q4_0, 3 Q4_1, 6 Q5_0, 7 Q5_1, 8 Q8_0, 12 Q4_K, 13 Q5_K, 14 Q6_K.
// Returns elements per block and bytes per block, or 0 for an unsupported type.
int ke_ggml_block_layout(int type, long *elems, long *bytes);
// Dequantises nblocks consecutive blocks of `type` from src into dst (float32), in parallel.
// Returns 0, or -1 for an unsupported type.
int ke_dequantize(int type, const void *src, float *dst, long nblocks);

// ---- elementwise ----
enum { KE_ADD = 0, KE_SUB, KE_MUL, KE_DIV, KE_MAX, KE_MIN, KE_POW };
// out (contiguous, shape) = a op b, with broadcasting expressed by (possibly zero) strides.
void ke_binary(int op, int ndim, const long *shape, const float *a, const long *sa,
               const float *b, const long *sb, float *out);

enum {
  KE_NEG = 0, KE_EXP, KE_LOG, KE_SQRT, KE_RSQRT, KE_ABS, KE_RELU, KE_GELU_ERF, KE_GELU_TANH,
  KE_QUICK_GELU, KE_SILU, KE_SIGMOID, KE_TANH, KE_SQUARE, KE_POW_SCALAR, KE_CLAMP,
  KE_ADD_SCALAR, KE_MUL_SCALAR, KE_RECIPROCAL, KE_SIGN
};
void ke_unary(int op, long n, const float *x, float *y, float p0, float p1);
// gx = gy * f'(x)  (y = f(x) is passed for ops whose derivative reads it; may be NULL otherwise).
void ke_unary_backward(int op, long n, const float *x, const float *y, const float *gy, float *gx,
                       float p0, float p1);

// ---- row reductions over the last axis of [rows, n] ----
void ke_reduce_rows(int kind, long rows, long n, const float *x, float *out); // 0 sum,1 max,2 logsumexp
// Column sums of [rows, n] into out[n] (accumulate = 0 overwrite, 1 add).
void ke_sum_cols(long rows, long n, const float *x, float *out, int accumulate);

// ---- normalisation and softmax over the last axis ----
void ke_layernorm_fwd(long rows, long n, const float *x, const float *w, const float *b, float eps,
                      float *y, float *mean, float *rstd);
void ke_layernorm_bwd(long rows, long n, const float *x, const float *w, const float *mean,
                      const float *rstd, const float *gy, float *gx, float *gw, float *gb);
void ke_rmsnorm_fwd(long rows, long n, const float *x, const float *w, float eps, float *y, float *rstd);
void ke_rmsnorm_bwd(long rows, long n, const float *x, const float *w, const float *rstd,
                    const float *gy, float *gx, float *gw);
void ke_softmax_fwd(long rows, long n, const float *x, float *y);
void ke_softmax_bwd(long rows, long n, const float *y, const float *gy, float *gx);
void ke_log_softmax_fwd(long rows, long n, const float *x, float *y);
void ke_log_softmax_bwd(long rows, long n, const float *y, const float *gy, float *gx);

// ---- attention ----
// q: [B,H,T,D], k/v: [B,Hkv,S,D] given by element strides (b, h, t); d is contiguous.
// flags: 1 = causal (key j visible to query i when j <= i + S - T), 2 = key padding (keep[B,S] 1/0).
// probs: [B,H,T,S] contiguous (saved for backward); out: [B,H,T,D] contiguous.
// os, gos, gqs, gks, gvs: element strides (b, h, t) of out, gout, gq, gk, gv (d contiguous); all
// zero means the dense [B,H,T,D] / [B,Hkv,S,D] layout. A [B,T,H,D] buffer viewed as [B,H,T,D]
// lets the heads be merged (and split again in backward) without a copy.
typedef struct {
  long B, H, Hkv, T, S, D;
  const float *q; long qs[3];
  const float *k; long ks[3];
  const float *v; long vs[3];
  float scale; int flags; const float *keep;
  long os[3], gos[3], gqs[3], gks[3], gvs[3];
} ke_attn_args;
void ke_attention_fwd(const ke_attn_args *a, float *probs, float *out);
// gq [B,H,T,D], gk/gv [B,Hkv,S,D] (strides gqs/gks/gvs), overwritten.
void ke_attention_bwd(const ke_attn_args *a, const float *probs, const float *gout,
                      float *gq, float *gk, float *gv);

// ---- rotary embedding, EVA02's interleaved pairs ----
// x and y are [B, H, N, D] given by element strides (b, h, n), d contiguous, D even. Tokens
// n < skip are copied unchanged (a class token); token n >= skip uses row n - skip of the dense
// tables cos/sin [N - skip, D]. backward = 0: y = x·cos + rot(x)·sin with rot(x0, x1) = (-x1, x0);
// backward = 1: its transpose, gx0 = g0·c0 + g1·s1, gx1 = g1·c1 - g0·s0 (x = the incoming gradient).
void ke_rope_interleaved(long B, long H, long N, long D, const float *x, const long *xs, float *y,
                         const long *ys, const float *cos, const float *sin, long skip, int backward);

// ---- dropout ----
// y = x * mask / (1 - p) with a counter-based mask: element i is dropped with probability p,
// decided by a hash of (i, key) only, so the same key gives the same mask whatever the thread
// count (and a backward pass can redraw it). y may equal x (in place). n < 2^32.
void ke_dropout(long n, const float *x, float *y, uint64_t key, float p);

// LoRA with input dropout (PEFT: dropout on the adapter's input x), fused by blocks of rows so
// that the dropped-out matrix never exists whole; masks equal ke_dropout(rows*in, x, ., key, p)'s.
// x [rows, in], A [r, in], t [rows, r] (gradient of the rank-r activations).
// u = dropout(x) · Aᵀ  [rows, r]
void ke_lora_down(long rows, long in, long r, const float *x, const float *a, uint64_t key, float p, float *u);
// out = mask ⊙ (t · A)  [rows, in] (overwritten): the adapter's share of the input gradient.
void ke_lora_up_masked(long rows, long in, long r, const float *t, const float *a, uint64_t key, float p, float *out);
// ga = tᵀ · dropout(x)  [r, in] (overwritten).
void ke_lora_grad_a(long rows, long in, long r, const float *t, const float *x, uint64_t key, float p, float *ga);

// ---- SwiGLU: y = silu(g) * u elementwise; backward gives both input gradients ----
void ke_swiglu_fwd(long n, const float *g, const float *u, float *y);
void ke_swiglu_bwd(long n, const float *g, const float *u, const float *gy, float *gg, float *gu);

// ---- rotary embedding ("rotate half", Llama) ----
// x: [n0, n1, n2, d] given by element strides xs (last dim dense); cos/sin: the same index space
// through strides cs (0 for broadcast dims), last dim dense; y: [n0, n1, n2, d] contiguous.
// backward = 0: y = x*cos + rotate_half(x)*sin; backward = 1 (x = output gradient): the input gradient.
void ke_rope_half(long n0, long n1, long n2, long d, const float *x, const long *xs, const float *cos_t,
                  const float *sin_t, const long *cs, float *y, int backward);

// ---- optimisers ----
void ke_adamw_step(long n, float *p, const float *g, float *m, float *v, float lr, float beta1,
                   float beta2, float eps, float weight_decay, float bias_c1, float bias_c2);

// ---- measurement ----
// FMA throughput of a tight register-resident loop, GFLOP/s summed over `threads` threads.
double ke_measure_fma_peak(int threads);

#ifdef __cplusplus
}
#endif
#endif
