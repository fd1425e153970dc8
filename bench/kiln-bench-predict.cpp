//===- kiln-bench-predict.cpp - Time a model's predict through the JIT ----===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// `kiln-bench-predict FILE.kiln --batch 1,256 --reps 20 [--input X.f32]
//  [--params P.f32] [--dump-output OUT.f32]` compiles FILE with kiln::Jit,
// gives the first model's parameters (random, or read from a raw float32
// file in declaration order) and one input batch (random in [0, 1), or raw
// float32 images, repeated to fill the batch), calls `predict` once to warm
// up, then times `reps` calls per batch size and prints one line per batch:
//
//   kiln batch=256 reps=20 median_ms=... images_per_s=...
//
// bench/predict_vs_torch.py drives it next to PyTorch. Single-threaded, like
// the code Kiln generates today.
//
//===----------------------------------------------------------------------===//

#include "kiln/Jit.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <random>

using namespace llvm;

static cl::opt<std::string> inputFilename(cl::Positional, cl::desc("<model .kiln file>"), cl::Required);
static cl::list<int64_t> batches("batch", cl::desc("Comma-separated batch sizes"), cl::CommaSeparated);
static cl::opt<unsigned> reps("reps", cl::desc("Timed calls per batch size"), cl::init(20));
static cl::opt<std::string> inputFile("input", cl::desc("Raw float32 input samples (repeated to fill a batch)"),
                                      cl::init(""));
static cl::opt<std::string> paramsFile("params", cl::desc("Raw float32 parameters, in declaration order"),
                                       cl::init(""));
static cl::opt<std::string>
    dumpOutput("dump-output", cl::desc("Write the first result of the first batch as raw float32"), cl::init(""));

namespace {
int fail(const Twine &message) {
  errs() << "kiln-bench-predict: error: " << message << "\n";
  return 1;
}

std::vector<float> readFloats(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<float> values(bytes.size() / sizeof(float));
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
  return values;
}

int64_t product(const std::vector<int64_t> &shape, int64_t batch) {
  int64_t count = 1;
  for (int64_t dim : shape)
    count *= dim == kiln::kBatchDim ? batch : dim;
  return count;
}
} // namespace

int main(int argc, char **argv) {
  InitLLVM initLLVM(argc, argv);
  cl::ParseCommandLineOptions(argc, argv, "Kiln predict benchmark\n");
  if (batches.empty())
    batches.push_back(1);

  auto compileStart = std::chrono::steady_clock::now();
  auto jit = kiln::Jit::compileFile(inputFilename);
  if (!jit)
    return fail(toString(jit.takeError()));
  double compileMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - compileStart).count();
  if ((*jit)->getModels().empty())
    return fail("no model in " + inputFilename);
  const kiln::ModelInfo &model = (*jit)->getModels().front();
  if (!model.predict)
    return fail("model " + model.name + " has no predict");
  if (model.predict->inputs.size() != 1)
    return fail("predict must take exactly one input");
  outs() << "kiln compile_ms=" << format("%.1f", compileMs) << "\n";

  std::mt19937 rng(1234);
  std::vector<float> paramValues;
  if (!paramsFile.empty())
    paramValues = readFloats(paramsFile);
  size_t paramOffset = 0;
  std::vector<kiln::Tensor> params;
  for (const kiln::ParamInfo &param : model.params) {
    kiln::Tensor tensor(kiln::ElementType::F32, param.shape);
    int64_t count = tensor.getNumElements();
    if (!paramValues.empty()) {
      if (paramOffset + count > paramValues.size())
        return fail("too few values in " + paramsFile);
      std::copy_n(paramValues.begin() + paramOffset, count, tensor.f32());
      paramOffset += count;
    } else {
      std::normal_distribution<float> normal(0.0f, 0.05f);
      std::generate_n(tensor.f32(), count, [&] { return normal(rng); });
    }
    params.push_back(std::move(tensor));
  }

  const kiln::TensorInfo &inputInfo = model.predict->inputs.front();
  int64_t sampleSize = product(inputInfo.shape, 1);
  std::vector<float> samples;
  if (!inputFile.empty())
    samples = readFloats(inputFile);
  if (samples.empty()) {
    std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
    samples.resize(sampleSize * 256);
    std::generate(samples.begin(), samples.end(), [&] { return uniform(rng); });
  }
  int64_t sampleCount = int64_t(samples.size()) / sampleSize;
  if (sampleCount == 0)
    return fail("the input holds less than one sample");

  bool dumped = false;
  for (int64_t batch : batches) {
    std::vector<int64_t> shape = inputInfo.shape;
    for (int64_t &dim : shape)
      if (dim == kiln::kBatchDim)
        dim = batch;
    kiln::Tensor input(kiln::ElementType::F32, shape);
    for (int64_t i = 0; i < batch; ++i)
      std::copy_n(samples.begin() + (i % sampleCount) * sampleSize, sampleSize, input.f32() + i * sampleSize);
    SmallVector<const kiln::Tensor *> args;
    for (const kiln::Tensor &param : params)
      args.push_back(&param);
    args.push_back(&input);

    auto warmup = (*jit)->call(model.name, "predict", args);
    if (!warmup)
      return fail(toString(warmup.takeError()));
    if (!dumpOutput.empty() && !dumped) {
      const kiln::Tensor &result = warmup->front();
      std::ofstream out(dumpOutput, std::ios::binary);
      out.write(static_cast<const char *>(result.data()), result.getNumElements() * sizeof(float));
      dumped = true;
    }

    std::vector<double> times;
    for (unsigned r = 0; r < reps; ++r) {
      auto start = std::chrono::steady_clock::now();
      auto result = (*jit)->call(model.name, "predict", args);
      auto stop = std::chrono::steady_clock::now();
      if (!result)
        return fail(toString(result.takeError()));
      times.push_back(std::chrono::duration<double>(stop - start).count());
    }
    std::sort(times.begin(), times.end());
    double median = times[times.size() / 2];
    outs() << "kiln batch=" << batch << " reps=" << reps << " median_ms=" << format("%.3f", median * 1e3)
           << " images_per_s=" << format("%.1f", batch / median) << "\n";
  }
  return 0;
}
