// CheckpointStorage: the files of a job's checkpoints on a local (or mounted) file system.
//
// Layout (docs/checkpoints.md has the byte formats):
//   <root>/<job_id>/chk-<id>/<data files>   written by WriteDataFile, each ending in a trailer
//   <root>/<job_id>/chk-<id>/_metadata      the manifest, written last by CommitCheckpoint
// A checkpoint is complete exactly when its _metadata exists: CommitCheckpoint writes
// _metadata.tmp, fsyncs it and renames it into place, so a reader sees either no manifest or a
// whole one. Every file carries its xxh3 (data files and the manifest in a 24-byte trailer: magic,
// size, xxh3), so a flipped byte, a truncated file or a torn manifest is found by the reader and
// reported as DataLoss naming the file; a missing file is NotFound naming it.
//
// Data files go through io_uring with O_DIRECT: each chunk (a state-table segment) is hashed and
// copied into one of kStagingBuffers 4 KiB-aligned staging buffers of kWriteBytes (registered with
// the ring when the locked-memory limit allows); a full buffer is submitted at once as one write,
// and the next chunks are hashed and copied while up to kStagingBuffers writes are in flight. The
// last buffer is padded to 4 KiB and the file truncated to its length, then the file is fsynced.
// Why not zero-copy writev of the chunks through the page cache: measured on the target VM,
// buffered writes of 1 GiB ran at 0.2-1.5 GB/s depending on whether the page cache's pages were
// fresh, while the copy into staging buffers plus O_DIRECT kept up with the disk (see
// docs/checkpoints.md). A file system that refuses O_DIRECT gets the same path, buffered. When
// io_uring is unavailable, Open falls back to pwrite (saying so once on stderr). Memory: the
// staging buffers (kStagingBuffers x kWriteBytes = 32 MiB) are allocated by the first data file
// and kept until the storage is destroyed.
//
// Every write, fsync and rename consults the FaultInjector (fault_injection.h), so injected
// ENOSPC/EIO end in the same Status a real one would: ResourceExhausted "disk full while writing
// '<path>'", IoError "writing '<path>': ..." / "fsync of '<path>': ...".
//
// Savepoints: a self-contained directory with the same files is written by the *In variants
// (BeginDirectory / WriteDataFileIn / CommitDirectory / AbortDirectory) on any directory; file
// names are then relative to that directory. ReadMetadata and VerifyFile read both.
//
// Thread safety: one thread at a time (the checkpoint writer) calls the non-static members; the
// static readers may be called from any thread.
#pragma once

#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace weir::io {

class Ring;

// A file of a checkpoint, named relative to the job directory ("chk-3/op-2-1.data"). `size` is
// the number of data bytes (the chunks), `xxh3` their XXH3-64; the file on disk is size +
// kCheckpointTrailerBytes long.
struct CheckpointFile {
  std::string name;
  int64_t size = 0;
  uint64_t xxh3 = 0;
};

// Where a chunk landed in its data file (byte offset from the start) and the XXH3-64 of its bytes.
struct WrittenChunk {
  int64_t offset = 0;
  uint64_t xxh3 = 0;
};

// Bytes of the trailer at the end of every data file and of _metadata: magic (8 bytes), data size
// (uint64 little-endian), XXH3-64 of the data (uint64 little-endian).
inline constexpr int64_t kCheckpointTrailerBytes = 24;

// The data bytes of one verified checkpoint file, as CheckpointStorage::MapVerifiedFile returns
// them: the file mapped read-only (its page-cache pages, so no copy and no freshly faulted memory),
// or, where the file system cannot map it, read into a buffer. Move-only; unmaps when destroyed.
// A mapping stays valid when the file is unlinked (Retain pruning it), not when the file is
// truncated underneath it: CheckpointStorage never truncates a file of a completed checkpoint.
class VerifiedFileBytes {
 public:
  VerifiedFileBytes() = default;
  VerifiedFileBytes(VerifiedFileBytes&& other) noexcept;
  VerifiedFileBytes& operator=(VerifiedFileBytes&& other) noexcept;
  VerifiedFileBytes(const VerifiedFileBytes&) = delete;
  VerifiedFileBytes& operator=(const VerifiedFileBytes&) = delete;
  ~VerifiedFileBytes();

  std::span<const std::byte> bytes() const { return bytes_; }
  // Whether the bytes are the file's mapping (false: a buffer, or an empty file).
  bool mapped() const { return mapping_ != nullptr; }

 private:
  friend class CheckpointStorage;
  void Reset();

  void* mapping_ = nullptr;  // mmap of the whole file (data and trailer), or null
  size_t mapping_bytes_ = 0;
  std::unique_ptr<std::byte[]> buffer_;  // the data bytes when the file is not mapped
  std::span<const std::byte> bytes_;
};

class CheckpointStorage {
 public:
  struct Options {
    std::string root;            // state.checkpoints.dir
    std::string job_id;          // a single path component
    uint32_t ring_entries = 64;  // at least kStagingBuffers are used
    // false: write with pwrite even where io_uring works (tests of the fallback, comparisons).
    bool use_io_uring = true;
    // false: write data files through the page cache instead of O_DIRECT (also what happens,
    // automatically, on a file system that refuses O_DIRECT).
    bool direct_io = true;
  };

  // Size of one write (a staging buffer) and how many buffers (hence writes in flight) there are.
  static constexpr size_t kWriteBytes = size_t{2} << 20;
  static constexpr uint32_t kStagingBuffers = 16;

  // Creates <root>/<job_id>/ (and <root>) if needed. Errors name the path: InvalidArgument for an
  // empty root or a job id that is not one path component, IoError from mkdir; Ring::Create's
  // errors other than Unimplemented (which selects the pwrite fallback).
  static Result<std::unique_ptr<CheckpointStorage>> Open(Options options);

  CheckpointStorage(const CheckpointStorage&) = delete;
  CheckpointStorage& operator=(const CheckpointStorage&) = delete;
  ~CheckpointStorage();

  const std::string& job_dir() const { return job_dir_; }
  // <job_dir>/chk-<id>
  std::string CheckpointDir(int64_t id) const;
  // Whether data files are written through io_uring (false: the pwrite fallback).
  bool uses_io_uring() const { return ring_ != nullptr; }
  // Whether data files are opened with O_DIRECT (false: through the page cache).
  bool uses_direct_io() const { return direct_io_; }

  // Creates chk-<id>/, first removing a stale incomplete one of that id (a crashed attempt).
  // FailedPrecondition when chk-<id> is already complete (has a _metadata). REQUIRES: id >= 0.
  Status BeginCheckpoint(int64_t id);

  // Writes chk-<id>/<file_name> from `chunks`, back to back (see the class comment), then fsyncs
  // it. Fills `chunk_info` (when not null) with one entry per chunk, and returns the file's name
  // ("chk-<id>/<file_name>"), data size and XXH3-64 of all its data bytes, which the trailer
  // repeats. On error the partial file is removed and the Status names it; the checkpoint should
  // then be aborted. InvalidArgument for a file name that is not one path component or is a
  // reserved name (_metadata, _metadata.tmp).
  // `on_staged` (when set) is called with each chunk's index once its bytes are copied into the
  // staging buffers, in order: from then on the chunk's memory is not read again (a caller may
  // let it change, as checkpoints release table segments one by one).
  // REQUIRES: BeginCheckpoint(id) was called; a chunk's memory is unchanged until it is staged.
  Result<CheckpointFile> WriteDataFile(int64_t id, std::string_view file_name,
                                       std::span<const std::span<const std::byte>> chunks,
                                       std::vector<WrittenChunk>* chunk_info,
                                       const std::function<void(size_t)>& on_staged = {});

  // Completes checkpoint `id`: writes `metadata` and its trailer to chk-<id>/_metadata.tmp, fsyncs
  // it, renames it to _metadata and fsyncs chk-<id>/ and the job directory. The checkpoint is
  // complete (and survives a crash) once this returns OK; on error no _metadata exists.
  Status CommitCheckpoint(int64_t id, std::string_view metadata);

  // Removes chk-<id>/ and its files (OK when it does not exist). FailedPrecondition, removing
  // nothing, when it has a _metadata: a completed checkpoint is only removed by Retain.
  Status AbortCheckpoint(int64_t id);

  // Ids of completed checkpoints (chk-<id>/_metadata exists), newest first.
  Result<std::vector<int64_t>> ListCompleted() const;

  // Keeps the newest `retained` (>= 1) completed checkpoints. Older completed ones lose their
  // _metadata first (so a crash half-way leaves an incomplete directory, never a complete
  // checkpoint with missing files), then every file not named in `referenced` (names relative to
  // the job directory, "chk-3/op-2-1.data": files a retained incremental checkpoint still uses);
  // a directory left empty is removed. Incomplete chk dirs older than the newest complete
  // checkpoint (failed or crashed attempts, and the leftovers of pruned ones) are cleaned the
  // same way. Newer incomplete ones (one may be being written) are left alone.
  Status Retain(int retained, const std::set<std::string>& referenced);

  // Savepoint variants: the same protocol on an arbitrary directory `dir` (created with its
  // parents by BeginDirectory). WriteDataFileIn names the file relative to `dir`.
  Status BeginDirectory(const std::string& dir);
  Result<CheckpointFile> WriteDataFileIn(const std::string& dir, std::string_view file_name,
                                         std::span<const std::span<const std::byte>> chunks,
                                         std::vector<WrittenChunk>* chunk_info,
                                         const std::function<void(size_t)>& on_staged = {});
  Status CommitDirectory(const std::string& dir, std::string_view metadata);
  Status AbortDirectory(const std::string& dir);

  // Reads and verifies a manifest. `path` is a _metadata file or a chk-/savepoint directory
  // holding one. NotFound "<path>: no _metadata (incomplete checkpoint)"; DataLoss "<path>: torn
  // or corrupt _metadata (checksum mismatch)" (or naming the bad trailer/size).
  static Result<std::string> ReadMetadata(const std::string& path);

  // Reads out.size() bytes at `offset` of data file `path` (absolute) with large preads.
  // NotFound when the file is missing; DataLoss when it ends before offset + out.size().
  static Status ReadRange(const std::string& path, int64_t offset, std::span<std::byte> out);

  // Checks a whole data file against its manifest entry (`size`, `xxh3`) and its own trailer.
  // NotFound when missing; DataLoss naming the file and what is wrong (length, trailer, checksum).
  static Status VerifyFile(const std::string& path, int64_t size, uint64_t xxh3);

  // Reads a whole data file's `size` data bytes into `out` (resized) and verifies them like
  // VerifyFile, in one pass over the file: what a restore wants.
  static Status ReadVerifiedFile(const std::string& path, int64_t size, uint64_t xxh3,
                                 std::vector<std::byte>* out);

  // As ReadVerifiedFile, without copying: the file is mapped and populated (MADV_POPULATE_READ, so
  // the kernel reads it ahead in large requests, reports read errors as errors, and no page fault
  // follows) and hashed in place. What a restore wants: a 1 GB checkpoint costs no fresh memory to
  // zero and fault in, and a file still in the page cache is not read again (measured on the
  // development VM: 500 MB in 0.3 s from the disk, 0.03 s from the page cache, against 0.5-1.8 s
  // for a zero-filled vector read with pread). Falls back to reading into a buffer (not
  // zero-filled) when the file cannot be mapped or populated. Errors as ReadVerifiedFile.
  static Result<VerifiedFileBytes> MapVerifiedFile(const std::string& path, int64_t size,
                                                   uint64_t xxh3);

 private:
  struct HashState;  // xxh3 streaming state of the file being written
  struct StagingFree {
    void operator()(std::byte* memory) const;
  };
  // A staging buffer's write: [offset, offset + length) of the file, `done` bytes of it written.
  struct StagedWrite {
    int64_t offset = 0;
    size_t length = 0;
    size_t done = 0;
  };

  CheckpointStorage(std::string job_dir, std::unique_ptr<Ring> ring, bool direct_io);
  // Allocates (and tries to register) the staging buffers on first use.
  Status EnsureStaging();
  // Writes the chunks and the trailer through the staging buffers (not synced), filling
  // chunk_info and the file's xxh3. `direct`: fd has O_DIRECT, so writes are padded to 4 KiB and
  // the file truncated to its length afterwards.
  Status WriteChunks(int fd, const std::string& path, bool direct,
                     std::span<const std::span<const std::byte>> chunks,
                     std::vector<WrittenChunk>* chunk_info, uint64_t* file_xxh3,
                     const std::function<void(size_t)>& on_staged);
  // Copies `bytes` into the staging buffers, writing each one that fills up.
  Status Stage(int fd, const std::string& path, std::span<const std::byte> bytes);
  // Writes the current staging buffer's first `length` bytes at its file offset and moves to a
  // free buffer (waiting for a write to complete when none is free).
  Status WriteStaged(int fd, const std::string& path, size_t length);
  Status PrepareStagedWrite(int fd, const std::string& path, uint32_t buffer);
  // Waits for `min_complete` writes, then handles every completed one (short writes resubmitted).
  Status Reap(int fd, const std::string& path, uint32_t min_complete);
  // Waits for every write in flight and returns `status` or else the first write error; gives the
  // ring up (leaking it and the buffers the kernel may still read) if waiting fails.
  Status Drain(int fd, const std::string& path, Status status);
  void StartHash();
  uint64_t FinishHash();
  Status SyncFile(int fd, const std::string& path);
  // Removes the files of <job_dir>/<dir_name> except those in `keep` (names relative to the job
  // dir), then the directory if nothing is left in it.
  Status PruneDirectory(const std::string& dir_name, const std::set<std::string>& keep);

  std::string job_dir_;
  std::unique_ptr<Ring> ring_;  // null: pwrite fallback
  bool direct_io_ = true;       // cleared when the file system refuses O_DIRECT
  // kStagingBuffers buffers of kWriteBytes, 4 KiB-aligned; registered with the ring if possible.
  std::unique_ptr<std::byte, StagingFree> staging_;
  bool staging_registered_ = false;
  std::array<StagedWrite, kStagingBuffers> staged_{};
  std::vector<uint32_t> free_buffers_;
  uint32_t current_ = 0;     // the buffer being filled
  size_t fill_ = 0;          // bytes in it
  int64_t next_offset_ = 0;  // file offset of the current buffer
  Status write_error_;       // the first failed write of the file being written
  std::unique_ptr<HashState> hash_;
  int64_t hash_offset_ = 0;  // data bytes hashed so far: the next chunk's offset
};

}  // namespace weir::io
