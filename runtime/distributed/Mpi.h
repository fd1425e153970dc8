//===- Mpi.h - The ranks of an mpirun launch, through Open MPI -*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// The few collectives data-parallel training needs (DataParallel.cpp), on
// Open MPI's libmpi loaded with dlopen only when the process was started by
// `mpirun`: a model binary links nothing of MPI and runs where it is not
// installed (docs/distributed.md says why, and what this supports).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_DISTRIBUTED_MPI_H
#define KILN_RUNTIME_DISTRIBUTED_MPI_H

#include <cstddef>
#include <memory>
#include <string>

namespace kiln_distributed {

/// One process's place in an MPI job (MPI_COMM_WORLD). Every call is a
/// collective that all ranks make in the same order; each waits at most
/// `timeoutSeconds` for the other ranks and then fails (kiln_binary::fail),
/// naming this rank, so that a stuck rank ends the job instead of hanging it.
class Mpi {
public:
  /// Joins the job when the process was started by Open MPI's mpirun with
  /// more than one process (OMPI_COMM_WORLD_SIZE > 1); otherwise returns
  /// null (a single process, MPI not loaded). Fails if libmpi cannot be
  /// loaded or initialized.
  static std::unique_ptr<Mpi> joinIfLaunched(double timeoutSeconds);
  ~Mpi(); ///< MPI_Finalize

  int rank() const { return rank_; }
  int size() const { return size_; }

  /// Sums `data[0, count)` over all ranks, in place. `what` names the
  /// collective in a timeout's message ("the gradients of step 12").
  void allreduceSum(float *data, size_t count, const std::string &what);
  /// Copies `bytes` bytes at `data` from rank `root` to every rank.
  void broadcast(void *data, size_t bytes, int root, const std::string &what);
  /// Prints `message` to stderr and ends the whole job (MPI_Abort): the
  /// way a rank reports an error without leaving the others waiting.
  [[noreturn]] void abort(const std::string &message);

  struct Library; ///< the resolved libmpi entry points (Mpi.cpp)

private:
  Mpi(const Library &mpi, int rank, int size, double timeoutSeconds)
      : mpi_(mpi), rank_(rank), size_(size), timeoutSeconds_(timeoutSeconds) {}
  /// Waits for a started non-blocking collective, failing after the timeout.
  void wait(void *request, const std::string &what);
  /// Fails with `call`'s error message if `code` is not MPI_SUCCESS.
  void checkCode(int code, const char *call, const std::string &what);

  const Library &mpi_;
  int rank_, size_;
  double timeoutSeconds_;
};

} // namespace kiln_distributed

#endif // KILN_RUNTIME_DISTRIBUTED_MPI_H
