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
//   MODEL bench [--function predict|train_step] [--batch B] [--iters N] [--weights W.safetensors]
//   MODEL train ... / MODEL eval ...   (ModelTraining.cpp)
//   MODEL serve [--weights W] [--host H] [--port P] ...   (server/, docs/serving.md)
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

#include "ModelBinary.h"
#include "Server.h"

#include <CLI/CLI.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {
using namespace kiln_binary;

void printInfo(const json &model) {
  std::printf("model %s\n", model.at("name").get<std::string>().c_str());
  if (runsOnGpu(model))
    std::printf("  runs on: an NVIDIA GPU (compiled with --target=cuda)\n");
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
  int nameWidth = 18; // as wide as the longest name (batch_norm_0.moving_variance)
  for (const json &param : model.at("params"))
    nameWidth = std::max(nameWidth, int(param.at("name").get<std::string>().size()));
  for (const json &param : model.at("params"))
    std::printf("    %-*s f32%-18s %s%s\n", nameWidth, param.at("name").get<std::string>().c_str(),
                formatShape(shapeOf(param)).c_str(), param.at("init").get<std::string>().c_str(),
                param.value("trainable", true) ? "" : ", non-trainable (set by the training step)");
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

/// The index of the largest value in row `row` of `output`; -1 if the row
/// holds a NaN (it then matches no label).
int64_t rowArgmax(const kiln_tensor_t *output, int64_t row) {
  int64_t perRow = kiln_tensor_num_elements(output) / kiln_tensor_shape(output)[0];
  const float *values = static_cast<const float *>(kiln_tensor_const_data(output)) + row * perRow;
  int64_t best = 0;
  for (int64_t i = 0; i < perRow; ++i) {
    if (std::isnan(values[i]))
      return -1;
    if (values[i] > values[best])
      best = i;
  }
  return best;
}

void printExample(const std::string &name, const kiln_tensor_t *output, int64_t row, const int32_t *labels) {
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
  if (perRow > 1 && labels)
    std::printf(" (true %d)", labels[row]);
  std::printf("\n");
}

/// Random tensors for the `inputs` of a function, with `batch` rows: floats
/// in [0, 1), integers 0 or 1 (valid labels for any classifier).
std::vector<TensorPtr> randomInputs(const json &inputs, int64_t batch) {
  std::vector<TensorPtr> tensors;
  uint64_t state = kiln_param_stream_seed(0, "bench");
  for (const json &input : inputs) {
    std::vector<int64_t> shape = shapeOf(input);
    shape[0] = batch;
    bool isFloat = dtypeOf(input) == KILN_F32;
    kiln_tensor_t *tensor = nullptr;
    check(kiln_tensor_create(isFloat ? KILN_F32 : KILN_I32, int32_t(shape.size()), shape.data(), &tensor));
    tensors.emplace_back(tensor);
    int64_t count = kiln_tensor_num_elements(tensor);
    for (int64_t i = 0; i < count; ++i) {
      uint64_t bits = kiln_splitmix64_next(&state);
      if (isFloat)
        static_cast<float *>(kiln_tensor_data(tensor))[i] = float(bits >> 40) / float(1 << 24);
      else
        static_cast<int32_t *>(kiln_tensor_data(tensor))[i] = int32_t(bits % 2);
    }
  }
  return tensors;
}

long minorPageFaults() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

/// `bench`: `function` (predict or train_step) on random inputs of the
/// model's shapes, `iters` timed calls after 3 warm-up calls; prints the
/// median time per call and the minor page faults per timed call (0 when
/// the compiled code reuses its buffers, as it should).
int runBench(const json &model, const std::string &function, const std::string &weights, int64_t batch, int64_t iters) {
  bool training = function == "train_step";
  if (!training && function != "predict")
    fail("--function must be predict or train_step, not '" + function + "'");
  kiln_packed_fn_t fn = training ? kiln_main_model->trainStep : kiln_main_model->predict;
  if (!model.contains(function) || !fn)
    fail("the model has no " + function + " function");
  if (batch < 1 || iters < 1)
    fail("--batch and --iters must be at least 1");
  requireDevice(model);
  const json &signature = model[function];
  std::vector<TensorPtr> params = loadParams(model, weights, 0);
  std::vector<kiln_tensor_t *> args;
  for (const TensorPtr &param : params)
    args.push_back(param.get());
  // train_step: the optimizer state (initialized), lr and the step number.
  std::vector<TensorPtr> extra;
  if (training) {
    extra = initialOptimizerState(model);
    extra.push_back(scalarTensor(float(modelLearningRate(model))));
    extra.push_back(scalarTensor(1.0f));
    if (TensorPtr seed = dropoutSeedTensor(model, 0))
      extra.push_back(std::move(seed));
    if (runsOnGpu(model))
      for (const TensorPtr &tensor : extra)
        check(kiln_tensor_to_device(tensor.get()));
  }
  std::vector<TensorPtr> inputs = randomInputs(signature.at("inputs"), batch);
  for (const TensorPtr &tensor : extra)
    args.push_back(tensor.get());
  for (const TensorPtr &input : inputs)
    args.push_back(input.get());
  std::vector<kiln_dtype_t> dtypes;
  std::vector<int32_t> ranks;
  for (const json &result : signature.at("results")) {
    dtypes.push_back(dtypeOf(result));
    ranks.push_back(int32_t(result.at("shape").size()));
  }
  std::vector<double> seconds;
  long faults = 0;
  for (int64_t i = 0; i < iters + 3; ++i) {
    long faultsBefore = minorPageFaults();
    auto start = std::chrono::steady_clock::now();
    std::vector<kiln_tensor_t *> results;
    invokeModel(model, fn, args, dtypes, ranks, results);
    auto end = std::chrono::steady_clock::now();
    for (kiln_tensor_t *result : results)
      kiln_tensor_free(result);
    if (i >= 3) {
      seconds.push_back(std::chrono::duration<double>(end - start).count());
      faults += minorPageFaults() - faultsBefore;
    }
  }
  std::sort(seconds.begin(), seconds.end());
  double median = seconds[seconds.size() / 2];
  std::printf(
      "%s batch %lld: %.4f ms/call (median of %lld), %.0f examples/s, %.1f minor page faults/call, %d threads\n",
      function.c_str(), (long long)batch, median * 1e3, (long long)iters, double(batch) / median,
      double(faults) / double(iters), int(kiln_get_num_threads()));
  return 0;
}

int runPredict(const json &model, const std::string &weights, const std::vector<std::string> &inputPaths,
               const std::string &outputPath, const std::vector<std::string> &columns, int64_t batch, uint64_t seed,
               int64_t show, const std::string &labelsPath) {
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
  requireDevice(model);
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
    dtypes.push_back(dtypeOf(result));
    ranks.push_back(int32_t(shape.size()));
    kiln_tensor_t *output = nullptr;
    check(kiln_tensor_create(dtypes.back(), ranks.back(), shape.data(), &output));
    outputs.emplace_back(output);
  }
  for (int64_t begin = 0; begin < count; begin += batch) {
    int64_t end = std::min(count, begin + batch);
    std::vector<TensorPtr> slices;
    std::vector<kiln_tensor_t *> args;
    for (const TensorPtr &param : params)
      args.push_back(param.get());
    for (const TensorPtr &input : data) {
      slices.push_back(sliceRows(input.get(), begin, end));
      args.push_back(slices.back().get());
    }
    std::vector<kiln_tensor_t *> results;
    invokeModel(model, kiln_main_model->predict, args, dtypes, ranks, results);
    for (size_t r = 0; r < results.size(); ++r) {
      size_t bytes = kiln_tensor_byte_size(results[r]);
      size_t rowBytes = kiln_tensor_byte_size(outputs[r].get()) / size_t(count);
      std::memcpy(static_cast<char *>(kiln_tensor_data(outputs[r].get())) + begin * rowBytes,
                  kiln_tensor_const_data(results[r]), bytes);
      kiln_tensor_free(results[r]);
    }
  }
  // --labels: true classes to print beside the argmax, and its accuracy.
  TensorPtr labels;
  if (!labelsPath.empty()) {
    json labelInput = {{"name", "labels"}, {"dtype", "i32"}, {"shape", {-1}}};
    labels = readInput(labelsPath, labelInput, {});
    if (kiln_tensor_shape(labels.get())[0] != count)
      fail(labelsPath + ": has " + std::to_string(kiln_tensor_shape(labels.get())[0]) + " labels for " +
           std::to_string(count) + " examples");
  }
  const int32_t *labelData = labels ? static_cast<const int32_t *>(kiln_tensor_const_data(labels.get())) : nullptr;
  for (int64_t row = 0; row < std::min(show, count); ++row)
    for (size_t r = 0; r < outputs.size(); ++r)
      printExample(resultInfo[r].at("name").get<std::string>(), outputs[r].get(), row, labelData);
  if (labelData && kiln_tensor_dtype(outputs[0].get()) == KILN_F32 && kiln_tensor_rank(outputs[0].get()) == 2) {
    int64_t classes = kiln_tensor_shape(outputs[0].get())[1];
    for (int64_t row = 0; row < count; ++row)
      if (labelData[row] < 0 || labelData[row] >= classes)
        fail(labelsPath + ": label " + std::to_string(labelData[row]) + " of example " + std::to_string(row) +
             " is outside [0, " + std::to_string(classes) + "), the classes of output '" +
             resultInfo[0].at("name").get<std::string>() + "'");
    int64_t correct = 0;
    for (int64_t row = 0; row < count; ++row)
      correct += rowArgmax(outputs[0].get(), row) == labelData[row];
    std::printf("argmax of %s matches the labels for %lld of %lld examples (%.2f%%)\n",
                resultInfo[0].at("name").get<std::string>().c_str(), (long long)correct, (long long)count,
                100.0 * double(correct) / double(count));
  }
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

namespace {
/// Parses the command line and runs the command it names.
int runCommand(int argc, char **argv) {
  json model = modelMetadata(*kiln_main_model);

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
  std::string labels;
  predict->add_option("--labels", labels, "True classes (IDX or .npy) to print beside the predictions");
  CLI::App *benchCommand =
      app.add_subcommand("bench", "Time predict or train_step per call (inputs in, outputs out) on random inputs");
  int64_t benchBatch = 256, benchIters = 50;
  std::string benchWeights, benchFunction = "predict";
  benchCommand->add_option("--function", benchFunction, "predict (default) or train_step");
  benchCommand->add_option("--batch", benchBatch, "Examples per call (default 256)");
  benchCommand->add_option("--iters", benchIters, "Timed calls (default 50, after 3 warm-up calls)");
  benchCommand->add_option("--weights", benchWeights, "Parameters (safetensors); default: the seeded initializers");
  TrainOptions train;
  CLI::App *trainCommand = app.add_subcommand("train", "Train the model and save its weights");
  trainCommand
      ->add_option("--data", train.data, "Training data: an IDX directory, a directory of <input>.npy, or a .csv")
      ->required();
  trainCommand->add_option("--test-data", train.testData, "Test data, evaluated after every epoch");
  trainCommand->add_option("--epochs", train.epochs, "Epochs (default 1)");
  trainCommand->add_option("--batch", train.batch, "Batch size (default 32)");
  trainCommand->add_option("--lr", train.lr, "Learning rate (default: the model's)");
  trainCommand->add_option("--seed", train.seed, "Seed of initialization and shuffling (default 0)");
  trainCommand->add_option("--save", train.save, "Write the weights and optimizer state here after every epoch");
  trainCommand->add_option("--resume", train.resume, "Start from this checkpoint (weights, optimizer state, step)");
  trainCommand->add_option("--weights", train.weights,
                           "Start from these parameters (safetensors), with fresh optimizer state at step 0");
  trainCommand->add_option("--columns", train.columns, "CSV data: input=col1,col2,... (repeat per input)");
  trainCommand->add_option("--limit", train.limit, "Use only the first N training examples");
  trainCommand->add_flag("--quiet", train.quiet, "No progress bar, one line per epoch");
  trainCommand
      ->add_option("--mpi-timeout", train.mpiTimeoutSeconds,
                   "Under mpirun: seconds a rank waits for the others at each collective before ending the job "
                   "(default 300)")
      ->check(CLI::PositiveNumber);
  TrainOptions evaluation;
  CLI::App *evalCommand = app.add_subcommand("eval", "Loss and metrics on data (an IDX directory's test split)");
  evalCommand->add_option("--data", evaluation.data, "Data, as for train")->required();
  evalCommand->add_option("--weights", evaluation.weights, "Weights (safetensors)")->required();
  evalCommand->add_option("--columns", evaluation.columns, "CSV data: input=col1,col2,...");
  evalCommand->add_option("--batch", evaluation.batch, "Examples per call (default 256)");
  evaluation.batch = 256;
  CLI::App *serveCommand = app.add_subcommand(
      "serve", "Serve the model over HTTP: the Open Inference Protocol (KServe v2), TF Serving's predict, a page at /");
  std::string serveWeights;
  kiln_server::ServeOptions serve;
  kiln_server::BatcherOptions batching;
  serveCommand->add_option("--weights", serveWeights, "Parameters (safetensors); default: the seeded initializers");
  serveCommand->add_option("--host", serve.host, "Address to listen on (default 127.0.0.1; 0.0.0.0 for every one)");
  serveCommand->add_option("--port", serve.port, "Port (default 8000; 0: any free port)")->check(CLI::Range(0, 65535));
  serveCommand->add_option("--max-batch", batching.maxBatch, "Most examples merged into one call (default 64)")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  std::string maxDelay = "auto";
  serveCommand
      ->add_option("--max-delay-us", maxDelay,
                   "How long a request may wait for others to batch with: microseconds (0: only those queued "
                   "meanwhile), or auto (default: until the clients expected to send have, at most 500 us)")
      ->check(CLI::Validator(
          [](std::string &value) {
            return value == "auto" || CLI::Range(int64_t(0), int64_t(10'000'000))(value).empty()
                       ? std::string()
                       : std::string("must be auto or microseconds from 0 to 10000000");
          },
          "auto|0..10000000"));
  serveCommand->add_option("--max-queue", batching.maxQueue, "Requests waiting at most; more get 503 (default 1024)")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  serveCommand->add_option("--max-body-mb", serve.maxBodyMb, "Largest request body in MiB; larger get 413 (default 64)")
      ->check(CLI::Range(int64_t(1), int64_t(4096)));
  serveCommand
      ->add_option("--connections", serve.connections, "Connections open at once; more are answered 503 (default 1024)")
      ->check(CLI::Range(1, 65536));
  serveCommand
      ->add_option("--timeout", serve.timeoutSeconds,
                   "Seconds to send a request, read an answer, or idle between requests (default 5)")
      ->check(CLI::Range(1, 3600));
  // Every command that runs compiled code takes --threads (default: the
  // KILN_NUM_THREADS variable, else every CPU of the affinity mask).
  int32_t threads = 0;
  for (CLI::App *command : {predict, benchCommand, trainCommand, evalCommand, serveCommand})
    command->add_option("--threads", threads, "Threads of the compiled code (default: KILN_NUM_THREADS, else all CPUs)")
        ->check(CLI::PositiveNumber);
  // A path given as "" would silently mean "none" (random weights, no
  // save); a negative --seed would wrap to 2^64 - 1.
  const CLI::Validator nonEmpty(
      [](std::string &value) { return value.empty() ? std::string("must not be empty") : std::string(); }, "PATH");
  const CLI::Validator notNegative(
      [](std::string &value) {
        return value.find('-') != std::string::npos ? std::string("must be 0 or more") : std::string();
      },
      "UINT");
  for (CLI::App *command : {predict, benchCommand, trainCommand, evalCommand, serveCommand})
    for (CLI::Option *option : command->get_options()) {
      const std::string &name = option->get_name();
      if (name == "--weights" || name == "--output" || name == "--input" || name == "--save" || name == "--resume" ||
          name == "--data" || name == "--test-data" || name == "--labels")
        option->check(nonEmpty);
      if (name == "--seed")
        option->check(notNegative);
    }
  predict->get_option("--show")->check(CLI::NonNegativeNumber);
  for (CLI::Option *option :
       {predict->get_option("--batch"), benchCommand->get_option("--batch"), benchCommand->get_option("--iters"),
        trainCommand->get_option("--epochs"), trainCommand->get_option("--batch"), trainCommand->get_option("--limit"),
        evalCommand->get_option("--batch")})
    option->check(CLI::PositiveNumber);
  trainCommand->get_option("--lr")->check(CLI::Validator(
      [](std::string &value) {
        char *end = nullptr;
        double lr = std::strtod(value.c_str(), &end);
        return *end == '\0' && std::isfinite(lr) && lr > 0 ? std::string() : "must be a positive number";
      },
      "LR"));
  // Usage errors exit with status 2 (as getopt and argparse programs do),
  // leaving 1 for errors in the work itself; --help exits 0.
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &error) {
    int status = app.exit(error);
    return status == 0 ? 0 : 2;
  }
  check(kiln_set_num_threads(threads));

  if (*info) {
    printInfo(model);
    return 0;
  }
  if (*trainCommand)
    return runTrain(model, *kiln_main_model, train);
  if (*evalCommand)
    return runEval(model, *kiln_main_model, evaluation);
  if (*benchCommand)
    return runBench(model, benchFunction, benchWeights, benchBatch, benchIters);
  if (*serveCommand) {
    kiln_server::blockStopSignals();
    if (maxDelay != "auto")
      batching.maxDelayUs = std::stoll(maxDelay); // checked above
    std::vector<std::unique_ptr<kiln_server::ServedModel>> models;
    models.push_back(std::make_unique<kiln_server::ServedModel>(model, *kiln_main_model, serveWeights, batching));
    return kiln_server::serve(std::move(models), serve);
  }
  return runPredict(model, weights, inputs, output, columns, batch, seed, show, labels);
}
} // namespace

int main(int argc, char **argv) {
  programName = argc > 0 ? argv[0] : "model";
  return reportFailures([&] { return runCommand(argc, argv); });
}
