//===- kilnc.cpp - The Kiln compiler driver -------------------------------===//
//
// `kilnc FILE --emit=LEVEL` reads a .kiln file, parses and checks it, and
// produces the requested stage. The levels are ordered as in MLIR Toy's
// driver, the pipeline growing with the level:
//   ast      the checked AST, with types
//   kiln     the kiln dialect
//   summary  a human summary of each model (inputs, parameters, outputs...)
//   linalg   after kiln-to-linalg (linalg/tensor/arith/math on tensors)
//   gpu      --target=cuda: after mapping to GPU kernels (gpu dialect)
//   ptx      --target=cuda: the kernels' PTX text
//   llvm     LLVM IR for the target
//   asm      target assembly
//   obj      an object file plus a C header declaring the models' functions
//   lib      a shared library (plus the C header)
//   exe      a standalone model binary (`MODEL info`, `MODEL predict ...`)
// Code generation is in process (LLVM's TargetMachine); only `lib` and `exe`
// link, also in process (lld, with the C++ compiler driver's link command:
// Linker.cpp), the objects kilnc compiled on several threads
// (kiln::emitObjectsInParallel) and wrote.
//
// The compilation itself is a kiln::CompileSession (include/kiln/
// CompileSession.h), shared with the JIT; this file chooses the stage, the
// output, and for obj/lib/exe writes the objects and runs the linker.
//
// Errors: user mistakes are reported by the front end as
// `file:line:col: error: message` with the source line and a caret; the
// driver only turns failure into exit code 1. Internal failures (an emitted
// module that does not verify) are reported through MLIR's source-manager
// diagnostic handler, which prints the same format.
//
//===----------------------------------------------------------------------===//

#include "Linker.h"
#include "ModelCommands.h"
#include "codegen/ObjectEmitter.h"
#include "codegen/OpenMPRuntime.h"
#include "frontend/AST.h"
#include "kiln/CompileSession.h"
#include "kiln/GradCheck.h"
#include "kiln/Jit.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/FileUtilities.h"

#include "llvm/ADT/ScopeExit.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/BuryPointer.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/TargetParser/Triple.h"

#include <cstdlib>
#include <optional>

extern "C" void LLVMInitializeNVPTXTargetInfo();
extern "C" void LLVMInitializeNVPTXTargetMC();

using namespace llvm;

#ifndef KILN_RUNTIME_LIBRARY_DIR
#define KILN_RUNTIME_LIBRARY_DIR ""
#endif

namespace {
enum class EmitLevel { AST, Kiln, Summary, Linalg, Gpu, Ptx, LLVM, Asm, Obj, Lib, Exe };
enum class TargetKind { Cpu, Cuda };

cl::list<std::string> positionalArgs(cl::Positional, cl::desc("<input .kiln file> | gradcheck <input .kiln file>"));
/// The input file (the positional argument; "-" for standard input).
std::string inputFilename = "-";
cl::opt<std::string> outputFilename("o",
                                    cl::desc("Output file (default: standard output for text, "
                                             "<input name>.o/.so/<input name> for obj/lib/exe)"),
                                    cl::value_desc("filename"), cl::init(""));
cl::opt<EmitLevel> emitLevel(
    "emit", cl::desc("What to produce"), cl::init(EmitLevel::Kiln),
    cl::values(clEnumValN(EmitLevel::AST, "ast", "the checked AST, with types"),
               clEnumValN(EmitLevel::Kiln, "kiln", "the kiln dialect (MLIR)"),
               clEnumValN(EmitLevel::Summary, "summary", "a summary of each model: inputs, parameters, outputs"),
               clEnumValN(EmitLevel::Linalg, "linalg", "linalg/tensor/arith/math on tensors (MLIR)"),
               clEnumValN(EmitLevel::Gpu, "gpu", "--target=cuda: host functions launching GPU kernels (MLIR)"),
               clEnumValN(EmitLevel::Ptx, "ptx", "--target=cuda: the kernels' PTX"),
               clEnumValN(EmitLevel::LLVM, "llvm", "LLVM IR"), clEnumValN(EmitLevel::Asm, "asm", "target assembly"),
               clEnumValN(EmitLevel::Obj, "obj", "an object file and a C header"),
               clEnumValN(EmitLevel::Lib, "lib", "a shared library and a C header"),
               clEnumValN(EmitLevel::Exe, "exe", "a standalone model binary")));
cl::opt<TargetKind> target("target", cl::desc("What the model runs on"), cl::init(TargetKind::Cpu),
                           cl::values(clEnumValN(TargetKind::Cpu, "cpu", "the host CPU (default)"),
                                      clEnumValN(TargetKind::Cuda, "cuda", "an NVIDIA GPU, through the CUDA driver")));
cl::opt<std::string> gpuArch("gpu-arch", cl::desc("--target=cuda: the GPU architecture (default sm_90)"),
                             cl::init("sm_90"));
cl::opt<std::string>
    cudaPath("cuda-path", cl::desc("--target=cuda: the CUDA toolkit whose ptxas and fatbinary make the cubin "
                                   "(default: CUDA_HOME, then /usr/local/cuda; without one, only PTX is embedded)"));
cl::opt<unsigned> optLevel("O", cl::desc("Optimization level (-O0 to -O3, default -O3)"), cl::Prefix, cl::init(3));
cl::opt<std::string> targetCpu("target-cpu", cl::desc("CPU to generate code for (default: native, the host)"),
                               cl::init("native"));
cl::opt<std::string> modelName("model", cl::desc("The model a standalone binary runs (default: the first)"),
                               cl::init(""));
cl::opt<uint64_t> gradcheckSeed("seed", cl::desc("gradcheck, train: seed of the random values"), cl::init(0));
// `kilnc train FILE ...`: the model binaries' training loop on JIT-compiled code.
cl::OptionCategory trainCategory("kilnc train options (the same as a model binary's `train`)");
cl::opt<std::string> trainData("data", cl::desc("Training data (IDX directory, <input>.npy directory or .csv)"),
                               cl::cat(trainCategory));
cl::opt<std::string> trainTestData("test-data", cl::desc("Test data evaluated after every epoch"),
                                   cl::cat(trainCategory));
cl::opt<int64_t> trainEpochs("epochs", cl::desc("Epochs"), cl::init(1), cl::cat(trainCategory));
cl::opt<int64_t> trainBatch("batch", cl::desc("Batch size"), cl::init(32), cl::cat(trainCategory));
cl::opt<double> trainLr("lr", cl::desc("Learning rate (default: the model's)"), cl::init(-1), cl::cat(trainCategory));
cl::opt<std::string> trainSave("save", cl::desc("Checkpoint to write after every epoch"), cl::cat(trainCategory));
cl::opt<std::string> trainResume("resume", cl::desc("Checkpoint to resume from"), cl::cat(trainCategory));
cl::opt<std::string> trainWeights("weights", cl::desc("Initial parameters (safetensors); fresh optimizer state"),
                                  cl::cat(trainCategory));
cl::opt<double> trainMpiTimeout("mpi-timeout",
                                cl::desc("Under mpirun: seconds a rank waits for the others at a collective"),
                                cl::init(300), cl::cat(trainCategory));
cl::opt<int64_t> trainLimit("limit", cl::desc("Use only the first N training examples"), cl::init(0),
                            cl::cat(trainCategory));
cl::opt<bool> trainQuiet("quiet", cl::desc("No progress bar"), cl::cat(trainCategory));
cl::list<std::string> trainColumns("columns", cl::desc("CSV data: input=col1,col2,... (repeat per input)"),
                                   cl::cat(trainCategory));
cl::opt<bool> linkSanitizers("link-sanitizers",
                             cl::desc("Link the binary with -fsanitize=address,undefined, for a runtime built with "
                                      "KILN_SANITIZE (given with --runtime-dir; scripts/sanitize.sh)"),
                             cl::Hidden);
cl::opt<std::string> runtimeDir("runtime-dir", cl::desc("Directory holding libkiln_runtime.a and libkiln_model_main.a"),
                                cl::init(KILN_RUNTIME_LIBRARY_DIR), cl::Hidden);

int fail(const Twine &message) {
  errs() << "kilnc: error: " << message << "\n";
  return 1;
}

/// Prints the summary of one model.
void printModelSummary(const kiln::ModelInfo &model, raw_ostream &os) {
  os << "model " << model.name << "\n";
  // Inputs: those of predict, then those only the loss reads.
  std::vector<kiln::TensorInfo> inputs;
  for (const auto *function : {&model.predict, &model.loss})
    if (*function)
      for (const kiln::TensorInfo &input : (*function)->inputs)
        if (llvm::none_of(inputs, [&](const kiln::TensorInfo &seen) { return seen.name == input.name; }))
          inputs.push_back(input);
  auto printTensor = [&](const kiln::TensorInfo &tensor) {
    std::string type = kiln::elementTypeName(tensor.type);
    if (!tensor.shape.empty())
      type += kiln::formatShape(tensor.shape);
    os << "    " << left_justify(tensor.name, 18) << " " << type << "\n";
  };
  os << "  inputs:\n";
  for (const kiln::TensorInfo &input : inputs)
    printTensor(input);

  int64_t totalValues = 0;
  for (const kiln::ParamInfo &param : model.params) {
    int64_t count = 1;
    for (int64_t dim : param.shape)
      count *= dim;
    totalValues += count;
  }
  os << "  parameters: " << model.params.size() << " tensors, " << totalValues << " values\n";
  // One column for the names, as wide as the longest (layer parameters such
  // as batch_norm_0.moving_variance are long).
  size_t nameWidth = 18;
  for (const kiln::ParamInfo &param : model.params)
    nameWidth = std::max(nameWidth, param.name.size());
  for (const kiln::ParamInfo &param : model.params) {
    std::string type = "f32" + (param.shape.empty() ? std::string() : kiln::formatShape(param.shape));
    os << "    " << left_justify(param.name, nameWidth) << " " << left_justify(type, 20) << " " << param.init;
    if (param.init == "constant")
      os << "(" << format("%g", param.value) << ")";
    if (!param.trainable)
      os << ", non-trainable (set by the training step)";
    os << "\n";
  }
  if (model.predict) {
    os << "  outputs:\n";
    for (const kiln::TensorInfo &output : model.predict->results)
      printTensor(output);
  }
  if (model.loss) {
    os << "  loss and metrics:\n";
    for (const kiln::TensorInfo &result : model.loss->results)
      printTensor(result);
  }
  if (!model.optimizer.empty()) {
    os << "  optimizer: " << model.optimizer << "(";
    bool first = true;
    for (const auto &[name, value] : model.hyperParams) {
      os << (first ? "" : ", ") << name << " = ";
      first = false;
      if (kiln::ast::isBooleanHyperParam(name))
        os << (value != 0.0 ? "true" : "false");
      else
        os << format("%g", value);
    }
    os << ")\n";
  }
  os << "  functions: ";
  const char *separator = "";
  for (const auto *function :
       {&model.predict, &model.loss, &model.grad, &model.gradTraining, &model.trainStep, &model.apply}) {
    if (*function) {
      os << separator << "@" << (*function)->symbol;
      separator = ", ";
    }
  }
  os << "\n";
}

/// `path` with its extension replaced (or added).
std::string withExtension(StringRef path, StringRef extension) {
  SmallString<256> result(path);
  sys::path::replace_extension(result, extension);
  return result.str().str();
}

/// The default output name for binary levels: the input's stem in the
/// current directory ("model" for standard input).
std::string defaultOutput(StringRef extension) {
  std::string stem = inputFilename == "-" ? "model" : sys::path::stem(inputFilename).str();
  return extension.empty() ? stem : stem + "." + extension.str();
}

/// The CUDA toolkit to make cubins with: --cuda-path, CUDA_HOME, CUDA_PATH,
/// /usr/local/cuda; "" if none has bin/ptxas.
std::string findCudaToolkit() {
  std::vector<std::string> candidates;
  if (!cudaPath.empty())
    candidates.push_back(cudaPath);
  for (const char *variable : {"CUDA_HOME", "CUDA_PATH"})
    if (const char *value = std::getenv(variable))
      candidates.push_back(value);
  candidates.push_back("/usr/local/cuda");
  for (const std::string &candidate : candidates)
    if (sys::fs::can_execute(candidate + "/bin/ptxas") && sys::fs::can_execute(candidate + "/bin/fatbinary"))
      return candidate;
  return "";
}

/// Whether LLVM's NVPTX backend knows the GPU architecture `arch` (sm_90...).
bool isKnownGpuArch(const std::string &arch) {
  LLVMInitializeNVPTXTargetInfo();
  LLVMInitializeNVPTXTargetMC();
  llvm::Triple triple("nvptx64-nvidia-cuda");
  std::string error;
  const llvm::Target *nvptx = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!nvptx)
    return false;
  // Created for the default CPU: creating it for an unknown one prints a warning.
  std::unique_ptr<llvm::MCSubtargetInfo> info(nvptx->createMCSubtargetInfo(triple, "", ""));
  return info && info->isCPUStringValid(arch);
}

/// Whether writing `path` would replace the input file (the same file, by
/// device and inode, whatever the spelling: `m.kiln`, `./m.kiln`, a link).
bool isTheInputFile(StringRef path) {
  if (inputFilename == "-" || path == "-")
    return false;
  bool same = false;
  return !sys::fs::equivalent(inputFilename, path, same) && same;
}

/// Writes `contents` (text or an object) to `path` (or standard output for "-").
bool writeFile(StringRef path, StringRef contents) {
  std::string errorMessage;
  auto output = mlir::openOutputFile(path, &errorMessage);
  if (!output) {
    errs() << "kilnc: error: " << errorMessage << "\n";
    return false;
  }
  output->os() << contents;
  output->keep();
  return true;
}

/// Writes the module's MLIR text.
bool writeModule(mlir::ModuleOp module, StringRef path) {
  std::string text;
  raw_string_ostream os(text);
  module->print(os);
  return writeFile(path, text);
}

/// `path` compiled in process; null after printing the diagnostics.
std::unique_ptr<kiln::Jit> compileWithJit(StringRef path) {
  auto jit = kiln::Jit::compileFile(path);
  if (!jit) {
    errs() << toString(jit.takeError());
    return nullptr;
  }
  return std::move(*jit);
}

/// `kilnc train FILE ...`: the model binaries' training loop on JIT-compiled
/// code.
int runTrainCommand(StringRef path) {
  // "" would silently mean "none" (no save, no resume).
  for (cl::opt<std::string> *option : {&trainData, &trainTestData, &trainSave, &trainResume, &trainWeights})
    if (option->getNumOccurrences() && option->empty())
      return fail("--" + option->ArgStr + " must not be empty");
  std::unique_ptr<kiln::Jit> jit = compileWithJit(path);
  if (!jit)
    return 1;
  if (jit->getModels().empty())
    return fail("'" + path + "' has no model");
  std::string name = modelName.empty() ? jit->getModels().front().name : modelName.getValue();
  const void *descriptor = jit->getModelDescriptor(name);
  if (!descriptor)
    return fail("no model named '" + name + "'");
  kiln_binary::TrainOptions options;
  options.data = trainData;
  options.testData = trainTestData;
  options.epochs = trainEpochs;
  options.batch = trainBatch;
  if (trainLr.getNumOccurrences())
    options.lr = trainLr;
  options.seed = gradcheckSeed;
  options.save = trainSave;
  options.resume = trainResume;
  options.weights = trainWeights;
  options.mpiTimeoutSeconds = trainMpiTimeout;
  if (trainLimit.getNumOccurrences())
    options.limit = trainLimit;
  options.quiet = trainQuiet;
  options.columns.assign(trainColumns.begin(), trainColumns.end());
  return kiln_binary::trainModel(descriptor, options, "kilnc");
}

/// `kilnc gradcheck FILE`: the generated gradients against central finite
/// differences.
int runGradcheckCommand(StringRef path) {
  std::unique_ptr<kiln::Jit> jit = compileWithJit(path);
  if (!jit)
    return 1;
  kiln::GradCheckOptions options;
  options.seed = gradcheckSeed;
  auto ok = kiln::checkGradients(*jit, options, outs());
  if (!ok)
    return fail(toString(ok.takeError()));
  outs() << (*ok ? "gradients match finite differences\n" : "gradient check FAILED\n");
  return *ok ? 0 : 1;
}

/// The compile options --target, --gpu-arch, --cuda-path and -O give;
/// fails (message printed) on a bad combination.
std::optional<kiln::CompileOptions> compileOptions() {
  kiln::CompileOptions options;
  options.toolName = "kilnc";
  options.optLevel = optLevel;
  if (target == TargetKind::Cpu) {
    if (emitLevel == EmitLevel::Gpu || emitLevel == EmitLevel::Ptx) {
      fail("--emit=gpu and --emit=ptx need --target=cuda");
      return std::nullopt;
    }
    return options;
  }
  options.target = kiln::CompileTarget::Cuda;
  if (!isKnownGpuArch(gpuArch)) {
    fail("unknown GPU architecture '" + gpuArch +
         "' for --gpu-arch (try sm_90 for H100/H200, sm_80 for A100, "
         "sm_89 for L4/L40)");
    return std::nullopt;
  }
  options.gpuArch = gpuArch;
  options.cudaToolkit = findCudaToolkit();
  if (!cudaPath.empty() && options.cudaToolkit != cudaPath) {
    fail("--cuda-path '" + cudaPath + "' is not a CUDA toolkit (it has no executable bin/ptxas and bin/fatbinary)");
    return std::nullopt;
  }
  options.embedPtxOnly = emitLevel == EmitLevel::Ptx;
  return options;
}

/// The levels printed as text from a stage of the session (ast, kiln,
/// summary, linalg, gpu, ptx). Returns the exit status.
int emitStageText(kiln::CompileSession &session, StringRef output) {
  if (emitLevel == EmitLevel::AST) {
    std::string text;
    raw_string_ostream os(text);
    kiln::ast::printModule(session.getAST(), os);
    return writeFile(output, text) ? 0 : 1;
  }
  if (emitLevel == EmitLevel::Summary) {
    std::string text;
    raw_string_ostream os(text);
    const std::vector<kiln::ModelInfo> &models = session.getModels();
    for (size_t i = 0; i < models.size(); ++i) {
      if (i)
        os << "\n";
      printModelSummary(models[i], os);
    }
    return writeFile(output, text) ? 0 : 1;
  }
  if (emitLevel == EmitLevel::Ptx) {
    std::string text;
    session.getModule()->walk([&](mlir::gpu::BinaryOp binary) {
      for (mlir::Attribute object : binary.getObjects())
        if (auto gpuObject = dyn_cast<mlir::gpu::ObjectAttr>(object))
          text += gpuObject.getObject().getValue().str();
    });
    return writeFile(output, text) ? 0 : 1;
  }
  return writeModule(session.getModule(), output) ? 0 : 1;
}

/// Links the objects at `objectPaths` into a shared library or a model
/// binary at `output`. Returns a failure message or "".
std::string linkObjects(ArrayRef<std::string> objectPaths, StringRef output) {
  // Parallel loops call the OpenMP runtime (libomp).
  const std::vector<std::string> omp = kiln::ompLinkArguments();
  std::vector<std::string> args = {"-o", output.str()};
  args.insert(args.end(), objectPaths.begin(), objectPaths.end());
  if (emitLevel == EmitLevel::Lib) {
    args.insert(args.end(), {"-shared", "-lm"});
  } else {
    std::string dir = runtimeDir;
    // The C++ runtime stays dynamic: linking it statically would pull in
    // glibc 2.35/2.36 symbols (arc4random, _dl_find_object) and make GPU
    // binaries built here refuse to start on older systems.
    // The server (libkiln_server.a) needs Debian's http_parser and simdjson.
    args.insert(args.end(),
                {dir + "/libkiln_model_main.a", dir + "/libkiln_server.a", dir + "/libkiln_model_support.a",
                 dir + "/libkiln_runtime.a", "-lhttp_parser", "-lsimdjson", "-lpthread", "-lz", "-lm", "-ldl"});
    if (linkSanitizers)
      args.push_back("-fsanitize=address,undefined");
  }
  args.insert(args.end(), omp.begin(), omp.end());
  return kiln::linkWithDriverCommand(args, /*needsClang=*/linkSanitizers);
}

/// The levels code generation makes (llvm, asm, obj, lib, exe) from the
/// session's LLVM-dialect module. Returns the exit status.
int emitCode(kiln::CompileSession &session, StringRef output) {
  const std::vector<kiln::ModelInfo> &models = session.getModels();
  kiln::CpuTargetOptions targetOptions;
  targetOptions.cpu = targetCpu;
  targetOptions.optLevel = optLevel;
  auto targetMachine = kiln::createCpuTargetMachine(targetOptions);
  if (!targetMachine)
    return fail(toString(targetMachine.takeError()));
  std::string mainModel;
  if (emitLevel == EmitLevel::Exe) {
    if (models.empty())
      return fail("'" + inputFilename + "' has no model to build a binary for");
    mainModel = modelName.empty() ? models.front().name : modelName.getValue();
  } else if (!modelName.empty()) {
    return fail("--model selects the model of a standalone binary; use it with --emit=exe");
  }
  auto llvmContext = std::make_unique<LLVMContext>();
  auto llvmModule = kiln::translateToLLVMIR(session.getModule(), *llvmContext, models, mainModel, **targetMachine);
  if (!llvmModule)
    return fail(toString(llvmModule.takeError()));
  // Left to the process's exit, as clang's -disable-free does: freeing a
  // model's LLVM module took ~10 ms that nobody waits for.
  scope_exit leaveToExit([&] {
    BuryPointer(std::move(*llvmModule));
    BuryPointer(std::move(llvmContext));
  });
  // A library or binary is optimized and compiled in parts, in parallel;
  // the other levels make one module or object.
  bool linked = emitLevel == EmitLevel::Lib || emitLevel == EmitLevel::Exe;
  if (!linked)
    kiln::optimizeModule(**llvmModule, optLevel, targetMachine->get());

  if (emitLevel == EmitLevel::LLVM) {
    std::string text;
    raw_string_ostream os(text);
    (*llvmModule)->print(os, nullptr);
    return writeFile(output, text) ? 0 : 1;
  }
  if (emitLevel == EmitLevel::Asm) {
    SmallString<0> text;
    raw_svector_ostream os(text);
    if (Error error = kiln::emitMachineCode(**llvmModule, **targetMachine, os, CodeGenFileType::AssemblyFile))
      return fail(toString(std::move(error)));
    return writeFile(output, text) ? 0 : 1;
  }

  // The C header of obj and lib is made first: a model set it cannot
  // describe is refused before anything is written.
  bool withHeader = emitLevel == EmitLevel::Obj || emitLevel == EmitLevel::Lib;
  std::string headerText;
  if (withHeader) {
    std::string sourceName = inputFilename == "-" ? "<stdin>" : sys::path::filename(inputFilename).str();
    auto header = kiln::generateCHeader(models, sourceName, target == TargetKind::Cuda);
    if (!header)
      return fail(toString(header.takeError()));
    headerText = std::move(*header);
  }

  if (!linked) {
    std::error_code ec;
    raw_fd_ostream os(output, ec, sys::fs::OF_None);
    if (ec)
      return fail("cannot write '" + output + "': " + ec.message());
    if (Error error = kiln::emitMachineCode(**llvmModule, **targetMachine, os, CodeGenFileType::ObjectFile))
      return fail(toString(std::move(error)));
    return writeFile(withExtension(output, "h"), headerText) ? 0 : 1;
  }

  // A fixed number of parts, not the machine's core count, so that every
  // machine makes the same code. Eight smaller parts balance two cores
  // better than four did once predict and loss shared their code (FashionCnn:
  // 1.62-1.68 s against 1.72-1.78 s, alternating) and feed eight.
  constexpr unsigned kCodegenParts = 8;
  auto objects = kiln::emitObjectsInParallel(**llvmModule, targetOptions, kCodegenParts);
  if (!objects)
    return fail(toString(objects.takeError()));
  std::vector<std::string> objectPaths;
  auto removeObjects = [&] {
    for (const std::string &path : objectPaths)
      sys::fs::remove(path);
  };
  for (const SmallString<0> &object : *objects) {
    SmallString<256> temporary;
    if (std::error_code ec = sys::fs::createTemporaryFile("kilnc", "o", temporary)) {
      removeObjects();
      return fail("cannot create a temporary object file: " + ec.message());
    }
    objectPaths.push_back(temporary.str().str());
    if (!writeFile(objectPaths.back(), object)) {
      removeObjects();
      return 1;
    }
  }
  if (withHeader && !writeFile(withExtension(output, "h"), headerText)) {
    removeObjects();
    return 1;
  }
  std::string failure = linkObjects(objectPaths, output);
  removeObjects();
  return failure.empty() ? 0 : fail(failure);
}

/// The session stage a level is made from.
kiln::CompileStage stageFor(EmitLevel level) {
  switch (level) {
  case EmitLevel::AST:
    return kiln::CompileStage::AST;
  case EmitLevel::Kiln:
    return kiln::CompileStage::Kiln;
  case EmitLevel::Summary:
  case EmitLevel::Linalg:
    return kiln::CompileStage::Linalg;
  case EmitLevel::Gpu:
    return kiln::CompileStage::Gpu;
  default:
    return kiln::CompileStage::LLVMDialect;
  }
}

/// `kilnc FILE --emit=LEVEL [-o OUT]`.
int runCompileCommand() {
  if (optLevel > 3)
    return fail("-O" + Twine(optLevel) + " is not an optimization level (use -O0 to -O3)");
  std::optional<kiln::CompileOptions> options = compileOptions();
  if (!options)
    return 1;
  // Left to the process's exit (see emitCode), with its MLIR context.
  auto sessionOwner = std::make_unique<kiln::CompileSession>(*options, errs());
  scope_exit leaveToExit([&] { BuryPointer(std::move(sessionOwner)); });
  kiln::CompileSession &session = *sessionOwner;
  if (failed(session.loadFile(inputFilename)))
    return 1;

  bool textOutput = emitLevel <= EmitLevel::LLVM || emitLevel == EmitLevel::Asm;
  std::string output = outputFilename;
  if (output.empty())
    output = textOutput                    ? "-"
             : emitLevel == EmitLevel::Obj ? defaultOutput("o")
             : emitLevel == EmitLevel::Lib ? defaultOutput("so")
                                           : defaultOutput("");
  // `-o m.kiln` (or a header next to an object) must not replace the source.
  for (const std::string &written :
       {output, emitLevel == EmitLevel::Obj || emitLevel == EmitLevel::Lib ? withExtension(output, "h") : output})
    if (isTheInputFile(written))
      return fail("the output '" + written + "' is the input file; choose another -o");

  if (failed(session.runTo(stageFor(emitLevel))))
    return 1;
  if (emitLevel <= EmitLevel::Ptx)
    return emitStageText(session, output);
  if (target == TargetKind::Cuda && session.getOptions().cudaToolkit.empty())
    errs() << "kilnc: warning: no CUDA toolkit found (--cuda-path, CUDA_HOME, /usr/local/cuda): embedding PTX "
              "only, which the driver compiles when the model loads\n";
  return emitCode(session, output);
}
} // namespace

int main(int argc, char **argv) {
  InitLLVM initLLVM(argc, argv);
  cl::ParseCommandLineOptions(argc, argv,
                              "kilnc: the Kiln model compiler\n\n"
                              "  kilnc FILE --emit=LEVEL [-o OUT]   compile\n"
                              "  kilnc gradcheck FILE [--seed S]    check the generated gradients against\n"
                              "                                     central finite differences\n"
                              "  kilnc train FILE --data PATH ...   train through the JIT (as a model binary's\n"
                              "                                     `train`; see the train options)\n");
  bool gradcheck = !positionalArgs.empty() && positionalArgs[0] == "gradcheck";
  bool train = !positionalArgs.empty() && positionalArgs[0] == "train";
  if (positionalArgs.size() > (gradcheck || train ? 2u : 1u))
    return fail("too many positional arguments (one input file, `gradcheck FILE` or `train FILE`)");
  if (gradcheck && positionalArgs.size() != 2)
    return fail("usage: kilnc gradcheck FILE.kiln [--seed S]");
  if (train && (positionalArgs.size() != 2 || trainData.empty()))
    return fail("usage: kilnc train FILE.kiln --data PATH [--epochs E] [--batch B] [--lr X] [--seed S] "
                "[--save W.safetensors] [--resume W.safetensors] [--model NAME]");
  if (train)
    return runTrainCommand(positionalArgs[1]);
  if (gradcheck)
    return runGradcheckCommand(positionalArgs[1]);
  if (!positionalArgs.empty())
    inputFilename = positionalArgs[0];
  return runCompileCommand();
}
