//===- Threads.cpp - The thread count of compiled code -------------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// kiln_set_num_threads / kiln_get_num_threads (runtime.h). Compiled code's
// parallel loops are OpenMP parallel regions (convert-scf-to-openmp), so
// the count is libomp's; this file only decides what the default is
// (KILN_NUM_THREADS, else the CPUs of the affinity mask) and validates it.
//
//===----------------------------------------------------------------------===//

#include "core/Internal.h"
#include "core/LibOmp.h"

#include <sched.h>

#include <cerrno>
#include <cstdlib>

namespace {
/// The CPUs this process may run on.
int32_t affinityCpuCount() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0)
    return 1;
  int count = CPU_COUNT(&set);
  return count > 0 ? count : 1;
}
} // namespace

extern "C" kiln_status_t kiln_set_num_threads(int32_t num_threads) {
  if (num_threads < 0)
    return kiln_status_create(KILN_STATUS_INVALID_ARGUMENT,
                              "the thread count must be positive (0: the default), not %d", int(num_threads));
  if (num_threads == 0) {
    num_threads = affinityCpuCount();
    if (const char *text = std::getenv("KILN_NUM_THREADS"); text && *text) {
      char *end = nullptr;
      errno = 0;
      long value = std::strtol(text, &end, 10);
      if (errno || *end || value < 1 || value > 4096)
        return kiln_status_create(KILN_STATUS_INVALID_ARGUMENT,
                                  "KILN_NUM_THREADS must be a positive integer (at most 4096), not '%s'", text);
      num_threads = int32_t(value);
    }
  }
  omp_set_num_threads(num_threads);
  return nullptr;
}

extern "C" int32_t kiln_get_num_threads(void) { return omp_get_max_threads(); }
