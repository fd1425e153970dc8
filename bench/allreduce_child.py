#!/usr/bin/python3
"""One rank of bench/distributed_train.py's allreduce timing: run under
`mpirun -np K`, it times MPI_Allreduce (sum, in place) of COUNT floats with
Open MPI's libmpi.so.40 called through ctypes (its ABI, as
runtime/distributed/Mpi.cpp uses it), and rank 0 prints the median seconds.

usage: mpirun -np K python3 allreduce_child.py COUNT REPEATS
"""
import ctypes
import statistics
import sys
import time

count, repeats = int(sys.argv[1]), int(sys.argv[2])
mpi = ctypes.CDLL("libmpi.so.40", mode=ctypes.RTLD_GLOBAL)


def handle(name):
    return ctypes.c_void_p(ctypes.addressof(ctypes.c_char.in_dll(mpi, name)))


comm, float32, total = handle("ompi_mpi_comm_world"), handle("ompi_mpi_float"), handle("ompi_mpi_op_sum")
mpi.MPI_Init(None, None)
rank = ctypes.c_int()
mpi.MPI_Comm_rank(comm, ctypes.byref(rank))
buffer = (ctypes.c_float * count)()
times = []
for i in range(repeats + 3):
    mpi.MPI_Barrier(comm)
    start = time.perf_counter()
    mpi.MPI_Allreduce(ctypes.c_void_p(1), buffer, count, float32, total, comm)  # MPI_IN_PLACE is (void *)1
    if i >= 3:
        times.append(time.perf_counter() - start)
# Every rank's median is about the same; rank 0 reports.
if rank.value == 0:
    print(f"{statistics.median(times):.9f}")
mpi.MPI_Finalize()
