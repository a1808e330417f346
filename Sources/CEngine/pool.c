// Thread pool: (threads - 1) workers plus the calling thread take task indices from one atomic
// counter. Workers spin briefly, then sleep on a condition variable between jobs.
#include "cengine.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>
#include <sched.h>

#define KE_MAX_THREADS 64

static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t pool_mutex = PTHREAD_MUTEX_INITIALIZER;   // serialises jobs
static pthread_mutex_t wake_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cond = PTHREAD_COND_INITIALIZER;
static int pool_workers = 0;          // started worker threads
static int active_threads = 1;        // threads used per job (<= pool_workers + 1)
static _Atomic long job_generation = 0;
static ke_task_fn job_fn;
static void *job_ctx;
static long job_tasks;
static _Atomic long job_next;
static _Atomic long job_done;
static _Atomic int job_participants;  // workers allowed to join this job
// Generation of the job whose fields (fn, ctx, tasks) are valid, or 0 between jobs. A worker
// announces itself in `job_busy` before checking it, and the caller closes the job and waits for
// `job_busy` to drain before returning: so no worker can read a finished job's context (which
// lives on the caller's stack) or a half-written next job.
static _Atomic long job_open = 0;
static _Atomic int job_busy = 0;
static __thread int in_pool_task = 0;

static void run_tasks(void) {
  for (;;) {
    long t = atomic_fetch_add(&job_next, 1);
    if (t >= job_tasks) break;
    job_fn(job_ctx, t);
    atomic_fetch_add(&job_done, 1);
  }
}

static void *worker_main(void *arg) {
  int index = (int)(long)arg;
  long seen = 0;
  in_pool_task = 1;
  for (;;) {
    long gen;
    int spins = 0;
    while ((gen = atomic_load(&job_generation)) == seen) {
      if (++spins < 20000) { sched_yield(); continue; }
      pthread_mutex_lock(&wake_mutex);
      while ((gen = atomic_load(&job_generation)) == seen) pthread_cond_wait(&wake_cond, &wake_mutex);
      pthread_mutex_unlock(&wake_mutex);
      break;
    }
    seen = gen;
    if (index < atomic_load(&job_participants)) {
      atomic_fetch_add(&job_busy, 1);
      if (atomic_load(&job_open) == gen) run_tasks();
      atomic_fetch_sub(&job_busy, 1);
    }
  }
  return NULL;
}

static void pool_init(void) {
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  const char *env = getenv("LLM2CLIP_THREADS");
  if (env && atoi(env) > 0) cores = atoi(env);
  if (cores < 1) cores = 1;
  if (cores > KE_MAX_THREADS) cores = KE_MAX_THREADS;
  active_threads = (int)cores;
  pool_workers = (int)cores - 1;
  for (int i = 0; i < pool_workers; i++) {
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 1 << 20);
    pthread_create(&th, &attr, worker_main, (void *)(long)i);
    pthread_detach(th);
    pthread_attr_destroy(&attr);
  }
}

int ke_num_threads(void) { pthread_once(&pool_once, pool_init); return active_threads; }

void ke_set_num_threads(int n) {
  pthread_once(&pool_once, pool_init);
  if (n < 1) n = 1;
  if (n > pool_workers + 1) n = pool_workers + 1;
  active_threads = n;
}

void ke_parallel_for(long ntasks, ke_task_fn fn, void *ctx) {
  if (ntasks <= 0) return;
  pthread_once(&pool_once, pool_init);
  // Nested calls and single-threaded settings run inline: never oversubscribe the cores.
  if (ntasks == 1 || active_threads == 1 || in_pool_task) {
    for (long t = 0; t < ntasks; t++) fn(ctx, t);
    return;
  }
  pthread_mutex_lock(&pool_mutex);
  job_fn = fn; job_ctx = ctx; job_tasks = ntasks;
  atomic_store(&job_next, 0);
  atomic_store(&job_done, 0);
  atomic_store(&job_participants, active_threads - 1);
  pthread_mutex_lock(&wake_mutex);
  long gen = atomic_load(&job_generation) + 1;
  atomic_store(&job_open, gen);
  atomic_store(&job_generation, gen);
  pthread_cond_broadcast(&wake_cond);
  pthread_mutex_unlock(&wake_mutex);
  in_pool_task = 1;
  run_tasks();
  in_pool_task = 0;
  while (atomic_load(&job_done) < ntasks) sched_yield();
  atomic_store(&job_open, 0);
  while (atomic_load(&job_busy) > 0) sched_yield();
  pthread_mutex_unlock(&pool_mutex);
}
