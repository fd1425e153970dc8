/*===- BufferCache.c - The allocator every compiled Kiln module carries ---===//
 *
 * Part of Kiln, an ML model language compiled via MLIR.
 *
 *===----------------------------------------------------------------------===//
 *
 * Compiled Kiln code allocates its intermediate buffers with memref.alloc,
 * which the CPU pipeline lowers (finalize-memref-to-llvm with
 * use-generic-functions) to calls of the two functions below. glibc serves
 * large blocks with mmap and unmaps them on free, so a model whose
 * activations are megabytes would map, page-fault and zero all of them
 * again on every training step or prediction (on a VM, that was 40% of a
 * FashionCnn step). This cache keeps freed large blocks and hands them back
 * to the next allocation of the same size class, so after the first call at
 * a given batch size, train_step, grad and predict allocate nothing.
 *
 * This file is not part of any library: the build compiles it to LLVM IR,
 * which kilnc and the JIT link into every module they compile, with internal
 * linkage (codegen/ObjectEmitter.cpp, linkBufferCache). So objects, shared
 * libraries, model binaries and JIT code each carry their own cache and need
 * nothing beyond libc. That is also why it is C with C11 atomics: no TLS, no
 * locks, no C++ runtime.
 *
 * Design:
 * - Blocks of at least KILN_CACHE_MIN_BYTES are rounded up to a size class
 *   (four per power of two: at most 25% slack) and allocated 64-byte aligned
 *   (whole cache lines for AVX-512 loads).
 * - A free block goes into one of KILN_CACHE_SLOTS lock-free slots of its
 *   class (found from malloc_usable_size, so a block the caller frees with
 *   plain free() is also fine: the runtime frees returned results that way).
 *   If all slots are taken it is freed for real: the cache holds at most
 *   KILN_CACHE_SLOTS blocks per class, which bounds what it keeps to the
 *   program's own peak use of that class.
 * - Smaller blocks go straight to malloc/free: glibc serves them from its
 *   heap and per-thread caches without system calls.
 *
 *===----------------------------------------------------------------------===*/

/* posix_memalign and malloc_usable_size (glibc). */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

enum {
  /* glibc's smallest mmap threshold is 128 KiB; half of it leaves margin. */
  KILN_CACHE_MIN_LOG2 = 16,
  KILN_CACHE_MIN_BYTES = 1 << KILN_CACHE_MIN_LOG2,
  KILN_CACHE_CLASSES_PER_OCTAVE = 4,
  /* Classes from 64 KiB up to 2^48 bytes. */
  KILN_CACHE_NUM_CLASSES = (48 - KILN_CACHE_MIN_LOG2) * KILN_CACHE_CLASSES_PER_OCTAVE,
  KILN_CACHE_SLOTS = 16,
  KILN_CACHE_ALIGNMENT = 64,
};

static _Atomic(void *) kiln_cache_slots[KILN_CACHE_NUM_CLASSES][KILN_CACHE_SLOTS];

static unsigned kiln_log2_floor(size_t n) { return 63u - (unsigned)__builtin_clzll((unsigned long long)n); }

/* Bytes of class `c`. */
static size_t kiln_class_size(unsigned c) {
  unsigned octave = c / KILN_CACHE_CLASSES_PER_OCTAVE + KILN_CACHE_MIN_LOG2;
  size_t base = (size_t)1 << octave;
  return base + (c % KILN_CACHE_CLASSES_PER_OCTAVE) * (base / KILN_CACHE_CLASSES_PER_OCTAVE);
}

/* The largest class whose size is <= n (n >= KILN_CACHE_MIN_BYTES). */
static unsigned kiln_class_floor(size_t n) {
  unsigned octave = kiln_log2_floor(n);
  size_t base = (size_t)1 << octave;
  unsigned sub = (unsigned)((n - base) / (base / KILN_CACHE_CLASSES_PER_OCTAVE));
  return (octave - KILN_CACHE_MIN_LOG2) * KILN_CACHE_CLASSES_PER_OCTAVE + sub;
}

/* The smallest class whose size is >= n. */
static unsigned kiln_class_ceil(size_t n) {
  unsigned c = kiln_class_floor(n);
  return kiln_class_size(c) < n ? c + 1 : c;
}

void *_mlir_memref_to_llvm_alloc(size_t size) {
  if (size < KILN_CACHE_MIN_BYTES)
    return malloc(size);
  unsigned c = kiln_class_ceil(size);
  if (c >= KILN_CACHE_NUM_CLASSES)
    return NULL;
  for (unsigned s = 0; s < KILN_CACHE_SLOTS; ++s) {
    _Atomic(void *) *slot = &kiln_cache_slots[c][s];
    if (atomic_load_explicit(slot, memory_order_relaxed)) {
      void *block = atomic_exchange_explicit(slot, NULL, memory_order_acquire);
      if (block)
        return block;
    }
  }
  void *block = NULL;
  if (posix_memalign(&block, KILN_CACHE_ALIGNMENT, kiln_class_size(c)) != 0)
    return NULL;
  return block;
}

void _mlir_memref_to_llvm_free(void *block) {
  if (!block)
    return;
  size_t usable = malloc_usable_size(block);
  if (usable < KILN_CACHE_MIN_BYTES) {
    free(block);
    return;
  }
  unsigned c = kiln_class_floor(usable);
  if (c < KILN_CACHE_NUM_CLASSES) {
    for (unsigned s = 0; s < KILN_CACHE_SLOTS; ++s) {
      _Atomic(void *) *slot = &kiln_cache_slots[c][s];
      void *empty = NULL;
      if (!atomic_load_explicit(slot, memory_order_relaxed) &&
          atomic_compare_exchange_strong_explicit(slot, &empty, block, memory_order_release, memory_order_relaxed))
        return;
    }
  }
  free(block);
}
