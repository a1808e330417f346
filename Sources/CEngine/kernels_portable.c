// Portable build of the kernels (baseline ISA of the target: SSE2 on x86-64, NEON on arm64).
#include "cengine.h"
#define KSUFFIX portable
#define KFMA(a, b, c) ((a) * (b) + (c))
#include "kernels_impl.h"
