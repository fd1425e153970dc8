//===- kiln-run.cpp - Run a model's entry point through the JIT -----------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// `kiln-run FILE.kiln --model M --function predict|loss|grad|train_step|gather_<input>
//  --args a.npy,b.npy,... --out-dir DIR` compiles FILE with kiln::Jit, calls
// `<M>_<function>` with the arrays given (every parameter, then the inputs,
// as in the calling convention) and writes each result to DIR/<result
// name>.npy (for grad: loss.npy, <metric>.npy, grad_<param>.npy). The numerical
// tests drive it to compare Kiln with PyTorch on the same weights and inputs.
//
// For `train_step` the arguments are every parameter, then every optimizer
// state slot (in ModelInfo::state order: per parameter, its slots), then `lr`
// and `step` (rank-0 float32 arrays), then, for a model with dropout, `seed`
// (a rank-0 int32 array keying the masks), then the inputs. One optimizer step
// runs; besides the results (loss.npy, <metric>.npy) it writes every updated
// parameter as DIR/param_<name>.npy and every updated state slot as
// DIR/state_<param>_<slot>.npy (names kept as they are, dots included:
// param_dense_0.kernel.npy, state_dense_0.kernel_m.npy). Every path written
// is printed on stdout, one a line.
//
//===----------------------------------------------------------------------===//

#include "kiln/Jit.h"
#include "kiln/runtime.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

#include <cstring>

using namespace llvm;

static cl::opt<std::string> inputFilename(cl::Positional, cl::desc("<model .kiln file>"), cl::Required);
static cl::opt<std::string> modelName("model", cl::desc("Model to run (default: the first)"), cl::init(""));
static cl::opt<std::string> functionName("function",
                                         cl::desc("Entry point: predict, loss, grad, train_step or gather_<input>"),
                                         cl::init("predict"));
static cl::list<std::string>
    argFiles("args",
             cl::desc("Comma-separated .npy files: the parameters, (train_step: the state, lr, step,) the inputs"),
             cl::CommaSeparated);
static cl::opt<bool> emulateGpu("emulate-gpu",
                                cl::desc("Compile for the GPU (--target=cuda's lowering) and run the kernels as "
                                         "CPU loops, to test the GPU code generation without a GPU"));
static cl::opt<std::string> outDir("out-dir", cl::desc("Directory for the result .npy files"), cl::init("."));

namespace {
int fail(const Twine &message) {
  errs() << "kiln-run: error: " << message << "\n";
  return 1;
}

/// Reads a .npy file into a kiln::Tensor (f32 or i32).
Expected<kiln::Tensor> readNpy(const std::string &path) {
  kiln_tensor_t *raw = nullptr;
  if (kiln_status_t status = kiln_read_npy(path.c_str(), &raw)) {
    std::string message = kiln_status_message(status);
    kiln_status_free(status);
    return createStringError(inconvertibleErrorCode(), message);
  }
  kiln_dtype_t dtype = kiln_tensor_dtype(raw);
  if (dtype != KILN_F32 && dtype != KILN_I32) {
    kiln_tensor_free(raw);
    return createStringError(inconvertibleErrorCode(), path + ": only float32 and int32 arrays are model arguments");
  }
  const int64_t *shape = kiln_tensor_shape(raw);
  kiln::Tensor tensor(dtype == KILN_F32 ? kiln::ElementType::F32 : kiln::ElementType::I32,
                      std::vector<int64_t>(shape, shape + kiln_tensor_rank(raw)));
  std::memcpy(tensor.data(), kiln_tensor_data(raw), tensor.getNumElements() * 4);
  kiln_tensor_free(raw);
  return tensor;
}

Error writeNpy(const std::string &path, const kiln::Tensor &tensor) {
  kiln_tensor_t *raw = nullptr;
  const std::vector<int64_t> &shape = tensor.getShape();
  kiln_dtype_t dtype = tensor.getElementType() == kiln::ElementType::F32 ? KILN_F32 : KILN_I32;
  if (kiln_status_t status = kiln_tensor_create(dtype, int32_t(shape.size()), shape.data(), &raw)) {
    std::string message = kiln_status_message(status);
    kiln_status_free(status);
    return createStringError(inconvertibleErrorCode(), message);
  }
  std::memcpy(kiln_tensor_data(raw), tensor.data(), tensor.getNumElements() * 4);
  kiln_status_t status = kiln_write_npy(path.c_str(), raw);
  kiln_tensor_free(raw);
  if (status) {
    std::string message = kiln_status_message(status);
    kiln_status_free(status);
    return createStringError(inconvertibleErrorCode(), message);
  }
  return Error::success();
}
} // namespace

int main(int argc, char **argv) {
  InitLLVM initLLVM(argc, argv);
  cl::ParseCommandLineOptions(argc, argv, "kiln-run: run a Kiln model through the JIT\n");

  // Checked first: otherwise the error would come after compiling and
  // running, and name the temporary file the writer could not create.
  if (!sys::fs::is_directory(outDir))
    return fail("--out-dir '" + outDir + "' is not a directory");

  kiln::JitOptions jitOptions;
  jitOptions.emulateGpu = emulateGpu;
  auto jit = kiln::Jit::compileFile(inputFilename, jitOptions);
  if (!jit) {
    errs() << toString(jit.takeError());
    return 1;
  }
  if ((*jit)->getModels().empty())
    return fail("'" + inputFilename + "' has no model");
  std::string model = modelName.empty() ? (*jit)->getModels().front().name : modelName.getValue();

  std::vector<kiln::Tensor> tensors;
  for (const std::string &path : argFiles) {
    auto tensor = readNpy(path);
    if (!tensor)
      return fail(toString(tensor.takeError()));
    tensors.push_back(std::move(*tensor));
  }
  std::vector<const kiln::Tensor *> args;
  for (const kiln::Tensor &tensor : tensors)
    args.push_back(&tensor);

  // train_step updates the parameter and state arguments in place although
  // Jit::call takes `const Tensor *`: the tensors are ours (read above and
  // written out below), so letting the call write into them is fine.
  auto results = (*jit)->call(model, functionName, args);
  if (!results)
    return fail(toString(results.takeError()));
  const kiln::ModelInfo *info = (*jit)->findModel(model);
  // Result names: of gather_<input> the input's; else the function's.
  std::vector<std::string> resultNames;
  if (StringRef(functionName).starts_with("gather_")) {
    resultNames.push_back(StringRef(functionName).drop_front(7).str());
  } else {
    const kiln::FunctionInfo &entry = functionName == "loss"         ? *info->loss
                                      : functionName == "grad"       ? *info->grad
                                      : functionName == "train_step" ? *info->trainStep
                                                                     : *info->predict;
    for (const kiln::TensorInfo &result : entry.results)
      resultNames.push_back(result.name);
  }
  auto write = [&](const std::string &name, const kiln::Tensor &tensor) -> bool {
    std::string path = outDir + "/" + name + ".npy";
    if (Error error = writeNpy(path, tensor)) {
      fail(toString(std::move(error)));
      return false;
    }
    outs() << path << "\n";
    return true;
  };
  for (size_t i = 0; i < results->size(); ++i)
    if (!write(resultNames[i], (*results)[i]))
      return 1;
  if (functionName == "train_step") {
    // Jit::call checked the argument count: params, state, lr, step, inputs.
    size_t numParams = info->params.size();
    for (size_t p = 0; p < numParams; ++p)
      if (!write("param_" + info->params[p].name, tensors[p]))
        return 1;
    for (size_t s = 0; s < info->state.size(); ++s)
      if (!write("state_" + info->state[s].param + "_" + info->state[s].slot, tensors[numParams + s]))
        return 1;
  }
  return 0;
}
