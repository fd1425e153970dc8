//===- Mpi.cpp - Open MPI, loaded with dlopen when launched by mpirun -----===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// See Mpi.h. libmpi is opened with dlopen, as the CUDA driver is (Cuda.cpp),
// so that model binaries carry no link dependency on MPI. The declarations
// below are Open MPI's ABI (libmpi.so.40, Open MPI 3.x to 5.x): its handles
// are pointers to predefined objects exported by the library
// (MPI_COMM_WORLD is &ompi_mpi_comm_world, MPI_FLOAT &ompi_mpi_float, ...),
// which dlsym finds. MPICH's ABI (integer handles) is a different one; it
// is not supported (docs/distributed.md).
//
// Collectives are started non-blocking (MPI_Iallreduce, MPI_Ibcast) and
// waited for with MPI_Test against a deadline: Open MPI 4 has no timeout of
// its own on a blocking collective, and a stopped rank would otherwise hang
// every other one. A rank that dies is mpirun's to notice: it ends the job
// and names the rank.
//
//===----------------------------------------------------------------------===//

#include "distributed/Mpi.h"

#include "ModelBinary.h"

#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <dlfcn.h>
#include <sched.h>

namespace kiln_distributed {
namespace {
// Open MPI's opaque handle types: all pointers.
using Comm = void *;
using Datatype = void *;
using Op = void *;
using Errhandler = void *;
using Request = void *;
void *const kInPlace = reinterpret_cast<void *>(1); // MPI_IN_PLACE
constexpr int kSuccess = 0;                         // MPI_SUCCESS
constexpr int kMaxErrorString = 256;                // MPI_MAX_ERROR_STRING
} // namespace

struct Mpi::Library {
  int (*init)(int *, char ***);
  int (*finalize)();
  int (*commRank)(Comm, int *);
  int (*commSize)(Comm, int *);
  int (*commSetErrhandler)(Comm, Errhandler);
  int (*iallreduce)(const void *, void *, int, Datatype, Op, Comm, Request *);
  int (*ibcast)(void *, int, Datatype, int, Comm, Request *);
  int (*test)(Request *, int *, void *);
  int (*abort)(Comm, int);
  int (*errorString)(int, char *, int *);
  Comm commWorld;
  Datatype floatType, byteType;
  Op sum;
  Errhandler errorsReturn;
};

namespace {
/// Opens libmpi and resolves what Mpi uses; fails naming what is missing.
const Mpi::Library &loadLibrary(const char *worldSize) {
  static Mpi::Library library;
  std::string launched = std::string("this process was started by mpirun (OMPI_COMM_WORLD_SIZE=") + worldSize + ")";
  // RTLD_GLOBAL: Open MPI's own plugins, which it dlopens in MPI_Init,
  // resolve their references to libmpi's symbols in the global scope.
  void *handle = dlopen("libmpi.so.40", RTLD_NOW | RTLD_GLOBAL);
  if (!handle)
    kiln_binary::fail(launched + ", but Open MPI's library could not be loaded (" + dlerror() +
                      "); install it (Debian: libopenmpi3), or run without mpirun to train in one process");
  auto resolve = [&](auto &slot, const char *name) {
    void *symbol = dlsym(handle, name);
    if (!symbol)
      kiln_binary::fail(launched + ", but libmpi.so.40 has no '" + name +
                        "': it is not Open MPI's library (docs/distributed.md lists what Kiln supports)");
    slot = reinterpret_cast<std::remove_reference_t<decltype(slot)>>(symbol);
  };
  resolve(library.init, "MPI_Init");
  resolve(library.finalize, "MPI_Finalize");
  resolve(library.commRank, "MPI_Comm_rank");
  resolve(library.commSize, "MPI_Comm_size");
  resolve(library.commSetErrhandler, "MPI_Comm_set_errhandler");
  resolve(library.iallreduce, "MPI_Iallreduce");
  resolve(library.ibcast, "MPI_Ibcast");
  resolve(library.test, "MPI_Test");
  resolve(library.abort, "MPI_Abort");
  resolve(library.errorString, "MPI_Error_string");
  resolve(library.commWorld, "ompi_mpi_comm_world");
  resolve(library.floatType, "ompi_mpi_float");
  resolve(library.byteType, "ompi_mpi_byte");
  resolve(library.sum, "ompi_mpi_op_sum");
  resolve(library.errorsReturn, "ompi_mpi_errors_return");
  return library;
}
} // namespace

std::unique_ptr<Mpi> Mpi::joinIfLaunched(double timeoutSeconds) {
  const char *worldSize = std::getenv("OMPI_COMM_WORLD_SIZE");
  if (!worldSize || std::atoi(worldSize) <= 1)
    return nullptr;
  const Library &mpi = loadLibrary(worldSize);
  if (int code = mpi.init(nullptr, nullptr); code != kSuccess)
    kiln_binary::fail("MPI_Init failed (error " + std::to_string(code) + ")");
  // Errors come back as codes (checked below) instead of ending the job
  // with MPI's generic message.
  mpi.commSetErrhandler(mpi.commWorld, mpi.errorsReturn);
  int rank = 0, size = 1;
  mpi.commRank(mpi.commWorld, &rank);
  mpi.commSize(mpi.commWorld, &size);
  return std::unique_ptr<Mpi>(new Mpi(mpi, rank, size, timeoutSeconds));
}

Mpi::~Mpi() { mpi_.finalize(); }

void Mpi::checkCode(int code, const char *call, const std::string &what) {
  if (code == kSuccess)
    return;
  char text[kMaxErrorString] = "";
  int length = 0;
  mpi_.errorString(code, text, &length);
  kiln_binary::fail(std::string(call) + " for " + what + " failed: " + text);
}

void Mpi::wait(void *request, const std::string &what) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeoutSeconds_);
  for (;;) {
    int done = 0;
    // MPI_STATUS_IGNORE is a null pointer in Open MPI.
    checkCode(mpi_.test(&request, &done, nullptr), "MPI_Test", what);
    if (done)
      return;
    if (std::chrono::steady_clock::now() > deadline)
      kiln_binary::fail(what + " waited more than " + std::to_string(int64_t(timeoutSeconds_)) +
                        " s for the other ranks (--mpi-timeout): a rank is stuck, stopped or much slower");
    // Give the core to a rank sharing it (mpirun --oversubscribe).
    sched_yield();
  }
}

void Mpi::allreduceSum(float *data, size_t count, const std::string &what) {
  // MPI counts are ints: a larger buffer goes in pieces.
  for (size_t done = 0; done < count;) {
    int piece = int(std::min<size_t>(count - done, INT_MAX));
    Request request = nullptr;
    checkCode(mpi_.iallreduce(kInPlace, data + done, piece, mpi_.floatType, mpi_.sum, mpi_.commWorld, &request),
              "MPI_Iallreduce", what);
    wait(request, what);
    done += size_t(piece);
  }
}

void Mpi::broadcast(void *data, size_t bytes, int root, const std::string &what) {
  char *bytesAt = static_cast<char *>(data);
  for (size_t done = 0; done < bytes;) {
    int piece = int(std::min<size_t>(bytes - done, INT_MAX));
    Request request = nullptr;
    checkCode(mpi_.ibcast(bytesAt + done, piece, mpi_.byteType, root, mpi_.commWorld, &request), "MPI_Ibcast", what);
    wait(request, what);
    done += size_t(piece);
  }
}

void Mpi::abort(const std::string &message) {
  std::fprintf(stderr, "%s\n", message.c_str());
  std::fflush(stderr);
  mpi_.abort(mpi_.commWorld, 1);
  std::_Exit(1); // MPI_Abort does not return; in case it does
}

} // namespace kiln_distributed
