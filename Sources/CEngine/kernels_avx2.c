// AVX2+FMA build of the kernels, enabled per function (no global compiler flags), chosen at run
// time by dispatch.c when the CPU supports both.
#if defined(__x86_64__)
#include "cengine.h"
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#define KSUFFIX avx2
#define KFMA(a, b, c) __builtin_fmaf((a), (b), (c))
#include "kernels_impl.h"
#pragma clang attribute pop
#endif
