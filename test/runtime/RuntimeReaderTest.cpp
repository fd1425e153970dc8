//===- RuntimeReaderTest.cpp - IDX, .npy and CSV readers ------------------===//
//
// Part of Kiln, an ML model language compiled via MLIR.
//
//===----------------------------------------------------------------------===//
//
// GoogleTest cases for the runtime's data readers and the .npy writer, on
// files built byte by byte under a temporary directory: every element type,
// gzip and plain IDX, .npy versions, CSV quoting, and for each malformed
// input the exact error message (never a crash). The real Fashion-MNIST
// files are read when Debian's dataset-fashion-mnist is installed.
//
//===----------------------------------------------------------------------===//

#include "kiln/runtime.h"

#include "gtest/gtest.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>
#include <zlib.h>

#include "RuntimeTestUtils.h"

namespace {
using namespace kiln_test;

/// Reader tests: a fresh temporary directory per test, plus gzip files.
class RuntimeReader : public TempDirTest {
protected:
  std::string writeGzip(const std::string &name, const std::string &bytes) {
    std::string file = path(name);
    gzFile gz = gzopen(file.c_str(), "wb");
    EXPECT_NE(gz, nullptr);
    gzwrite(gz, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(gz);
    return file;
  }
};

std::string bigEndian32(uint32_t v) { return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; }

/// An IDX header: 00 00 type rank, then the dims.
std::string idxHeader(unsigned char type, std::vector<uint32_t> dims) {
  std::string header = {0, 0, char(type), char(dims.size())};
  for (uint32_t d : dims)
    header += bigEndian32(d);
  return header;
}

// --- IDX ------------------------------------------------------------------

TEST_F(RuntimeReader, IdxU8PlainAndGzip) {
  std::string bytes = idxHeader(0x08, {2, 3});
  for (int i = 0; i < 6; ++i)
    bytes += char(250 + i);
  for (std::string file : {write("a.idx", bytes), writeGzip("a.idx.gz", bytes)}) {
    TensorHolder t;
    ASSERT_EQ(kiln_read_idx(file.c_str(), &t.tensor), nullptr) << file;
    EXPECT_EQ(kiln_tensor_dtype(t.tensor), KILN_U8);
    ASSERT_EQ(kiln_tensor_rank(t.tensor), 2);
    EXPECT_EQ(kiln_tensor_dim(t.tensor, 0), 2);
    EXPECT_EQ(kiln_tensor_dim(t.tensor, 1), 3);
    const uint8_t *data = static_cast<const uint8_t *>(kiln_tensor_const_data(t.tensor));
    EXPECT_EQ(data[0], 250);
    EXPECT_EQ(data[5], 255);
  }
}

TEST_F(RuntimeReader, IdxBigEndianTypes) {
  TensorHolder f32, i16, i8, f64, i32;
  std::string f = idxHeader(0x0D, {2});
  f += std::string("\x3f\xc0\x00\x00", 4) + std::string("\xc0\x20\x00\x00", 4); // 1.5, -2.5
  ASSERT_EQ(kiln_read_idx(write("f.idx", f).c_str(), &f32.tensor), nullptr);
  EXPECT_EQ(static_cast<const float *>(kiln_tensor_const_data(f32.tensor))[0], 1.5f);
  EXPECT_EQ(static_cast<const float *>(kiln_tensor_const_data(f32.tensor))[1], -2.5f);

  std::string s = idxHeader(0x0B, {2}) + std::string("\xff\xfe\x01\x00", 4); // -2, 256
  ASSERT_EQ(kiln_read_idx(write("s.idx", s).c_str(), &i16.tensor), nullptr);
  EXPECT_EQ(kiln_tensor_dtype(i16.tensor), KILN_I32);
  EXPECT_EQ(static_cast<const int32_t *>(kiln_tensor_const_data(i16.tensor))[0], -2);
  EXPECT_EQ(static_cast<const int32_t *>(kiln_tensor_const_data(i16.tensor))[1], 256);

  std::string b = idxHeader(0x09, {1}) + "\x80";
  ASSERT_EQ(kiln_read_idx(write("b.idx", b).c_str(), &i8.tensor), nullptr);
  EXPECT_EQ(static_cast<const int32_t *>(kiln_tensor_const_data(i8.tensor))[0], -128);

  std::string d = idxHeader(0x0E, {}) + std::string("\x40\x09\x21\xfb\x54\x44\x2d\x18", 8);
  ASSERT_EQ(kiln_read_idx(write("d.idx", d).c_str(), &f64.tensor), nullptr);
  EXPECT_EQ(kiln_tensor_rank(f64.tensor), 0);
  EXPECT_EQ(static_cast<const double *>(kiln_tensor_const_data(f64.tensor))[0], 3.141592653589793);

  std::string w = idxHeader(0x0C, {1}) + std::string("\xff\xff\xff\xfd", 4);
  ASSERT_EQ(kiln_read_idx(write("w.idx", w).c_str(), &i32.tensor), nullptr);
  EXPECT_EQ(static_cast<const int32_t *>(kiln_tensor_const_data(i32.tensor))[0], -3);
}

TEST_F(RuntimeReader, IdxErrors) {
  kiln_tensor_t *t = nullptr;
  std::string missing = path("train-images.gz");
  kiln_status_t status = kiln_read_idx(missing.c_str(), &t);
  EXPECT_EQ(kiln_status_code(status), KILN_STATUS_NOT_FOUND);
  EXPECT_EQ(take(status), missing + ": cannot open: No such file or directory");

  std::string cut = write("cut.idx", idxHeader(0x08, {60000, 28, 28}) + std::string(1200, 'x'));
  status = kiln_read_idx(cut.c_str(), &t);
  EXPECT_EQ(kiln_status_code(status), KILN_STATUS_DATA_LOSS);
  EXPECT_EQ(take(status), cut + ": truncated IDX file: expected 47040000 bytes "
                                "of data, found 1200");
  EXPECT_EQ(t, nullptr);

  std::string cutGz = writeGzip("cut.idx.gz", idxHeader(0x08, {100}) + std::string(10, 'x'));
  EXPECT_EQ(take(kiln_read_idx(cutGz.c_str(), &t)), cutGz + ": truncated gzip-compressed IDX file: expected 100 bytes "
                                                            "of data, found 10");

  std::string dims = write("dims.idx", idxHeader(0x08, {5, 5}).substr(0, 6));
  EXPECT_EQ(take(kiln_read_idx(dims.c_str(), &t)),
            dims + ": truncated IDX file: expected 8 bytes of dimensions, found 2");

  std::string magic = write("magic.idx", "\x01\x02\x08\x01");
  EXPECT_EQ(take(kiln_read_idx(magic.c_str(), &t)),
            magic + ": not an IDX file: the magic number starts with 01 02, expected 00 00");

  std::string type = write("type.idx", idxHeader(0x0A, {1}) + "x");
  EXPECT_EQ(take(kiln_read_idx(type.c_str(), &t)),
            type + ": unknown IDX element type 0x0a (expected 08 u8, 09 i8, 0b i16, 0c i32, 0d f32 or 0e f64)");

  std::string rank = write("rank.idx", idxHeader(0x08, std::vector<uint32_t>(9, 1)) + "x");
  EXPECT_EQ(take(kiln_read_idx(rank.c_str(), &t)), rank + ": IDX file has 9 dimensions, Kiln supports at most 8");

  std::string trailing = write("trailing.idx", idxHeader(0x08, {2}) + "abc");
  EXPECT_EQ(take(kiln_read_idx(trailing.c_str(), &t)),
            trailing + ": unexpected bytes after the 2 bytes of data that the IDX dimensions [2] announce");

  std::string empty = write("empty.idx", "");
  EXPECT_EQ(take(kiln_read_idx(empty.c_str(), &t)),
            empty + ": truncated IDX file: expected 4 bytes of header, found 0");

  // Huge dimensions in a tiny file: an error, not an attempt to allocate.
  std::string huge = write("huge.idx", idxHeader(0x0E, {0xffffffff, 0xffffffff, 0xffff}));
  EXPECT_NE(take(kiln_read_idx(huge.c_str(), &t)), "");
  std::string hugeGz = writeGzip("huge.gz", idxHeader(0x0E, {0xffffffff, 0xffffffff, 0xffff}));
  EXPECT_NE(take(kiln_read_idx(hugeGz.c_str(), &t)), "");

  // A gzip file announcing more data than deflate can expand it to (1032:1)
  // is refused before anything is allocated.
  std::string bomb = writeGzip("bomb.gz", idxHeader(0x08, {1u << 20, 1024}));
  std::string bombError = take(kiln_read_idx(bomb.c_str(), &t));
  EXPECT_EQ(bombError.rfind(bomb + ": the IDX dimensions [1048576, 1024] announce 1073741824 bytes of data, more than "
                                   "a gzip file of ",
                            0),
            0u)
      << bombError;

  // Bytes after the gzip data that are not another member are an error (zlib's
  // gzread ignored them); a second member is read as the continuation.
  std::string whole = idxHeader(0x08, {4}) + "abcd";
  std::string member = read(writeGzip("member.gz", whole));
  std::string garbage = write("garbage.gz", member + "trailing junk");
  EXPECT_EQ(take(kiln_read_idx(garbage.c_str(), &t)),
            garbage + ": unexpected bytes after the end of the gzip data (not another gzip member)");
  std::string first = read(writeGzip("first.gz", whole.substr(0, 6)));
  std::string second = read(writeGzip("second.gz", whole.substr(6)));
  std::string members = write("members.gz", first + second);
  TensorHolder joined;
  ASSERT_EQ(kiln_read_idx(members.c_str(), &joined.tensor), nullptr);
  EXPECT_EQ(std::string(static_cast<const char *>(kiln_tensor_const_data(joined.tensor)), 4), "abcd");
  // A member cut before its trailer (CRC and size) is truncated.
  std::string noTrailer = write("notrailer.gz", member.substr(0, member.size() - 8));
  EXPECT_EQ(take(kiln_read_idx(noTrailer.c_str(), &t)),
            noTrailer + ": truncated gzip-compressed IDX file: the gzip stream ends before its end marker");

  // gzip magic followed by garbage.
  std::string corrupt = write("corrupt.gz", std::string("\x1f\x8b\x08\x00garbage-garbage", 19));
  EXPECT_NE(take(kiln_read_idx(corrupt.c_str(), &t)).find(corrupt + ": "), std::string::npos);
  EXPECT_EQ(t, nullptr);
}

TEST_F(RuntimeReader, FashionMnist) {
  const std::string base = "/usr/share/datasets/fashion-mnist/";
  if (!std::filesystem::exists(base + "train-labels-idx1-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  TensorHolder labels, images;
  ASSERT_EQ(kiln_read_idx((base + "train-labels-idx1-ubyte.gz").c_str(), &labels.tensor), nullptr);
  ASSERT_EQ(kiln_tensor_rank(labels.tensor), 1);
  ASSERT_EQ(kiln_tensor_dim(labels.tensor, 0), 60000);
  int counts[10] = {};
  const uint8_t *data = static_cast<const uint8_t *>(kiln_tensor_const_data(labels.tensor));
  for (int i = 0; i < 60000; ++i) {
    ASSERT_LT(data[i], 10);
    ++counts[data[i]];
  }
  for (int c = 0; c < 10; ++c)
    EXPECT_EQ(counts[c], 6000);
  ASSERT_EQ(kiln_read_idx((base + "t10k-images-idx3-ubyte.gz").c_str(), &images.tensor), nullptr);
  EXPECT_EQ(kiln_tensor_num_elements(images.tensor), 10000 * 28 * 28);
  EXPECT_EQ(kiln_tensor_dim(images.tensor, 2), 28);
}

// --- .npy -----------------------------------------------------------------

/// A .npy file of `version` with the given dict and data.
std::string npyBytes(const std::string &dict, const std::string &data, int version = 1) {
  std::string bytes = "\x93NUMPY";
  bytes += char(version);
  bytes += char(0);
  std::string header = dict + "\n";
  if (version == 1) {
    bytes += char(header.size() & 0xff);
    bytes += char(header.size() >> 8);
  } else {
    for (int i = 0; i < 4; ++i)
      bytes += char((header.size() >> (8 * i)) & 0xff);
  }
  return bytes + header + data;
}

TEST_F(RuntimeReader, NpyWriteReadEveryDtype) {
  int64_t shape[] = {2, 3};
  for (kiln_dtype_t dtype : {KILN_F32, KILN_F64, KILN_I32, KILN_I64, KILN_U8}) {
    TensorHolder a, b;
    ASSERT_EQ(kiln_tensor_create(dtype, 2, shape, &a.tensor), nullptr);
    uint8_t *bytes = static_cast<uint8_t *>(kiln_tensor_data(a.tensor));
    for (size_t i = 0; i < kiln_tensor_byte_size(a.tensor); ++i)
      bytes[i] = static_cast<uint8_t>(i * 37 + 1);
    std::string file = path(std::string(kiln_dtype_name(dtype)) + ".npy");
    ASSERT_EQ(kiln_write_npy(file.c_str(), a.tensor), nullptr);
    ASSERT_EQ(kiln_read_npy(file.c_str(), &b.tensor), nullptr);
    EXPECT_EQ(kiln_tensor_dtype(b.tensor), dtype);
    EXPECT_EQ(kiln_tensor_dim(b.tensor, 1), 3);
    EXPECT_EQ(std::memcmp(kiln_tensor_const_data(a.tensor), kiln_tensor_const_data(b.tensor),
                          kiln_tensor_byte_size(a.tensor)),
              0);
    // numpy's layout: the data starts at a multiple of 64.
    EXPECT_EQ(std::filesystem::file_size(file) % 64, kiln_tensor_byte_size(a.tensor) % 64);
  }
}

TEST_F(RuntimeReader, NpyHeaderForms) {
  std::string data(12, '\0');
  TensorHolder v2, v3, oneDim, scalar;
  ASSERT_EQ(kiln_read_npy(
                write("v2.npy", npyBytes("{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", data, 2)).c_str(),
                &v2.tensor),
            nullptr);
  EXPECT_EQ(kiln_tensor_dim(v2.tensor, 0), 3);
  ASSERT_EQ(
      kiln_read_npy(
          write("v3.npy", npyBytes("{\"descr\":\"<f4\",\"shape\":(1,3),\"fortran_order\":False}", data, 3)).c_str(),
          &v3.tensor),
      nullptr);
  EXPECT_EQ(kiln_tensor_rank(v3.tensor), 2);
  ASSERT_EQ(kiln_read_npy(
                write("l.npy", npyBytes("{'descr': '|u1', 'fortran_order': False, 'shape': (12L,), }", data)).c_str(),
                &oneDim.tensor),
            nullptr);
  EXPECT_EQ(kiln_tensor_dim(oneDim.tensor, 0), 12);
  ASSERT_EQ(kiln_read_npy(write("s.npy", npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (), }",
                                                  std::string(8, '\0')))
                              .c_str(),
                          &scalar.tensor),
            nullptr);
  EXPECT_EQ(kiln_tensor_rank(scalar.tensor), 0);
}

TEST_F(RuntimeReader, NpyErrors) {
  kiln_tensor_t *t = nullptr;
  std::string fortran = write(
      "fortran.npy", npyBytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", std::string(24, '\0')));
  kiln_status_t status = kiln_read_npy(fortran.c_str(), &t);
  EXPECT_EQ(kiln_status_code(status), KILN_STATUS_UNIMPLEMENTED);
  EXPECT_EQ(take(status), fortran + ": .npy array is in Fortran order (fortran_order: True); Kiln reads C-order arrays "
                                    "only (save it with np.save(path, np.ascontiguousarray(a)))");

  std::string f16 = write("f16.npy", npyBytes("{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", "abcd"));
  EXPECT_EQ(take(kiln_read_npy(f16.c_str(), &t)),
            f16 + ": unsupported .npy dtype '<f2' (Kiln reads '<f4', '<f8', '<i4', '<i8' and '|u1')");

  std::string cut =
      write("cut.npy", npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (4, 2), }", std::string(20, '\0')));
  EXPECT_EQ(take(kiln_read_npy(cut.c_str(), &t)),
            cut + ": truncated .npy file: expected 64 bytes of data for shape [4, 2] of <f8, found 20");

  std::string extra = write("extra.npy", npyBytes("{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", "abc"));
  EXPECT_EQ(take(kiln_read_npy(extra.c_str(), &t)),
            extra + ": 1 unexpected bytes after the 2 bytes of data that shape [2] of |u1 needs");

  std::string magic = write("magic.npy", "PK\x03\x04 not numpy");
  EXPECT_EQ(take(kiln_read_npy(magic.c_str(), &t)), magic + ": not a .npy file: missing the magic \\x93NUMPY");

  std::string version = write("version.npy", std::string("\x93NUMPY\x04\x00\x00\x00", 10));
  EXPECT_EQ(take(kiln_read_npy(version.c_str(), &t)),
            version + ": unsupported .npy format version 4.0 (Kiln reads 1.0, 2.0 and 3.0)");

  std::string header = write("header.npy", std::string("\x93NUMPY\x01\x00\xff\x00{'descr'", 18));
  EXPECT_EQ(take(kiln_read_npy(header.c_str(), &t)),
            header + ": truncated .npy file: the header announces 255 bytes, the file has 8 after the header length");

  std::string missingKey = write("key.npy", npyBytes("{'descr': '<f4', 'shape': (1,), }", "abcd"));
  EXPECT_NE(take(kiln_read_npy(missingKey.c_str(), &t)).find("needs the keys"), std::string::npos);

  std::string badShape = write("shape.npy", npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", ""));
  EXPECT_NE(take(kiln_read_npy(badShape.c_str(), &t)).find("malformed .npy header"), std::string::npos);

  std::string structured =
      write("struct.npy", npyBytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", "abcd"));
  EXPECT_EQ(take(kiln_read_npy(structured.c_str(), &t)), structured + ": structured .npy dtypes are not supported");

  std::string rank =
      write("rank.npy", npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", "abcd"));
  EXPECT_EQ(take(kiln_read_npy(rank.c_str(), &t)), rank + ": .npy array has more than 8 dimensions");

  std::string huge = write(
      "huge.npy", npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999, 99999999999), }", ""));
  EXPECT_EQ(take(kiln_read_npy(huge.c_str(), &t)), huge + ": .npy shape [99999999999, 99999999999] is too large");
  EXPECT_EQ(t, nullptr);
}

// --- CSV ------------------------------------------------------------------

TEST_F(RuntimeReader, CsvSelectsColumnsInOrder) {
  std::string file = write("iris.csv", "\xEF\xBB\xBF"
                                       "sepal_length, \"name, full\" ,petal_width,species\r\n"
                                       "5.1,\"a, b\",0.2,0\r\n"
                                       "\r\n"
                                       "  4.9 , \"say \"\"x\"\"\",+0.25,1e2\r\n"
                                       "-1.5e-3,c,.5,-0\r\n");
  const char *columns[] = {"petal_width", "sepal_length", "species"};
  TensorHolder t;
  ASSERT_EQ(kiln_read_csv(file.c_str(), columns, 3, &t.tensor), nullptr);
  EXPECT_EQ(kiln_tensor_dtype(t.tensor), KILN_F32);
  ASSERT_EQ(kiln_tensor_dim(t.tensor, 0), 3);
  ASSERT_EQ(kiln_tensor_dim(t.tensor, 1), 3);
  const float *v = static_cast<const float *>(kiln_tensor_const_data(t.tensor));
  std::vector<float> expected = {0.2f, 5.1f, 0, 0.25f, 4.9f, 100, 0.5f, -1.5e-3f, 0};
  for (size_t i = 0; i < expected.size(); ++i)
    EXPECT_EQ(v[i], expected[i]) << i;
}

TEST_F(RuntimeReader, CsvQuotedColumnNameAndHeaderOnly) {
  std::string file = write("h.csv", "a,\"b,c\"\n");
  const char *columns[] = {"b,c"};
  TensorHolder t;
  ASSERT_EQ(kiln_read_csv(file.c_str(), columns, 1, &t.tensor), nullptr);
  EXPECT_EQ(kiln_tensor_dim(t.tensor, 0), 0);
  EXPECT_EQ(kiln_tensor_dim(t.tensor, 1), 1);
}

TEST_F(RuntimeReader, CsvErrors) {
  kiln_tensor_t *t = nullptr;
  std::string file = write("data.csv", "age,height\n31,1.8\nabc,1.7\n");
  const char *age[] = {"age"}, *weight[] = {"height", "weight"};
  kiln_status_t status = kiln_read_csv(file.c_str(), weight, 2, &t);
  EXPECT_EQ(kiln_status_code(status), KILN_STATUS_NOT_FOUND);
  EXPECT_EQ(take(status), file + ": no column named 'weight' (the header has: age, height)");
  EXPECT_EQ(take(kiln_read_csv(file.c_str(), age, 1, &t)),
            file + ": line 3, column 'age': cannot read 'abc' as a number");

  std::string empty = write("empty-cell.csv", "age,height\n31,\n");
  const char *height[] = {"height"};
  EXPECT_EQ(take(kiln_read_csv(empty.c_str(), height, 1, &t)),
            empty + ": line 2, column 'height': empty cell, expected a number");

  std::string ragged = write("ragged.csv", "a,b\n1,2\n\n\n3\n");
  EXPECT_EQ(take(kiln_read_csv(ragged.c_str(), height, 0, &t)), ragged + ": no columns requested");
  const char *a[] = {"a"};
  EXPECT_EQ(take(kiln_read_csv(ragged.c_str(), a, 1, &t)), ragged + ": line 5 has 1 fields, the header has 2");

  std::string quote = write("quote.csv", "a\n\"1\n");
  EXPECT_EQ(take(kiln_read_csv(quote.c_str(), a, 1, &t)), quote + ": line 2: unterminated quoted field");

  std::string nothing = write("nothing.csv", "\n\n");
  EXPECT_EQ(take(kiln_read_csv(nothing.c_str(), a, 1, &t)),
            nothing + ": empty CSV file: expected a header row of column names");

  std::string twice = write("twice.csv", "a,a\n1,2\n");
  EXPECT_EQ(take(kiln_read_csv(twice.c_str(), a, 1, &t)), twice + ": column 'a' appears twice in the header");

  std::string range = write("range.csv", "a\n1e39\n");
  EXPECT_EQ(take(kiln_read_csv(range.c_str(), a, 1, &t)),
            range + ": line 2, column 'a': '1e39' is out of range for f32");

  std::string absent = path("absent.csv");
  EXPECT_EQ(take(kiln_read_csv(absent.c_str(), a, 1, &t)), absent + ": cannot open: No such file or directory");
  EXPECT_EQ(t, nullptr);
}

} // namespace
