//===- RuntimeCheckpointTest.cpp - safetensors checkpoints ----------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// GoogleTest cases for checkpoints: save/load round trips with metadata, the
// byte layout of a saved file, loading into preallocated tensors, the atomic
// save, and for every kind of damage (truncation, a header length beyond the
// file, bad JSON, unknown or unsupported dtypes, shapes that disagree with
// the offsets, offsets out of range, overlaps, holes, duplicate names) a
// clear error. A sweep over every truncation and many corrupted headers
// checks that nothing crashes.
//
//===----------------------------------------------------------------------===//

#include "kiln/runtime.h"

#include "gtest/gtest.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "RuntimeTestUtils.h"

namespace {
using namespace kiln_test;

struct CheckpointHolder {
  kiln_checkpoint_t *checkpoint = nullptr;
  ~CheckpointHolder() { kiln_checkpoint_free(checkpoint); }
};

class RuntimeCheckpoint : public TempDirTest {
protected:
  /// A safetensors file from a header text and the data bytes.
  std::string safetensors(const std::string &name, const std::string &header, const std::string &data) {
    std::string bytes;
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i)
      bytes += char((n >> (8 * i)) & 0xff);
    return write(name, bytes + header + data);
  }

  /// The error of loading `file` ("" when it loads).
  static std::string loadError(const std::string &file) {
    kiln_checkpoint_t *checkpoint = nullptr;
    kiln_status_t status = kiln_checkpoint_load(file.c_str(), &checkpoint);
    if (!status) {
      kiln_checkpoint_free(checkpoint);
      return "";
    }
    EXPECT_EQ(checkpoint, nullptr);
    return take(status);
  }

  /// A checkpoint with three tensors and metadata.
  void fill(kiln_checkpoint_t *checkpoint) {
    TensorHolder kernel, bias, step;
    int64_t kernelShape[] = {3, 2}, biasShape[] = {2};
    ASSERT_EQ(kiln_tensor_create(KILN_F32, 2, kernelShape, &kernel.tensor), nullptr);
    ASSERT_EQ(kiln_init_param(kernel.tensor, KILN_INIT_GLOROT_UNIFORM, 0, 1, "dense_0.kernel"), nullptr);
    ASSERT_EQ(kiln_tensor_create(KILN_F64, 1, biasShape, &bias.tensor), nullptr);
    ASSERT_EQ(kiln_init_param(bias.tensor, KILN_INIT_CONSTANT, -0.25, 0, "dense_0.bias"), nullptr);
    ASSERT_EQ(kiln_tensor_create(KILN_I64, 0, nullptr, &step.tensor), nullptr);
    *static_cast<int64_t *>(kiln_tensor_data(step.tensor)) = 1234567890123;
    ASSERT_EQ(kiln_checkpoint_add(checkpoint, "dense_0.kernel", kernel.tensor), nullptr);
    ASSERT_EQ(kiln_checkpoint_add(checkpoint, "dense_0.bias", bias.tensor), nullptr);
    ASSERT_EQ(kiln_checkpoint_add(checkpoint, "step", step.tensor), nullptr);
    ASSERT_EQ(kiln_checkpoint_set_metadata(checkpoint, "format", "pt"), nullptr);
    ASSERT_EQ(kiln_checkpoint_set_metadata(checkpoint, "model", "Mlp"), nullptr);
  }

  /// No save left a temporary file (`<target>.tmp.<pid>.<n>`) in the directory.
  void expectNoTemporaryFiles() const {
    for (const auto &entry : std::filesystem::directory_iterator(dir))
      EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << entry.path();
  }

  /// Makes `c` a checkpoint of one zero tensor `t` called `name`.
  void oneTensorCheckpoint(CheckpointHolder &c, TensorHolder &t, const char *name, kiln_dtype_t dtype,
                           std::vector<int64_t> shape) {
    ASSERT_EQ(kiln_checkpoint_create(&c.checkpoint), nullptr);
    ASSERT_EQ(kiln_tensor_create(dtype, int32_t(shape.size()), shape.data(), &t.tensor), nullptr);
    ASSERT_EQ(kiln_checkpoint_add(c.checkpoint, name, t.tensor), nullptr);
  }

  std::string saveDemo(const std::string &name) {
    CheckpointHolder c;
    EXPECT_EQ(kiln_checkpoint_create(&c.checkpoint), nullptr);
    fill(c.checkpoint);
    std::string file = path(name);
    EXPECT_EQ(kiln_checkpoint_save(c.checkpoint, file.c_str()), nullptr);
    return file;
  }
};

TEST_F(RuntimeCheckpoint, SaveLoadRoundTrip) {
  CheckpointHolder original, loaded;
  ASSERT_EQ(kiln_checkpoint_create(&original.checkpoint), nullptr);
  fill(original.checkpoint);
  std::string file = path("w.safetensors");
  ASSERT_EQ(kiln_checkpoint_save(original.checkpoint, file.c_str()), nullptr);
  ASSERT_EQ(kiln_checkpoint_load(file.c_str(), &loaded.checkpoint), nullptr);
  ASSERT_EQ(kiln_checkpoint_size(loaded.checkpoint), 3u);
  EXPECT_STREQ(kiln_checkpoint_name(loaded.checkpoint, 0), "dense_0.kernel");
  EXPECT_STREQ(kiln_checkpoint_name(loaded.checkpoint, 2), "step");
  EXPECT_EQ(kiln_checkpoint_name(loaded.checkpoint, 3), nullptr);
  EXPECT_STREQ(kiln_checkpoint_metadata(loaded.checkpoint, "model"), "Mlp");
  EXPECT_EQ(kiln_checkpoint_metadata(loaded.checkpoint, "absent"), nullptr);
  for (size_t i = 0; i < 3; ++i) {
    const kiln_tensor_t *a = kiln_checkpoint_tensor(original.checkpoint, i);
    const kiln_tensor_t *b = kiln_checkpoint_find(loaded.checkpoint, kiln_checkpoint_name(original.checkpoint, i));
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(kiln_tensor_dtype(a), kiln_tensor_dtype(b));
    EXPECT_EQ(kiln_tensor_rank(a), kiln_tensor_rank(b));
    ASSERT_EQ(kiln_tensor_byte_size(a), kiln_tensor_byte_size(b));
    EXPECT_EQ(std::memcmp(kiln_tensor_const_data(a), kiln_tensor_const_data(b), kiln_tensor_byte_size(a)), 0);
  }
  EXPECT_EQ(kiln_checkpoint_find(loaded.checkpoint, "nope"), nullptr);
}

TEST_F(RuntimeCheckpoint, SavedLayoutFollowsTheSpec) {
  std::string bytes = read(saveDemo("w.safetensors"));
  ASSERT_GE(bytes.size(), 8u);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i)
    n |= uint64_t(uint8_t(bytes[i])) << (8 * i);
  EXPECT_EQ(n % 8, 0u);
  std::string header = bytes.substr(8, n);
  EXPECT_EQ(header.rfind("{\"__metadata__\":{\"format\":\"pt\",\"model\":\"Mlp\"},"
                         "\"dense_0.kernel\":{\"dtype\":\"F32\",\"shape\":[3,2],"
                         "\"data_offsets\":[0,24]},",
                         0),
            0u)
      << header;
  EXPECT_NE(header.find("\"step\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[40,48]}"), std::string::npos);
  EXPECT_EQ(bytes.size(), 8 + n + 48);
}

TEST_F(RuntimeCheckpoint, CopyToChecksShapeAndDtype) {
  std::string file = saveDemo("w.safetensors");
  CheckpointHolder c;
  ASSERT_EQ(kiln_checkpoint_load(file.c_str(), &c.checkpoint), nullptr);
  TensorHolder good, wrongShape, wrongDtype;
  int64_t shape[] = {3, 2}, bad[] = {18432, 64};
  ASSERT_EQ(kiln_tensor_create(KILN_F32, 2, shape, &good.tensor), nullptr);
  ASSERT_EQ(kiln_checkpoint_copy_to(c.checkpoint, "dense_0.kernel", good.tensor), nullptr);
  EXPECT_EQ(std::memcmp(kiln_tensor_const_data(good.tensor),
                        kiln_tensor_const_data(kiln_checkpoint_find(c.checkpoint, "dense_0.kernel")), 24),
            0);
  ASSERT_EQ(kiln_tensor_create(KILN_F32, 2, bad, &wrongShape.tensor), nullptr);
  kiln_status_t status = kiln_checkpoint_copy_to(c.checkpoint, "dense_0.kernel", wrongShape.tensor);
  EXPECT_EQ(kiln_status_code(status), KILN_STATUS_FAILED_PRECONDITION);
  EXPECT_EQ(take(status), file + ": tensor 'dense_0.kernel' has shape [3, 2], the model expects [18432, 64]");
  ASSERT_EQ(kiln_tensor_create(KILN_I32, 2, shape, &wrongDtype.tensor), nullptr);
  EXPECT_EQ(take(kiln_checkpoint_copy_to(c.checkpoint, "dense_0.kernel", wrongDtype.tensor)),
            file + ": tensor 'dense_0.kernel' has dtype F32, the model expects I32");
  status = kiln_checkpoint_copy_to(c.checkpoint, "dense_1.kernel", good.tensor);
  EXPECT_EQ(kiln_status_code(status), KILN_STATUS_NOT_FOUND);
  EXPECT_EQ(take(status), file + ": no tensor named 'dense_1.kernel' (the checkpoint holds 3 tensors)");
}

TEST_F(RuntimeCheckpoint, AddRejectsBadNames) {
  CheckpointHolder c;
  TensorHolder t;
  ASSERT_EQ(kiln_checkpoint_create(&c.checkpoint), nullptr);
  ASSERT_EQ(kiln_tensor_create(KILN_U8, 0, nullptr, &t.tensor), nullptr);
  ASSERT_EQ(kiln_checkpoint_add(c.checkpoint, "w", t.tensor), nullptr);
  EXPECT_EQ(take(kiln_checkpoint_add(c.checkpoint, "w", t.tensor)),
            "checkpoint: a tensor named 'w' is already present");
  EXPECT_EQ(take(kiln_checkpoint_add(c.checkpoint, "__metadata__", t.tensor)),
            "kiln_checkpoint_add: '__metadata__' cannot name a tensor");
  EXPECT_EQ(take(kiln_checkpoint_add(c.checkpoint, "", t.tensor)), "kiln_checkpoint_add: '' cannot name a tensor");
  EXPECT_EQ(take(kiln_checkpoint_add(c.checkpoint, "bad\xff", t.tensor)),
            "kiln_checkpoint_add: the tensor name is not valid UTF-8");
  EXPECT_EQ(take(kiln_checkpoint_set_metadata(c.checkpoint, "k", "\xc0\x80")),
            "kiln_checkpoint_set_metadata: the value is not valid UTF-8");
  ASSERT_EQ(kiln_checkpoint_add(c.checkpoint, "ünïcode.wéight", t.tensor), nullptr);
  EXPECT_EQ(kiln_checkpoint_size(c.checkpoint), 2u);
  // Unicode names survive a round trip.
  std::string file = path("u.safetensors");
  ASSERT_EQ(kiln_checkpoint_save(c.checkpoint, file.c_str()), nullptr);
  CheckpointHolder loaded;
  ASSERT_EQ(kiln_checkpoint_load(file.c_str(), &loaded.checkpoint), nullptr);
  EXPECT_NE(kiln_checkpoint_find(loaded.checkpoint, "ünïcode.wéight"), nullptr);
}

TEST_F(RuntimeCheckpoint, EmptyCheckpoint) {
  CheckpointHolder c, loaded;
  ASSERT_EQ(kiln_checkpoint_create(&c.checkpoint), nullptr);
  std::string file = path("empty.safetensors");
  ASSERT_EQ(kiln_checkpoint_save(c.checkpoint, file.c_str()), nullptr);
  ASSERT_EQ(kiln_checkpoint_load(file.c_str(), &loaded.checkpoint), nullptr);
  EXPECT_EQ(kiln_checkpoint_size(loaded.checkpoint), 0u);
}

TEST_F(RuntimeCheckpoint, SaveIsAtomic) {
  std::string file = saveDemo("w.safetensors");
  std::string before = read(file);
  // Saving again replaces the file in one step and leaves no temporary.
  CheckpointHolder c;
  TensorHolder t;
  ASSERT_NO_FATAL_FAILURE(oneTensorCheckpoint(c, t, "only", KILN_U8, {}));
  ASSERT_EQ(kiln_checkpoint_save(c.checkpoint, file.c_str()), nullptr);
  EXPECT_NE(read(file), before);
  expectNoTemporaryFiles();

  // A save over a directory is refused before anything is written.
  std::string target = path("target");
  ASSERT_EQ(mkdir(target.c_str(), 0755), 0);
  kiln_status_t status = kiln_checkpoint_save(c.checkpoint, target.c_str());
  ASSERT_NE(status, nullptr);
  EXPECT_EQ(take(status), target + ": is a directory, not a file");
  EXPECT_TRUE(std::filesystem::is_directory(target));
  expectNoTemporaryFiles();

  // A save into a missing directory fails with the path in the message.
  std::string nowhere = path("no/such/dir/w.safetensors");
  status = kiln_checkpoint_save(c.checkpoint, nowhere.c_str());
  EXPECT_EQ(kiln_status_code(status), KILN_STATUS_NOT_FOUND);
  EXPECT_EQ(take(status).rfind(nowhere + ": cannot create " + nowhere + ".tmp.", 0), 0u);
}

TEST_F(RuntimeCheckpoint, SaveNeverFollowsAPlantedTemporaryLink) {
  // Someone who can write the directory plants links where the temporary file
  // could go (the old `.tmp.<pid>` name and the first 50 counter values):
  // the save must not write through them.
  std::string victim = write("victim", "precious");
  std::string file = path("w.safetensors");
  std::string stem = file + ".tmp." + std::to_string(getpid());
  ASSERT_EQ(symlink(victim.c_str(), stem.c_str()), 0);
  for (int k = 0; k < 50; ++k)
    ASSERT_EQ(symlink(victim.c_str(), (stem + "." + std::to_string(k)).c_str()), 0);
  CheckpointHolder c;
  ASSERT_EQ(kiln_checkpoint_create(&c.checkpoint), nullptr);
  fill(c.checkpoint);
  ASSERT_EQ(kiln_checkpoint_save(c.checkpoint, file.c_str()), nullptr);
  EXPECT_EQ(read(victim), "precious");
  EXPECT_FALSE(std::filesystem::is_symlink(file));
  EXPECT_EQ(loadError(file), "");
}

TEST_F(RuntimeCheckpoint, SaveKeepsModeAndWritesThroughALink) {
  std::string file = saveDemo("w.safetensors");
  ASSERT_EQ(chmod(file.c_str(), 0600), 0);
  saveDemo("w.safetensors");
  struct stat info;
  ASSERT_EQ(stat(file.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0600u);

  // A link to the checkpoint stays a link; the file it names is replaced.
  std::string link = path("latest.safetensors");
  ASSERT_EQ(symlink("w.safetensors", link.c_str()), 0);
  CheckpointHolder c;
  ASSERT_EQ(kiln_checkpoint_create(&c.checkpoint), nullptr);
  ASSERT_EQ(kiln_checkpoint_set_metadata(c.checkpoint, "model", "Other"), nullptr);
  ASSERT_EQ(kiln_checkpoint_save(c.checkpoint, link.c_str()), nullptr);
  EXPECT_TRUE(std::filesystem::is_symlink(link));
  CheckpointHolder loaded;
  ASSERT_EQ(kiln_checkpoint_load(file.c_str(), &loaded.checkpoint), nullptr);
  EXPECT_STREQ(kiln_checkpoint_metadata(loaded.checkpoint, "model"), "Other");
  ASSERT_EQ(stat(file.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0600u);

  // A dangling link is refused with its name.
  std::string dangling = path("dangling.safetensors");
  ASSERT_EQ(symlink("missing/w.safetensors", dangling.c_str()), 0);
  kiln_status_t status = kiln_checkpoint_save(c.checkpoint, dangling.c_str());
  ASSERT_NE(status, nullptr);
  EXPECT_EQ(take(status).rfind(dangling + ": is a symbolic link that cannot be followed", 0), 0u);
}

TEST_F(RuntimeCheckpoint, FileSizeLimitGivesAnErrorAndKeepsThePreviousFile) {
  std::string file = saveDemo("w.safetensors");
  std::string before = read(file);
  CheckpointHolder c;
  TensorHolder big;
  ASSERT_NO_FATAL_FAILURE(oneTensorCheckpoint(c, big, "big", KILN_F32, {1 << 20}));
  // `ulimit -f 64` for this process: without SIGXFSZ handled it would die.
  struct rlimit saved;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  struct rlimit limited = saved;
  limited.rlim_cur = 64 * 1024;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limited), 0);
  kiln_status_t status = kiln_checkpoint_save(c.checkpoint, file.c_str());
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &saved), 0);
  ASSERT_NE(status, nullptr);
  EXPECT_EQ(take(status).rfind(file + ": write failed (the file size limit, ulimit -f, was reached)", 0), 0u);
  EXPECT_EQ(read(file), before);
  expectNoTemporaryFiles();
}

TEST_F(RuntimeCheckpoint, ReadsPaddedHeadersAndPythonOrder) {
  // Entries listed out of data order, header padded with spaces.
  std::string header = "{\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[4,6]},"
                       "\"a\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}    ";
  std::string file = safetensors("p.safetensors", header, std::string("\x07\x00\x00\x00\x05\x06", 6));
  CheckpointHolder c;
  ASSERT_EQ(kiln_checkpoint_load(file.c_str(), &c.checkpoint), nullptr);
  EXPECT_STREQ(kiln_checkpoint_name(c.checkpoint, 0), "a");
  EXPECT_STREQ(kiln_checkpoint_name(c.checkpoint, 1), "b");
  EXPECT_EQ(*static_cast<const int32_t *>(kiln_tensor_const_data(kiln_checkpoint_find(c.checkpoint, "a"))), 7);
}

TEST_F(RuntimeCheckpoint, MalformedFilesGiveClearErrors) {
  const std::string entry = "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
  const std::string data(8, '\0');
  struct Case {
    const char *name;
    std::string header;
    std::string data;
    std::string message; // After "<path>: "; a final '*' matches any rest.
  } cases[] = {
      {"bad-json", "{\"w\": ", data,
       "malformed safetensors header: bad JSON: [json.exception.parse_error.101] parse error at line 1, column 7: *"},
      {"not-object", "[1, 2]  ", data, "malformed safetensors header: it does not start with '{'"},
      {"entry-not-object", "{\"w\": 3}", "", "malformed safetensors header: tensor 'w' is not a JSON object"},
      {"no-offsets", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", data,
       "malformed safetensors header: tensor 'w' lacks one of \"dtype\", \"shape\", \"data_offsets\""},
      {"unknown-dtype", "{\"w\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", data,
       "tensor 'w' has unknown dtype 'F33'"},
      {"unsupported-dtype", "{\"w\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[0,8]}}", data,
       "tensor 'w' has dtype BF16, which Kiln does not support (it reads F32, F64, I32, I64 and U8)"},
      {"dtype-not-string", "{\"w\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", data,
       "malformed safetensors header: tensor 'w': \"dtype\" is not a string"},
      {"negative-dim", "{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", data,
       "malformed safetensors header: tensor 'w': \"shape\" holds something other than non-negative integers"},
      {"float-dim", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", data,
       "malformed safetensors header: tensor 'w': \"shape\" holds something other than non-negative integers"},
      {"rank-9", "{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", "x",
       "tensor 'w' has 9 dimensions, Kiln supports at most 8"},
      {"wrong-shape", "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", data,
       "tensor 'w' of dtype F32 and shape [3] needs 12 bytes, but its data_offsets [0, 8] cover 8"},
      {"huge-shape", "{\"w\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", data,
       "tensor 'w' of dtype F64 and shape [4294967296, 4294967296] needs too many bytes, but its data_offsets [0, 8] "
       "cover 8"},
      {"out-of-range", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", data,
       "tensor 'w' has data_offsets [4, 12] outside the 8 bytes of data (file truncated?)"},
      {"reversed", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", data,
       "tensor 'w' has data_offsets [8, 0] that end before they begin"},
      {"offsets-not-pair", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", data,
       "malformed safetensors header: tensor 'w': \"data_offsets\" is not a pair of non-negative integers"},
      {"overlap", "{\"a\":" + entry + ",\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", data,
       "the data of tensors 'a' and 'b' overlap (bytes 4 to 8)"},
      {"hole", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", data,
       "bytes 0 to 4 of the data belong to no tensor"},
      {"trailing", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", data,
       "bytes 4 to 8 of the data belong to no tensor (trailing bytes)"},
      {"duplicate", "{\"w\":" + entry + ",\"w\":" + entry + "}", data,
       "malformed safetensors header: the name 'w' appears twice"},
      {"metadata-not-object", "{\"__metadata__\": [], \"w\":" + entry + "}", data,
       "malformed safetensors header: \"__metadata__\" is not an object"},
      {"metadata-not-string", "{\"__metadata__\": {\"epoch\": 3}, \"w\":" + entry + "}", data,
       "malformed safetensors header: \"__metadata__\" entry 'epoch' is not a string"},
      {"deep", "{\"w\":" + std::string(40, '[') + std::string(40, ']') + "}", "",
       "malformed safetensors header: the JSON nests too deeply"},
      {"bad-utf8", "{\"w\xff\":" + entry + "}", data,
       "malformed safetensors header: bad JSON: [json.exception.parse_error.101] parse error at line 1, column 4: *"},
  };
  for (const Case &c : cases) {
    std::string file = safetensors(std::string(c.name) + ".safetensors", c.header, c.data);
    std::string expected = file + ": " + c.message;
    std::string error = loadError(file);
    if (expected.back() == '*')
      EXPECT_EQ(error.rfind(expected.substr(0, expected.size() - 1), 0), 0u) << c.name << ": " << error;
    else
      EXPECT_EQ(error, expected) << c.name;
  }
}

TEST_F(RuntimeCheckpoint, BadLengthsGiveClearErrors) {
  std::string tiny = write("tiny.safetensors", "abc");
  EXPECT_EQ(loadError(tiny), tiny + ": truncated safetensors file: 3 bytes, too short for the 8-byte header length");
  std::string bytes(8, '\0');
  bytes[0] = char(200);
  std::string longHeader = write("long.safetensors", bytes + "{}");
  EXPECT_EQ(loadError(longHeader),
            longHeader +
                ": truncated or corrupt safetensors file: the header length 200 exceeds the 2 bytes that follow it");
  std::string huge = write("huge.safetensors", std::string(7, '\xff') + '\x7f' + "{}");
  EXPECT_NE(loadError(huge).find("exceeds the 2 bytes"), std::string::npos);
  std::string zero = write("zero.safetensors", std::string(8, '\0'));
  EXPECT_EQ(loadError(zero), zero + ": malformed safetensors header: it does not start with '{'");
  std::string missing = path("missing.safetensors");
  kiln_checkpoint_t *c = nullptr;
  kiln_status_t status = kiln_checkpoint_load(missing.c_str(), &c);
  EXPECT_EQ(kiln_status_code(status), KILN_STATUS_NOT_FOUND);
  EXPECT_EQ(take(status), missing + ": cannot open: No such file or directory");
}

TEST_F(RuntimeCheckpoint, TruncationSweepNeverCrashes) {
  std::string full = read(saveDemo("w.safetensors"));
  for (size_t length = 0; length < full.size(); ++length) {
    std::string file = write("cut.safetensors", full.substr(0, length));
    std::string error = loadError(file);
    EXPECT_EQ(error.rfind(file + ": ", 0), 0u) << length << ": " << error;
  }
  EXPECT_EQ(loadError(write("full.safetensors", full)), "");
}

TEST_F(RuntimeCheckpoint, CorruptionSweepNeverCrashes) {
  std::string full = read(saveDemo("w.safetensors"));
  uint64_t state = 12345;
  size_t failures = 0;
  for (int round = 0; round < 500; ++round) {
    std::string bytes = full;
    // Flip 1 to 3 bytes, mostly in the header.
    int flips = 1 + int(kiln_splitmix64_next(&state) % 3);
    for (int i = 0; i < flips; ++i) {
      size_t at = kiln_splitmix64_next(&state) % std::min<size_t>(bytes.size(), 260);
      bytes[at] = char(kiln_splitmix64_next(&state));
    }
    std::string file = write("corrupt.safetensors", bytes);
    std::string error = loadError(file);
    if (!error.empty()) {
      ++failures;
      EXPECT_EQ(error.rfind(file + ": ", 0), 0u) << error;
    }
  }
  EXPECT_GT(failures, 250u);
}

} // namespace
