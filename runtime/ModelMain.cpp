//===- ModelMain.cpp - main() of a standalone Kiln model binary -----------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// `kilnc model.kiln --emit=exe` links the model's object file with this
// library. The object defines `kiln_main_model`, a descriptor holding the
// model's metadata as JSON and its packed entry points (see
// codegen/ObjectEmitter.cpp); this file is the generic command line around
// them:
//
//   MODEL info
//   MODEL predict --input X.(npy|csv|idx[.gz]) [--weights W.safetensors]
//                 [--output Y.npy] [--columns a,b,...] [--batch B] [--seed S]
//                 [--show K]
//
// Without --weights, parameters get the model's seeded initializers (the
// same values for the same --seed on any machine). Unsigned-byte inputs
// (IDX images) are scaled to [0, 1], as the Keras examples do.
//
// Command-line parsing is CLI11 (Debian's libcli11-dev), which needs C++
// exceptions: this file is built with -fexceptions; none escapes main.
//
//===----------------------------------------------------------------------===//

#include "kiln/runtime.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {
/// What kilnc emits per model (ObjectEmitter.cpp).
struct ModelDescriptor {
  const char *json;
  kiln_packed_fn_t predict;
  kiln_packed_fn_t loss;
};
} // namespace

extern "C" const ModelDescriptor *const kiln_main_model;

namespace {
using json = nlohmann::json;

struct TensorDeleter {
  void operator()(kiln_tensor_t *tensor) const { kiln_tensor_free(tensor); }
};
using TensorPtr = std::unique_ptr<kiln_tensor_t, TensorDeleter>;

std::string programName = "model";

[[noreturn]] void fail(const std::string &message) {
  std::fprintf(stderr, "%s: error: %s\n", programName.c_str(), message.c_str());
  std::exit(1);
}

void check(kiln_status_t status) {
  if (!status)
    return;
  std::string message = kiln_status_message(status);
  kiln_status_free(status);
  fail(message);
}

std::vector<int64_t> shapeOf(const json &tensor) { return tensor.at("shape").get<std::vector<int64_t>>(); }

std::string formatShape(const std::vector<int64_t> &shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") + (shape[i] < 0 ? std::string("N") : std::to_string(shape[i]));
  return text + "]";
}

std::string formatTensorType(const json &tensor) {
  std::string type = tensor.at("dtype").get<std::string>();
  std::vector<int64_t> shape = shapeOf(tensor);
  return shape.empty() ? type : type + formatShape(shape);
}

kiln_init_kind_t initKind(const std::string &name) {
  if (name == "zeros")
    return KILN_INIT_ZEROS;
  if (name == "ones")
    return KILN_INIT_ONES;
  if (name == "glorot_uniform")
    return KILN_INIT_GLOROT_UNIFORM;
  return KILN_INIT_CONSTANT;
}

void printInfo(const json &model) {
  std::printf("model %s\n", model.at("name").get<std::string>().c_str());
  auto printTensors = [](const char *title, const json &tensors) {
    std::printf("  %s:\n", title);
    for (const json &tensor : tensors)
      std::printf("    %-18s %s\n", tensor.at("name").get<std::string>().c_str(), formatTensorType(tensor).c_str());
  };
  if (model.contains("predict")) {
    printTensors("inputs", model["predict"]["inputs"]);
    printTensors("outputs", model["predict"]["results"]);
  }
  if (model.contains("loss")) {
    printTensors("training inputs", model["loss"]["inputs"]);
    printTensors("loss and metrics", model["loss"]["results"]);
  }
  int64_t total = 0;
  for (const json &param : model.at("params")) {
    int64_t count = 1;
    for (int64_t dim : shapeOf(param))
      count *= dim;
    total += count;
  }
  std::printf("  parameters: %zu tensors, %lld values\n", model.at("params").size(), (long long)total);
  for (const json &param : model.at("params"))
    std::printf("    %-18s f32%-18s %s\n", param.at("name").get<std::string>().c_str(),
                formatShape(shapeOf(param)).c_str(), param.at("init").get<std::string>().c_str());
  if (model.contains("optimizer")) {
    std::printf("  optimizer: %s(", model["optimizer"]["name"].get<std::string>().c_str());
    bool first = true;
    for (auto &[name, value] : model["optimizer"]["hyperparameters"].items()) {
      std::printf("%s%s = %g", first ? "" : ", ", name.c_str(), value.get<double>());
      first = false;
    }
    std::printf(")\n");
  }
}

/// The model's parameters: from a safetensors file, or seeded initializers.
std::vector<TensorPtr> loadParams(const json &model, const std::string &weights, uint64_t seed) {
  kiln_checkpoint_t *checkpoint = nullptr;
  if (!weights.empty())
    check(kiln_checkpoint_load(weights.c_str(), &checkpoint));
  std::vector<TensorPtr> params;
  for (const json &param : model.at("params")) {
    std::vector<int64_t> shape = shapeOf(param);
    std::string name = param.at("name").get<std::string>();
    kiln_tensor_t *tensor = nullptr;
    check(kiln_tensor_create(KILN_F32, int32_t(shape.size()), shape.data(), &tensor));
    params.emplace_back(tensor);
    if (checkpoint) {
      if (!kiln_checkpoint_find(checkpoint, name.c_str())) {
        kiln_checkpoint_free(checkpoint);
        fail(weights + ": no tensor '" + name + "', a parameter of the model (f32" + formatShape(shape) + ")");
      }
      check(kiln_checkpoint_copy_to(checkpoint, name.c_str(), tensor));
    } else {
      check(kiln_init_param(tensor, initKind(param.at("init").get<std::string>()), param.value("value", 0.0), seed,
                            name.c_str()));
    }
  }
  kiln_checkpoint_free(checkpoint);
  return params;
}

bool endsWith(const std::string &text, const std::string &suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// Reads one input file and converts it to what the model input expects:
/// dtype `f32` or `i32`, [n, per-example shape].
TensorPtr readInput(const std::string &path, const json &input, const std::vector<std::string> &columns) {
  kiln_tensor_t *raw = nullptr;
  if (endsWith(path, ".npy")) {
    check(kiln_read_npy(path.c_str(), &raw));
  } else if (endsWith(path, ".csv")) {
    if (columns.empty())
      fail(path + ": a CSV input needs --columns naming, in order, the columns that form input '" +
           input.at("name").get<std::string>() + "'");
    std::vector<const char *> names;
    for (const std::string &column : columns)
      names.push_back(column.c_str());
    check(kiln_read_csv(path.c_str(), names.data(), names.size(), &raw));
  } else {
    check(kiln_read_idx(path.c_str(), &raw));
  }
  TensorPtr file(raw);
  std::vector<int64_t> want = shapeOf(input);
  std::string name = input.at("name").get<std::string>();
  int64_t perExample = 1;
  for (size_t d = 1; d < want.size(); ++d)
    perExample *= want[d];
  int32_t rank = kiln_tensor_rank(raw);
  const int64_t *shape = kiln_tensor_shape(raw);
  int64_t count = rank ? shape[0] : 1;
  int64_t fileShapeCount = 1;
  for (int32_t d = 1; d < rank; ++d)
    fileShapeCount *= shape[d];
  if (rank == 0 || fileShapeCount != perExample) {
    std::vector<int64_t> got(shape, shape + rank);
    fail(path + ": has shape " + formatShape(got) + ", but input '" + name + "' needs " + formatTensorType(input) +
         " (" + std::to_string(perExample) + " values per example)");
  }
  want[0] = count;
  bool wantF32 = input.at("dtype").get<std::string>() == "f32";
  kiln_tensor_t *converted = nullptr;
  check(kiln_tensor_create(wantF32 ? KILN_F32 : KILN_I32, int32_t(want.size()), want.data(), &converted));
  TensorPtr result(converted);
  int64_t total = kiln_tensor_num_elements(raw);
  const void *src = kiln_tensor_const_data(raw);
  kiln_dtype_t dtype = kiln_tensor_dtype(raw);
  if (wantF32) {
    float *dst = static_cast<float *>(kiln_tensor_data(converted));
    for (int64_t i = 0; i < total; ++i) {
      switch (dtype) {
      case KILN_F32: dst[i] = static_cast<const float *>(src)[i]; break;
      case KILN_F64: dst[i] = float(static_cast<const double *>(src)[i]); break;
      case KILN_U8: dst[i] = float(static_cast<const uint8_t *>(src)[i]) / 255.0f; break;
      case KILN_I32: dst[i] = float(static_cast<const int32_t *>(src)[i]); break;
      case KILN_I64: dst[i] = float(static_cast<const int64_t *>(src)[i]); break;
      default: fail(path + ": unsupported element type for input '" + name + "'");
      }
    }
  } else {
    int32_t *dst = static_cast<int32_t *>(kiln_tensor_data(converted));
    for (int64_t i = 0; i < total; ++i) {
      switch (dtype) {
      case KILN_I32: dst[i] = static_cast<const int32_t *>(src)[i]; break;
      case KILN_U8: dst[i] = static_cast<const uint8_t *>(src)[i]; break;
      case KILN_I64: dst[i] = int32_t(static_cast<const int64_t *>(src)[i]); break;
      default:
        fail(path + ": input '" + name + "' holds integer labels (i32), but the file has " + kiln_dtype_name(dtype) +
             " values");
      }
    }
  }
  return result;
}

/// Rows [begin, end) of `tensor` as a new tensor.
TensorPtr sliceRows(const kiln_tensor_t *tensor, int64_t begin, int64_t end) {
  std::vector<int64_t> shape(kiln_tensor_shape(tensor), kiln_tensor_shape(tensor) + kiln_tensor_rank(tensor));
  size_t rowBytes = kiln_tensor_byte_size(tensor) / size_t(shape[0]);
  shape[0] = end - begin;
  kiln_tensor_t *slice = nullptr;
  check(kiln_tensor_create(kiln_tensor_dtype(tensor), int32_t(shape.size()), shape.data(), &slice));
  std::memcpy(kiln_tensor_data(slice), static_cast<const char *>(kiln_tensor_const_data(tensor)) + begin * rowBytes,
              size_t(end - begin) * rowBytes);
  return TensorPtr(slice);
}

void printExample(const std::string &name, const kiln_tensor_t *output, int64_t row) {
  int64_t perRow = kiln_tensor_num_elements(output) / kiln_tensor_shape(output)[0];
  const char *base = static_cast<const char *>(kiln_tensor_const_data(output));
  bool isFloat = kiln_tensor_dtype(output) == KILN_F32;
  std::printf("%lld: %s =", (long long)row, name.c_str());
  int64_t best = 0;
  double bestValue = 0;
  for (int64_t i = 0; i < perRow; ++i) {
    double value = isFloat ? reinterpret_cast<const float *>(base)[row * perRow + i]
                           : reinterpret_cast<const int32_t *>(base)[row * perRow + i];
    if (i < 16)
      std::printf(" %.4g", value);
    if (i == 0 || value > bestValue) {
      best = i;
      bestValue = value;
    }
  }
  if (perRow > 16)
    std::printf(" ... (%lld values)", (long long)perRow);
  if (perRow > 1)
    std::printf("  -> argmax %lld", (long long)best);
  std::printf("\n");
}

int runPredict(const json &model, const std::string &weights, const std::vector<std::string> &inputPaths,
               const std::string &outputPath, const std::vector<std::string> &columns, int64_t batch, uint64_t seed,
               int64_t show) {
  if (!model.contains("predict") || !kiln_main_model->predict)
    fail("the model has no predict function");
  const json &predict = model["predict"];
  const json &inputs = predict.at("inputs");
  if (inputPaths.size() != inputs.size()) {
    std::string names;
    for (const json &input : inputs)
      names += (names.empty() ? "'" : ", '") + input.at("name").get<std::string>() + "'";
    fail("predict needs " + std::to_string(inputs.size()) + " --input file(s), for " + names + "; got " +
         std::to_string(inputPaths.size()));
  }
  if (batch < 1)
    fail("--batch must be at least 1");
  std::vector<TensorPtr> params = loadParams(model, weights, seed);
  std::vector<TensorPtr> data;
  for (size_t i = 0; i < inputs.size(); ++i)
    data.push_back(readInput(inputPaths[i], inputs[i], columns));
  int64_t count = kiln_tensor_shape(data[0].get())[0];
  for (size_t i = 1; i < data.size(); ++i)
    if (kiln_tensor_shape(data[i].get())[0] != count)
      fail(inputPaths[i] + ": has " + std::to_string(kiln_tensor_shape(data[i].get())[0]) + " examples, but " +
           inputPaths[0] + " has " + std::to_string(count));

  const json &resultInfo = predict.at("results");
  std::vector<kiln_dtype_t> dtypes;
  std::vector<int32_t> ranks;
  std::vector<TensorPtr> outputs;
  for (const json &result : resultInfo) {
    std::vector<int64_t> shape = shapeOf(result);
    shape[0] = count;
    dtypes.push_back(result.at("dtype").get<std::string>() == "f32" ? KILN_F32 : KILN_I32);
    ranks.push_back(int32_t(shape.size()));
    kiln_tensor_t *output = nullptr;
    check(kiln_tensor_create(dtypes.back(), ranks.back(), shape.data(), &output));
    outputs.emplace_back(output);
  }
  for (int64_t begin = 0; begin < count; begin += batch) {
    int64_t end = std::min(count, begin + batch);
    std::vector<TensorPtr> slices;
    std::vector<const kiln_tensor_t *> args;
    for (const TensorPtr &param : params)
      args.push_back(param.get());
    for (const TensorPtr &input : data) {
      slices.push_back(sliceRows(input.get(), begin, end));
      args.push_back(slices.back().get());
    }
    std::vector<kiln_tensor_t *> results(resultInfo.size(), nullptr);
    check(kiln_invoke(kiln_main_model->predict, args.size(), args.data(), results.size(), dtypes.data(), ranks.data(),
                      results.data()));
    for (size_t r = 0; r < results.size(); ++r) {
      size_t bytes = kiln_tensor_byte_size(results[r]);
      size_t rowBytes = kiln_tensor_byte_size(outputs[r].get()) / size_t(count);
      std::memcpy(static_cast<char *>(kiln_tensor_data(outputs[r].get())) + begin * rowBytes,
                  kiln_tensor_const_data(results[r]), bytes);
      kiln_tensor_free(results[r]);
    }
  }
  for (int64_t row = 0; row < std::min(show, count); ++row)
    for (size_t r = 0; r < outputs.size(); ++r)
      printExample(resultInfo[r].at("name").get<std::string>(), outputs[r].get(), row);
  if (!outputPath.empty()) {
    for (size_t r = 0; r < outputs.size(); ++r) {
      std::string path = outputPath;
      if (outputs.size() > 1) {
        std::string stem = endsWith(path, ".npy") ? path.substr(0, path.size() - 4) : path;
        path = stem + "." + resultInfo[r].at("name").get<std::string>() + ".npy";
      }
      check(kiln_write_npy(path.c_str(), outputs[r].get()));
      std::fprintf(stderr, "wrote %s (%lld predictions)\n", path.c_str(), (long long)count);
    }
  }
  return 0;
}
} // namespace

int main(int argc, char **argv) {
  json model = json::parse(kiln_main_model->json, nullptr, /*allow_exceptions=*/false);
  if (model.is_discarded())
    fail("internal error: the model's metadata is not valid JSON");
  programName = argc > 0 ? argv[0] : model.at("name").get<std::string>();

  CLI::App app{"Kiln model " + model.at("name").get<std::string>() + ", compiled by kilnc"};
  app.require_subcommand(1);
  CLI::App *info = app.add_subcommand("info", "List the inputs, outputs and parameters with their shapes");
  CLI::App *predict = app.add_subcommand("predict", "Run the model on inputs and print or save its outputs");
  std::string weights, output;
  std::vector<std::string> inputs, columns;
  int64_t batch = 256, show = 10;
  uint64_t seed = 0;
  predict->add_option("--input", inputs, "Input file(s), one per model input: .npy, .csv or IDX (.gz or not)")
      ->required();
  predict->add_option("--weights", weights, "Parameters (safetensors); default: the seeded initializers");
  predict->add_option("--output", output, "Write the outputs to this .npy file");
  predict->add_option("--columns", columns, "CSV columns forming the input, in order")->delimiter(',');
  predict->add_option("--batch", batch, "Examples per call (default 256)");
  predict->add_option("--seed", seed, "Seed of the initializers when there is no --weights (default 0)");
  predict->add_option("--show", show, "How many examples to print (default 10)");
  CLI11_PARSE(app, argc, argv);

  if (*info) {
    printInfo(model);
    return 0;
  }
  return runPredict(model, weights, inputs, output, columns, batch, seed, show);
}
