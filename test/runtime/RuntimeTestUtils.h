//===- RuntimeTestUtils.h - Shared helpers of the runtime unit tests -*- C++ -*-===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// What the runtime's GoogleTest files (RuntimeTensorTest, RuntimeReaderTest,
// RuntimeCheckpointTest) all need: owning a tensor for a test, turning a
// status into its message, and a fixture with a fresh temporary directory.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TEST_UNIT_RUNTIMETESTUTILS_H
#define KILN_TEST_UNIT_RUNTIMETESTUTILS_H

#include "kiln/runtime.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <unistd.h>

namespace kiln_test {

/// Owns a tensor for the length of a test.
struct TensorHolder {
  kiln_tensor_t *tensor = nullptr;
  ~TensorHolder() { kiln_tensor_free(tensor); }
};

/// The message of `status`, which it frees.
inline std::string take(kiln_status_t status) {
  std::string message = kiln_status_message(status);
  kiln_status_free(status);
  return message;
}

/// A fresh temporary directory per test (under $TMPDIR or /tmp), removed
/// afterwards, with helpers to name and write files in it.
class TempDirTest : public ::testing::Test {
protected:
  void SetUp() override {
    const char *base = std::getenv("TMPDIR");
    std::string pattern = std::string(base ? base : "/tmp") + "/kiln-test-XXXXXX";
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    ASSERT_NE(mkdtemp(buffer.data()), nullptr);
    dir = buffer.data();
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }

  std::string path(const std::string &name) const { return dir + "/" + name; }

  std::string write(const std::string &name, const std::string &bytes) {
    std::string file = path(name);
    std::ofstream out(file, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return file;
  }

  /// The whole contents of `file` ("" if it cannot be read).
  static std::string read(const std::string &file) {
    std::ifstream in(file, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::string dir;
};

} // namespace kiln_test

#endif // KILN_TEST_UNIT_RUNTIMETESTUTILS_H
