/*===- kiln/runtime.h - The Kiln C runtime API ---------------------*- C -*-===//
 *
 * Part of Kiln, an ML model language compiled via MLIR.
 *
 *===----------------------------------------------------------------------===//
 *
 * The C ABI that compiled Kiln models (ahead-of-time binaries) link: status
 * objects, tensors in 64-byte-aligned host memory, seeded parameter
 * initialization, data readers (IDX as in MNIST, `.npy`, CSV), a `.npy`
 * writer and checkpoints in the safetensors format.
 *
 * Conventions, in the manner of IREE's runtime API (see docs/runtime.md):
 *
 *  - Every function that can fail returns a `kiln_status_t`: NULL means
 *    success; anything else is an error the caller owns and must release
 *    with `kiln_status_free`. Its message names the file (or the argument)
 *    and the problem. On failure, `out` parameters are left set to NULL.
 *  - Objects are opaque handles made by `*_create` / `*_read` / `*_load`
 *    (the result goes to a trailing `out` parameter) and released by the
 *    matching `*_free`. `*_free(NULL)` is a no-op.
 *  - Pointers returned by accessors are borrowed: they stay valid until the
 *    owning object is freed (or, for a checkpoint, until it is modified).
 *  - Thread-safety: there is no global mutable state, so functions may be
 *    called from any thread. One object may be read concurrently from many
 *    threads; an object that is being modified (written to, freed) must not
 *    be used by another thread at the same time — the caller synchronizes.
 *  - No C++ exception ever crosses this interface (the library is built
 *    with -fno-exceptions).
 *  - Data is stored little-endian, row-major (C order). The runtime
 *    supports little-endian hosts only (checked at compile time).
 *
 *===----------------------------------------------------------------------===*/

#ifndef KILN_RUNTIME_H
#define KILN_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*===----------------------------------------------------------------------===
 * Status
 *===----------------------------------------------------------------------===*/

/// The kind of an error, for callers that branch on it; the message is what
/// a person reads.
typedef enum kiln_status_code_e {
  KILN_STATUS_OK = 0,
  KILN_STATUS_INVALID_ARGUMENT = 1,      ///< A bad argument (NULL, bad rank...).
  KILN_STATUS_NOT_FOUND = 2,             ///< No such file, column or tensor.
  KILN_STATUS_DATA_LOSS = 3,             ///< Truncated or malformed file content.
  KILN_STATUS_UNIMPLEMENTED = 4,         ///< A valid but unsupported format/dtype.
  KILN_STATUS_RESOURCE_EXHAUSTED = 5,    ///< Out of memory.
  KILN_STATUS_IO_ERROR = 6,              ///< The operating system refused an I/O.
  KILN_STATUS_FAILED_PRECONDITION = 7,   ///< e.g. a checkpoint tensor's shape
                                         ///< is not the one the model expects.
  KILN_STATUS_CODE_MAX_ENUM = 0x7fffffff ///< Not a code: makes the enum 32
                                         ///< bits wide on every compiler.
} kiln_status_code_t;

/// An error: NULL means success. Opaque; owned by whoever received it.
typedef struct kiln_status_s *kiln_status_t;

/// Makes an error status with a printf-style message. Never returns NULL:
/// when memory runs out it returns a shared static "out of memory" status
/// (which `kiln_status_free` recognises). `code` must not be
/// KILN_STATUS_OK. Thread-safe.
kiln_status_t kiln_status_create(kiln_status_code_t code, const char *format, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/// The message of `status` ("" for NULL). Borrowed: valid until the status is
/// freed.
const char *kiln_status_message(kiln_status_t status);

/// The code of `status` (KILN_STATUS_OK for NULL).
kiln_status_code_t kiln_status_code(kiln_status_t status);

/// Releases `status`. NULL is a no-op.
void kiln_status_free(kiln_status_t status);

/*===----------------------------------------------------------------------===
 * Aligned host memory
 *===----------------------------------------------------------------------===*/

/// The alignment, in bytes, of every tensor's data (one cache line; enough
/// for AVX-512 loads).
#define KILN_TENSOR_ALIGNMENT 64

/// Allocates `size` bytes aligned to `alignment` (a power of two that is a
/// multiple of sizeof(void *)). Returns NULL when out of memory or when the
/// alignment is invalid. A zero `size` still returns a unique pointer. The
/// caller owns the block and releases it with `kiln_aligned_free`.
/// Thread-safe.
void *kiln_aligned_alloc(size_t size, size_t alignment);

/// Releases a block from `kiln_aligned_alloc`. NULL is a no-op.
void kiln_aligned_free(void *ptr);

/*===----------------------------------------------------------------------===
 * Threads
 *===----------------------------------------------------------------------===*/

/// Compiled CPU code runs its parallel loops (the register blocks of every
/// convolution and matmul) on OpenMP's thread pool (libomp). Results do not
/// depend on the thread count: each block is computed the same way by
/// whichever thread runs it.
///
/// Sets the threads of compiled code in this process. `num_threads` > 0:
/// that many; 0: the default, which is the KILN_NUM_THREADS environment
/// variable if set, else every CPU in the process's affinity mask. Fails
/// (INVALID_ARGUMENT) for a negative count or a KILN_NUM_THREADS that is
/// not a positive integer.
kiln_status_t kiln_set_num_threads(int32_t num_threads);

/// The threads compiled code will use for its next parallel loop.
int32_t kiln_get_num_threads(void);

/*===----------------------------------------------------------------------===
 * Tensors
 *===----------------------------------------------------------------------===*/

/// Element types. The values are stable (they may be stored in files).
typedef enum kiln_dtype_e {
  KILN_F32 = 0,
  KILN_F64 = 1,
  KILN_I32 = 2,
  KILN_I64 = 3,
  KILN_U8 = 4,
  KILN_DTYPE_MAX_ENUM = 0x7fffffff ///< Not a dtype: makes the enum 32 bits
                                   ///< wide, so any int32 a C caller passes
                                   ///< is a value the runtime can reject.
} kiln_dtype_t;

/// The largest rank a tensor may have.
#define KILN_MAX_RANK 8

/// Size of one element of `dtype` in bytes (0 for an invalid value).
size_t kiln_dtype_size(kiln_dtype_t dtype);

/// Lower-case name of `dtype`: "f32", "f64", "i32", "i64", "u8" ("?" for an
/// invalid value). Static storage.
const char *kiln_dtype_name(kiln_dtype_t dtype);

/// A dense row-major tensor whose data (64-byte aligned, zero-initialized on
/// creation) it owns. Opaque; use the accessors below.
typedef struct kiln_tensor_s kiln_tensor_t;

/// Creates a tensor of `dtype` with `rank` (0..KILN_MAX_RANK) dimensions
/// `shape[0..rank)` (each >= 0; `shape` may be NULL when rank is 0), its
/// data zero-filled. The caller owns `*out` and frees it with
/// `kiln_tensor_free`.
kiln_status_t kiln_tensor_create(kiln_dtype_t dtype, int32_t rank, const int64_t *shape, kiln_tensor_t **out);

/// Creates a deep copy of `tensor` in `*out` (owned by the caller).
kiln_status_t kiln_tensor_clone(const kiln_tensor_t *tensor, kiln_tensor_t **out);

/// Releases `tensor` and its data. NULL is a no-op.
void kiln_tensor_free(kiln_tensor_t *tensor);

/// The element type.
kiln_dtype_t kiln_tensor_dtype(const kiln_tensor_t *tensor);

/// The number of dimensions (0 for a scalar).
int32_t kiln_tensor_rank(const kiln_tensor_t *tensor);

/// The dimensions: an array of `rank` entries, borrowed from the tensor.
const int64_t *kiln_tensor_shape(const kiln_tensor_t *tensor);

/// Dimension `axis` (0 <= axis < rank), or -1 when out of range.
int64_t kiln_tensor_dim(const kiln_tensor_t *tensor, int32_t axis);

/// The number of elements (the product of the shape; 1 for a scalar).
int64_t kiln_tensor_num_elements(const kiln_tensor_t *tensor);

/// The size of the data in bytes.
size_t kiln_tensor_byte_size(const kiln_tensor_t *tensor);

/// The data (64-byte aligned, row-major), owned by the tensor. The caller
/// may read and write `kiln_tensor_byte_size` bytes through it.
void *kiln_tensor_data(kiln_tensor_t *tensor);

/// Read-only view of the data.
const void *kiln_tensor_const_data(const kiln_tensor_t *tensor);

/*===----------------------------------------------------------------------===
 * Parameter initialization
 *===----------------------------------------------------------------------===*/

/// Initializers, named as in Keras.
typedef enum kiln_init_kind_e {
  KILN_INIT_ZEROS = 0,
  KILN_INIT_ONES = 1,
  KILN_INIT_CONSTANT = 2,         ///< Every element = `value`.
  KILN_INIT_GLOROT_UNIFORM = 3,   ///< U(-l, l), l = sqrt(6 / (fan_in + fan_out)).
  KILN_INIT_MAX_ENUM = 0x7fffffff ///< Not a kind: makes the enum 32 bits wide.
} kiln_init_kind_t;

/// Fills `tensor` (owned by the caller, written in place) with the initial
/// value of the parameter `name`.
///
/// ZEROS, ONES and CONSTANT (`value`, converted to the dtype; must be finite
/// and in range for integer dtypes) work for every dtype; GLOROT_UNIFORM
/// needs f32 or f64. Fans follow Keras: rank 0: 1 and 1; rank 1: shape[0]
/// and shape[0]; rank 2: shape[0] and shape[1]; rank >= 3 (a conv kernel
/// [kh, kw, cin, cout]): receptive = product of all but the last two dims,
/// fan_in = shape[-2] * receptive, fan_out = shape[-1] * receptive.
///
/// Random values are reproducible across machines and compilers: the stream
/// is SplitMix64 started from `kiln_param_stream_seed(seed, name)`, so each
/// parameter's values depend only on (seed, name, shape) — adding another
/// parameter leaves the others unchanged. Element i (row-major) is
/// `l * (2 * u_i - 1)` rounded to the dtype, where u_i = (next() >> 11) *
/// 2^-53 is the i-th draw, computed in double. `value` and `seed` are
/// ignored where they do not apply; `name` may be NULL for non-random kinds.
kiln_status_t kiln_init_param(kiln_tensor_t *tensor, kiln_init_kind_t kind, double value, uint64_t seed,
                              const char *name);

/// 64-bit FNV-1a hash of the NUL-terminated string `text` (offset basis
/// 0xcbf29ce484222325, prime 0x100000001b3).
uint64_t kiln_fnv1a64(const char *text);

/// The SplitMix64 step (Steele, Lea and Flood, 2014): advances `*state` by
/// 0x9e3779b97f4a7c15 and returns the mixed value. The caller owns `state`.
uint64_t kiln_splitmix64_next(uint64_t *state);

/// The initial SplitMix64 state of parameter `name` under the model seed
/// `seed`: with mix(z) the SplitMix64 output function,
/// `mix(seed ^ mix(kiln_fnv1a64(name)))`.
uint64_t kiln_param_stream_seed(uint64_t seed, const char *name);

/*===----------------------------------------------------------------------===
 * Data readers and writers
 *===----------------------------------------------------------------------===*/

/// Reads an IDX file (the MNIST format), gzip-compressed (detected by the
/// magic bytes 1f 8b) or not, into a new tensor `*out` (owned by the
/// caller). The element types map as: u8 -> KILN_U8; i8, i16, i32 ->
/// KILN_I32 (widened); f32 -> KILN_F32; f64 -> KILN_F64. Multi-byte values
/// are big-endian in the file and converted. Errors: missing file, bad
/// magic, unknown type code, rank > KILN_MAX_RANK, truncated data, trailing
/// bytes after the data, a corrupt gzip stream.
kiln_status_t kiln_read_idx(const char *path, kiln_tensor_t **out);

/// Reads a `.npy` file (format versions 1.0, 2.0 and 3.0) into a new tensor
/// `*out` (owned by the caller). Supported descr: '<f4', '<f8', '<i4', '<i8',
/// '|u1' (and '<u1'); C order only (fortran_order True is rejected).
/// Errors: missing file, bad magic or version, malformed header, unsupported
/// dtype, truncated data, trailing bytes.
kiln_status_t kiln_read_npy(const char *path, kiln_tensor_t **out);

/// Writes `tensor` to `path` as a version 1.0 `.npy` file (little-endian,
/// C order, header padded to 64 bytes as numpy does). Atomic: the data goes
/// to `path.tmp.<pid>`, is fsync'ed and renamed over `path`.
kiln_status_t kiln_write_npy(const char *path, const kiln_tensor_t *tensor);

/// Reads the columns `columns[0..num_columns)` (selected by the names in the
/// header row, in the order given) of the comma-separated file `path` into a
/// new f32 tensor `*out` of shape [rows, num_columns] (owned by the caller).
/// Fields may be double-quoted ("" inside quotes is a quote); surrounding
/// blanks are trimmed; CRLF line ends and blank lines are accepted. Errors
/// name the line and column: a missing column, a non-numeric or empty cell,
/// a row with the wrong number of fields.
kiln_status_t kiln_read_csv(const char *path, const char *const *columns, size_t num_columns, kiln_tensor_t **out);

/*===----------------------------------------------------------------------===
 * Checkpoints (safetensors)
 *===----------------------------------------------------------------------===*/

/// A set of uniquely named tensors plus string metadata: the contents of a
/// safetensors file. Opaque. It owns copies of its tensors.
typedef struct kiln_checkpoint_s kiln_checkpoint_t;

/// Creates an empty checkpoint in `*out` (owned by the caller; release with
/// `kiln_checkpoint_free`).
kiln_status_t kiln_checkpoint_create(kiln_checkpoint_t **out);

/// Releases `checkpoint` and every tensor it holds. NULL is a no-op.
void kiln_checkpoint_free(kiln_checkpoint_t *checkpoint);

/// Adds a copy of `tensor` under `name` (non-empty valid UTF-8, not
/// "__metadata__", not already present). The caller keeps ownership of
/// `tensor`.
kiln_status_t kiln_checkpoint_add(kiln_checkpoint_t *checkpoint, const char *name, const kiln_tensor_t *tensor);

/// Sets the metadata entry `key` to `value` (both valid UTF-8), replacing an
/// earlier value. Both strings are copied.
kiln_status_t kiln_checkpoint_set_metadata(kiln_checkpoint_t *checkpoint, const char *key, const char *value);

/// The metadata value of `key`, or NULL when absent. Borrowed.
const char *kiln_checkpoint_metadata(const kiln_checkpoint_t *checkpoint, const char *key);

/// The number of tensors.
size_t kiln_checkpoint_size(const kiln_checkpoint_t *checkpoint);

/// The name of the `index`-th tensor, or NULL when out of range. Borrowed.
/// Tensors are numbered in insertion order, or for a loaded checkpoint in
/// the order of their data in the file.
const char *kiln_checkpoint_name(const kiln_checkpoint_t *checkpoint, size_t index);

/// The `index`-th tensor, or NULL when out of range. Borrowed: do not free.
const kiln_tensor_t *kiln_checkpoint_tensor(const kiln_checkpoint_t *checkpoint, size_t index);

/// The tensor named `name`, or NULL when absent. Borrowed: do not free.
const kiln_tensor_t *kiln_checkpoint_find(const kiln_checkpoint_t *checkpoint, const char *name);

/// Copies the tensor `name` into the caller's preallocated `dst` after
/// checking that its dtype and shape are those of `dst`. Errors name the
/// file the checkpoint came from, e.g. "w.safetensors: tensor
/// 'dense_0.kernel' has shape [64, 10], the model expects [18432, 64]".
kiln_status_t kiln_checkpoint_copy_to(const kiln_checkpoint_t *checkpoint, const char *name, kiln_tensor_t *dst);

/// Writes `checkpoint` to `path` in the safetensors format: an 8-byte
/// little-endian header length N, N bytes of JSON (padded with spaces so
/// that the data starts at a multiple of 8), then the tensors' data,
/// contiguous, in insertion order. Atomic: written to `path.tmp.<pid>`,
/// fsync'ed and renamed over `path`, so an interrupted save leaves any
/// earlier file intact.
kiln_status_t kiln_checkpoint_save(const kiln_checkpoint_t *checkpoint, const char *path);

/// Reads the safetensors file `path` into a new checkpoint `*out` (owned by
/// the caller). Validates the header length against the file size, the JSON,
/// every entry (known dtype, shape, data_offsets with end - begin equal to
/// the shape's byte size, within the data), that the entries neither overlap
/// nor leave holes, that names are unique and `__metadata__` maps strings to
/// strings. Dtypes other than F32, F64, I32, I64, U8 are rejected as
/// unsupported.
kiln_status_t kiln_checkpoint_load(const char *path, kiln_checkpoint_t **out);

/*===----------------------------------------------------------------------===
 * Calling compiled models
 *===----------------------------------------------------------------------===*/

/// The entry point kilnc generates for every model function:
/// `void <Model>_<fn>_packed(void **args)`, where args[0] points to the
/// results (MLIR memref descriptors, one after the other) and args[1..] each
/// point to one memref descriptor `{allocated, aligned, offset, sizes[rank],
/// strides[rank]}` per argument (the parameters, then the inputs).
typedef void (*kiln_packed_fn_t)(void **args);

/// Calls `fn` with `num_args` dense row-major tensors (descriptors are built
/// here) and returns its `num_results` results as new tensors in
/// `results[0..num_results)` (owned by the caller), whose dtypes and ranks
/// the caller states (`result_dtypes`, `result_ranks`, from the model's
/// metadata). Buffers the compiled code allocated are freed here, once each,
/// and never one that is an argument's. The caller checks argument shapes
/// against the model before calling: compiled code trusts them.
/// Thread-safe as long as the arguments are not modified concurrently.
kiln_status_t kiln_invoke(kiln_packed_fn_t fn, size_t num_args, const kiln_tensor_t *const *args, size_t num_results,
                          const kiln_dtype_t *result_dtypes, const int32_t *result_ranks, kiln_tensor_t **results);

/*===----------------------------------------------------------------------===*
 * NVIDIA GPUs (models compiled with kilnc --target=cuda)
 *===----------------------------------------------------------------------===*/

/// Loads the CUDA driver (`libcuda.so.1`, with dlopen: nothing links
/// against CUDA) and makes GPU 0's primary context current. Returns
/// KILN_STATUS_FAILED_PRECONDITION saying why when there is no driver, no
/// GPU, or the driver is too old. Idempotent; the first call decides.
kiln_status_t kiln_cuda_init(void);

/// "NVIDIA H200 (sm_90, 132 SMs)" once kiln_cuda_init succeeded, else NULL.
const char *kiln_cuda_device_name(void);

/// Gives `tensor` a device copy (allocated on first use) and uploads its
/// host data. kiln_invoke_device then passes the device copy (and does not
/// upload it again); compiled code may update it in place (a training
/// step's parameters), after which the host data is stale until
/// kiln_tensor_to_host. kiln_tensor_free frees the device copy too.
kiln_status_t kiln_tensor_to_device(kiln_tensor_t *tensor);

/// Copies the device copy back to the host data if a call may have changed
/// it since (no-op otherwise, and for host-only tensors).
kiln_status_t kiln_tensor_to_host(kiln_tensor_t *tensor);

/// kiln_invoke for functions compiled with --target=cuda (they take and
/// return device buffers): arguments with a device copy are passed as they
/// are (and marked host-stale afterwards), the others are uploaded for the
/// call only; results are copied to new host tensors and their device
/// buffers freed. Waits for the GPU once, before copying results. A CUDA
/// error anywhere in the call (launch, allocation) is returned here.
kiln_status_t kiln_invoke_device(kiln_packed_fn_t fn, size_t num_args, kiln_tensor_t *const *args, size_t num_results,
                                 const kiln_dtype_t *result_dtypes, const int32_t *result_ranks,
                                 kiln_tensor_t **results);

/// kiln_invoke_device whose results stay on the device: each result tensor
/// owns the device buffer the function returned and is host-stale (its host
/// data is allocated but filled only by kiln_tensor_to_host). For feeding
/// one compiled function's results to another without a round trip (a
/// batch gathered on the device, then a training step). Does not wait for
/// the GPU.
kiln_status_t kiln_invoke_device_resident(kiln_packed_fn_t fn, size_t num_args, kiln_tensor_t *const *args,
                                          size_t num_results, const kiln_dtype_t *result_dtypes,
                                          const int32_t *result_ranks, kiln_tensor_t **results);

#ifdef __cplusplus
} // extern "C"
#endif

#endif // KILN_RUNTIME_H
