# lit configuration for Kiln: finds kilnc, kiln-opt and FileCheck, and runs
# every .mlir / .kiln / .test file under test/ (docs/building.md says how
# to run them; docs/reliability.md maps promises to tests).
import os
import platform

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "KILN"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".kiln", ".test"]
config.excludes = ["CMakeLists.txt", "README.md", "lit.cfg.py", "lit.site.cfg.py", "Inputs", "unit"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.kiln_obj_root, "test")

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%kiln_src_root", config.kiln_src_root))
config.substitutions.append(("%kiln_obj_root", config.kiln_obj_root))
config.substitutions.append(("%python", "/usr/bin/python3"))
# The C compiler the end-to-end tests build their C programs with.
config.substitutions.append(("%cc", "clang-22"))
# What a C program linking a Kiln object adds: the OpenMP runtime that its
# parallel loops call (docs/artifacts.md).
omp_dir = config.kiln_omp_library_dir
config.substitutions.append(("%omp_link", f"-L{omp_dir} -lomp -Wl,-rpath,{omp_dir}"))

llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])
llvm_config.use_default_substitutions()

tool_dirs = [config.kiln_tools_dir, config.llvm_tools_dir]
tools = ["kilnc", "kiln-opt", "kiln-run", "kiln-runtime-tool", ToolSubst("FileCheck", unresolved="fatal")]
llvm_config.add_tool_substitutions(tools, tool_dirs)
llvm_config.with_environment("PATH", config.kiln_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)

# GPU tests: ptxas (from CUDA_HOME or /usr/local/cuda) checks the PTX kilnc
# emits; `cuda-driver` marks a machine where libcuda.so.1 loads (a model
# binary built for the GPU would then run instead of refusing).
cuda_home = os.environ.get("CUDA_HOME", "/usr/local/cuda")
ptxas = os.path.join(cuda_home, "bin", "ptxas")
if os.access(ptxas, os.X_OK):
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))
try:
    import ctypes
    ctypes.CDLL("libcuda.so.1")
    config.available_features.add("cuda-driver")
except OSError:
    pass

# The serving page's test drives headless Chromium (Debian's chromium, which
# scripts/setup.sh installs) over its DevTools protocol.
if os.access("/usr/bin/chromium", os.X_OK):
    config.available_features.add("chromium")

# The full-disk test mounts a small tmpfs in a private mount namespace
# (`unshare -rm`: no root needed where user namespaces are allowed, and
# nothing outside the test sees the mount): `small-tmpfs` marks a machine
# where that works.
import subprocess
import tempfile
with tempfile.TemporaryDirectory() as probe:
    try:
        mounted = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {probe}"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        mounted = False
if mounted:
    config.available_features.add("small-tmpfs")

# MXCSR (FTZ/DAZ) exists on x86 only: test/e2e/denormals.test.
if platform.machine().lower() in ("x86_64", "amd64", "i386", "i686"):
    config.available_features.add("x86")

# Data-parallel training runs under Open MPI's mpirun (openmpi-bin, which
# scripts/setup.sh installs); model binaries load libmpi.so.40 themselves.
try:
    import ctypes
    ctypes.CDLL("libmpi.so.40")
    has_libmpi = True
except OSError:
    has_libmpi = False
if os.access("/usr/bin/mpirun", os.X_OK) and has_libmpi:
    config.available_features.add("mpi")
else:
    lit_config.note("Open MPI (mpirun and libmpi.so.40) is not installed: the distributed tests are skipped "
                    "(Debian: apt-get install openmpi-bin)")
