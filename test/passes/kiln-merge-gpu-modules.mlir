// RUN: kiln-opt --kiln-merge-gpu-modules %s | FileCheck %s
//
// gpu-kernel-outlining's one-module-per-kernel output becomes one module;
// kernels take their (unique) module names, launches follow.

module attributes {gpu.container_module} {
  func.func @f(%n: index) {
    gpu.launch_func @f_kernel::@f_kernel blocks in (%n, %n, %n) threads in (%n, %n, %n)
    gpu.launch_func @f_kernel_0::@f_kernel blocks in (%n, %n, %n) threads in (%n, %n, %n)
    return
  }
  gpu.module @f_kernel {
    gpu.func @f_kernel() kernel {
      gpu.return
    }
  }
  gpu.module @f_kernel_0 {
    gpu.func @f_kernel() kernel {
      gpu.return
    }
  }
}

// CHECK:     gpu.launch_func @f_kernel::@f_kernel blocks
// CHECK:     gpu.launch_func @f_kernel::@f_kernel_0 blocks
// CHECK:     gpu.module @f_kernel {
// CHECK:       gpu.func @f_kernel() kernel
// CHECK:       gpu.func @f_kernel_0() kernel
// CHECK-NOT: gpu.module
