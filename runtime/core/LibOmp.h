//===- LibOmp.h - The libomp functions the runtime and server call -------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// Compiled code's parallel loops are OpenMP parallel regions run by libomp
// (Debian's libomp-22-dev), so the thread count is libomp's. These are the
// entry points the runtime (Threads.cpp) and the server (EventLoop.cpp,
// Batcher.cpp) call, declared here once instead of including omp.h: the
// runtime builds with any compiler, whose omp.h may belong to another
// OpenMP runtime. kmp_set_blocktime is a libomp extension.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_CORE_LIBOMP_H
#define KILN_RUNTIME_CORE_LIBOMP_H

extern "C" {
void omp_set_num_threads(int num_threads);
int omp_get_max_threads(void);
/// How long (ms) a worker spins after a parallel region before it sleeps.
void kmp_set_blocktime(int milliseconds);
}

#endif // KILN_RUNTIME_CORE_LIBOMP_H
