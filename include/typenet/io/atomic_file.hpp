// typenet/io/atomic_file.hpp - replace a file so that readers see the old or the new, never a mix.
//
// The bytes go to a new temporary file in the target's directory (same file
// system, so the rename is atomic), which is flushed to disk (fsync) and then
// renamed over the target; the directory is synced so the rename survives a
// power cut. On any error the temporary file is removed and the target is
// untouched. A process killed mid-save can leave "<name>.tmp-XXXXXXXX" behind
// next to an intact target; such files are safe to delete. POSIX only.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <random>
#include <span>
#include <string>
#include <string_view>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/error.hpp"

namespace typenet {

namespace detail {

/// Test seam: when set, called with the temporary file's path after it has
/// been written and synced and before the rename, so tests can simulate a
/// failure or a crash between the two steps. Never set it in normal code.
inline std::function<void(const std::filesystem::path&)> atomic_write_before_rename_hook;

inline std::string errno_text(int err) { return std::strerror(err); }

/// Owns an open descriptor and the temporary file it names until released.
class TempFile {
public:
    TempFile(const std::filesystem::path& target, std::string_view what) {
        std::random_device rd;
        for (int attempt = 0; attempt < 16; ++attempt) {
            char suffix[16];
            std::snprintf(suffix, sizeof suffix, ".tmp-%08x", static_cast<unsigned>(rd()));
            path_ = target;
            path_ += suffix;
            fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
            if (fd_ >= 0) return;
            if (errno != EEXIST) break;
        }
        const int err = errno;
        throw IoError(std::string(what) + ": could not create the temporary file '" + path_.string() + "' (" +
                      errno_text(err) + "); check that the directory exists and is writable.");
    }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    ~TempFile() {
        if (fd_ >= 0) ::close(fd_);
        if (!path_.empty()) ::unlink(path_.c_str());
    }
    int fd() const { return fd_; }
    const std::filesystem::path& path() const { return path_; }
    /// Closes the descriptor; returns 0 or the errno of a failed close.
    int close() {
        const int r = ::close(fd_);
        fd_ = -1;
        return r == 0 ? 0 : errno;
    }
    /// Called once the file has been renamed: nothing left to clean up.
    void release() { path_.clear(); }

private:
    std::filesystem::path path_;
    int fd_ = -1;
};

}  // namespace detail

/// Writes the concatenation of `parts` to `path` atomically (see the header
/// comment). `what` starts every error message, e.g. "save('model.safetensors')".
/// Throws IoError naming the file, the system's reason and what to do.
inline void write_file_atomically(const std::filesystem::path& path, std::span<const std::span<const std::byte>> parts,
                                  std::string_view what) {
    namespace fs = std::filesystem;
    const std::string where(what);
    std::error_code ec;
    if (fs::is_directory(path, ec))
        throw IoError(where + ": '" + path.string() + "' is a directory; give the path of a file to write.");

    detail::TempFile tmp(path, where);
    // The new file keeps the permissions of the one it replaces.
    struct stat old {};
    if (::stat(path.c_str(), &old) == 0) (void)::fchmod(tmp.fd(), old.st_mode & 07777);
    for (const auto part : parts) {
        const std::byte* p = part.data();
        std::size_t left = part.size();
        while (left > 0) {
            const ::ssize_t n = ::write(tmp.fd(), p, left);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                const int err = n < 0 ? errno : EIO;
                throw IoError(where + ": writing the temporary file '" + tmp.path().string() + "' failed (" +
                              detail::errno_text(err) + "); check the free disk space. '" + path.string() +
                              "' was not changed.");
            }
            p += n;
            left -= static_cast<std::size_t>(n);
        }
    }
    if (::fsync(tmp.fd()) != 0) {
        const int err = errno;
        throw IoError(where + ": flushing '" + tmp.path().string() + "' to disk failed (" + detail::errno_text(err) +
                      "); check the disk. '" + path.string() + "' was not changed.");
    }
    if (const int err = tmp.close(); err != 0)
        throw IoError(where + ": closing '" + tmp.path().string() + "' failed (" + detail::errno_text(err) +
                      "); check the disk. '" + path.string() + "' was not changed.");

    if (detail::atomic_write_before_rename_hook) detail::atomic_write_before_rename_hook(tmp.path());

    if (std::rename(tmp.path().c_str(), path.c_str()) != 0) {
        const int err = errno;
        throw IoError(where + ": could not rename '" + tmp.path().string() + "' to '" + path.string() + "' (" +
                      detail::errno_text(err) + "); check the directory's permissions. '" + path.string() +
                      "' was not changed.");
    }
    tmp.release();

    // Make the rename itself durable; file systems that cannot sync a
    // directory have already made it as durable as they can, so errors are ignored.
    const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)::fsync(dfd);
        ::close(dfd);
    }
}

}  // namespace typenet
