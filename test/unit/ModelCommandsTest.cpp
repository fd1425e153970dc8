//===- ModelCommandsTest.cpp - The model binary's commands as a library ---===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// `kilnc train` runs the model binaries' training loop in its own process
// (runtime/model/ModelCommands.h). An error in the user's data must come
// back as a status with the message on standard error, never end the
// process: this test would die with the process if it did. The same call
// then trains on good data, so the error path leaves nothing behind that
// breaks the next run.
//
//===----------------------------------------------------------------------===//

#include "ModelCommands.h"
#include "kiln/Jit.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <unistd.h>

namespace {

/// A CSV for LogisticRegression (30 features f0..f29 and a label y), with
/// `badValue` as the first feature of its second row.
std::string writeCsv(const std::string &path, const std::string &badValue) {
  std::ofstream csv(path);
  for (int c = 0; c < 30; ++c)
    csv << "f" << c << ",";
  csv << "y\n";
  for (int row = 0; row < 8; ++row) {
    for (int c = 0; c < 30; ++c)
      csv << (row == 1 && c == 0 ? badValue : std::to_string(0.01 * (row + c))) << ",";
    csv << (row % 2) << "\n";
  }
  return path;
}

std::string featureColumns() {
  std::string spec = "x=";
  for (int c = 0; c < 30; ++c)
    spec += (c ? ",f" : "f") + std::to_string(c);
  return spec;
}

TEST(ModelCommands, TrainingErrorsReturnAStatusAndTheNextRunWorks) {
  auto jit = kiln::Jit::compileFile(KILN_EXAMPLES_DIR "/logistic_regression.kiln");
  ASSERT_TRUE(bool(jit)) << llvm::toString(jit.takeError());
  const void *descriptor = (*jit)->getModelDescriptor("LogisticRegression");
  ASSERT_NE(descriptor, nullptr);

  std::string dir = ::testing::TempDir() + "kiln-model-commands-" + std::to_string(getpid());
  ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
  kiln_binary::TrainOptions options;
  options.columns = {featureColumns(), "y=y"};
  options.batch = 4;
  options.quiet = true;

  options.data = writeCsv(dir + "/bad.csv", "nan");
  ::testing::internal::CaptureStderr();
  int status = kiln_binary::trainModel(descriptor, options, "trainer");
  std::string errors = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(status, 1);
  EXPECT_NE(errors.find("trainer: error: "), std::string::npos) << errors;
  EXPECT_NE(errors.find("bad.csv"), std::string::npos) << errors;

  options.data = writeCsv(dir + "/good.csv", "0.5");
  options.save = dir + "/weights.safetensors";
  ::testing::internal::CaptureStdout();
  status = kiln_binary::trainModel(descriptor, options, "trainer");
  ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(status, 0);
  EXPECT_TRUE(std::ifstream(options.save).good());
  std::system(("rm -rf " + dir).c_str());
}

} // namespace
