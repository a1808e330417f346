// Caching allocator: blocks are rounded up to size classes (powers of two split in quarters)
// and kept in per-class free lists, so large activations do not page-fault on every step.
#include "cengine.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define NUM_CLASSES 256
// Most bytes the free lists keep (default 4 GiB; LLM2CLIP_ALLOC_CACHE_MB overrides it). A training
// step frees its whole graph at the end and the next step allocates it again: whatever does not
// fit in the cache page-faults (and is zeroed by the kernel) on every step, so a run whose graph
// is larger can raise it. With varying shapes (captions of different lengths) a large cache can
// fill with blocks of sizes that are not asked for again, hence the moderate default.
// MemoryStats.trimCache() returns the cache to the system.
static size_t cache_limit = 0;
static pthread_once_t limit_once = PTHREAD_ONCE_INIT;
static void init_limit(void) {
  size_t limit = (size_t)4 << 30;
  const char *env = getenv("LLM2CLIP_ALLOC_CACHE_MB");
  if (env && *env) {
    long mb = atol(env);
    if (mb >= 0) limit = (size_t)mb << 20;
  }
  cache_limit = limit;
}
#define CACHE_LIMIT cache_limit

typedef struct FreeBlock { struct FreeBlock *next; } FreeBlock;
static FreeBlock *free_lists[NUM_CLASSES];
static size_t cached_bytes = 0, live_bytes = 0;
// Bytes allocated minus bytes freed by the calling thread (can go negative when memory moves
// between threads); lets a test measure its own allocations while other tests run.
static __thread long thread_live_bytes = 0;
// Highest thread_live_bytes since the last ke_alloc_thread_peak_reset (activation-memory tests).
static __thread long thread_peak_bytes = 0;
static pthread_mutex_t alloc_mutex = PTHREAD_MUTEX_INITIALIZER;

// size class: 64-byte granules below 4 KiB; above, 4 steps per power of two.
static int size_class(size_t bytes, size_t *rounded) {
  if (bytes < 64) bytes = 64;
  if (bytes <= 4096) {
    size_t r = (bytes + 63) & ~(size_t)63;
    *rounded = r;
    return (int)(r / 64) - 1;                     // 0 ... 63
  }
  int p = 63 - __builtin_clzll((unsigned long long)(bytes - 1)); // 2^p < bytes <= 2^(p+1)
  size_t base = (size_t)1 << p, step = base / 4;
  size_t k = (bytes - base + step - 1) / step;    // 1 ... 4
  *rounded = base + k * step;
  int cls = 64 + (p - 12) * 4 + (int)(k - 1);
  return cls < NUM_CLASSES ? cls : -1;
}

void *ke_alloc(size_t bytes) {
  size_t rounded;
  int cls = size_class(bytes, &rounded);
  thread_live_bytes += (long)(cls >= 0 ? rounded : bytes);
  if (thread_live_bytes > thread_peak_bytes) thread_peak_bytes = thread_live_bytes;
  if (cls >= 0) {
    pthread_mutex_lock(&alloc_mutex);
    FreeBlock *b = free_lists[cls];
    if (b) { free_lists[cls] = b->next; cached_bytes -= rounded; }
    live_bytes += rounded;
    pthread_mutex_unlock(&alloc_mutex);
    if (b) return b;
  } else {
    rounded = bytes;
    pthread_mutex_lock(&alloc_mutex); live_bytes += rounded; pthread_mutex_unlock(&alloc_mutex);
  }
  void *p = NULL;
  size_t align = rounded >= ((size_t)2 << 20) ? ((size_t)2 << 20) : 64;
  if (posix_memalign(&p, align, rounded) != 0) return NULL;
#ifdef MADV_HUGEPAGE
  if (rounded >= ((size_t)4 << 20)) madvise(p, rounded, MADV_HUGEPAGE);
#endif
  return p;
}

void ke_free(void *ptr, size_t bytes) {
  if (!ptr) return;
  size_t rounded;
  int cls = size_class(bytes, &rounded);
  if (cls < 0) rounded = bytes;
  thread_live_bytes -= (long)rounded;
  pthread_once(&limit_once, init_limit);
  pthread_mutex_lock(&alloc_mutex);
  live_bytes -= rounded;
  if (cls >= 0 && cached_bytes + rounded <= CACHE_LIMIT) {
    FreeBlock *b = (FreeBlock *)ptr;
    b->next = free_lists[cls];
    free_lists[cls] = b;
    cached_bytes += rounded;
    ptr = NULL;
  }
  pthread_mutex_unlock(&alloc_mutex);
  if (ptr) free(ptr);
}

size_t ke_alloc_cached_bytes(void) {
  pthread_mutex_lock(&alloc_mutex); size_t c = cached_bytes; pthread_mutex_unlock(&alloc_mutex); return c;
}
size_t ke_alloc_live_bytes(void) {
  pthread_mutex_lock(&alloc_mutex); size_t c = live_bytes; pthread_mutex_unlock(&alloc_mutex); return c;
}

void ke_alloc_trim(void) {
  pthread_mutex_lock(&alloc_mutex);
  for (int i = 0; i < NUM_CLASSES; i++) {
    FreeBlock *b = free_lists[i];
    while (b) { FreeBlock *n = b->next; free(b); b = n; }
    free_lists[i] = NULL;
  }
  cached_bytes = 0;
  pthread_mutex_unlock(&alloc_mutex);
}
long ke_alloc_thread_live_bytes(void) { return thread_live_bytes; }
long ke_alloc_thread_peak_bytes(void) { return thread_peak_bytes; }
void ke_alloc_thread_peak_reset(void) { thread_peak_bytes = thread_live_bytes; }
