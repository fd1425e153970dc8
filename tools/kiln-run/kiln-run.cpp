//===- kiln-run.cpp - Run a model's entry point through the JIT -----------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// `kiln-run FILE.kiln --model M --function predict|loss|grad --args
//  a.npy,b.npy,... --out-dir DIR` compiles FILE with kiln::Jit, calls
// `<M>_<function>` with the arrays given (every parameter, then the inputs,
// as in the calling convention) and writes each result to DIR/<result
// name>.npy (for grad: loss.npy, <metric>.npy, grad_<param>.npy). The numerical
// tests drive it to compare Kiln with PyTorch on the same weights and inputs.
//
//===----------------------------------------------------------------------===//

#include "kiln/Jit.h"
#include "kiln/runtime.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

#include <cstring>

using namespace llvm;

static cl::opt<std::string> inputFilename(cl::Positional, cl::desc("<model .kiln file>"), cl::Required);
static cl::opt<std::string> modelName("model", cl::desc("Model to run (default: the first)"), cl::init(""));
static cl::opt<std::string> functionName("function", cl::desc("Entry point: predict, loss or grad"),
                                         cl::init("predict"));
static cl::list<std::string> argFiles("args", cl::desc("Comma-separated .npy files: the parameters, then the inputs"),
                                      cl::CommaSeparated);
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

  auto jit = kiln::Jit::compileFile(inputFilename);
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

  auto results = (*jit)->call(model, functionName, args);
  if (!results)
    return fail(toString(results.takeError()));
  const kiln::ModelInfo *info = (*jit)->findModel(model);
  const kiln::FunctionInfo &entry = functionName == "loss"   ? *info->loss
                                    : functionName == "grad" ? *info->grad
                                                             : *info->predict;
  for (size_t i = 0; i < results->size(); ++i) {
    std::string path = outDir + "/" + entry.results[i].name + ".npy";
    if (Error error = writeNpy(path, (*results)[i]))
      return fail(toString(std::move(error)));
    outs() << path << "\n";
  }
  return 0;
}
