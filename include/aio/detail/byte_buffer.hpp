// aio::detail — a growable byte buffer with a read and a write end, not zero-filled when it
// grows (std::string::resize would clear every chunk the kernel is about to overwrite). What a
// stream reads into: the kernel writes at the end, reads consume from the front.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <utility>

namespace aio::detail {

class ByteBuffer {
public:
    ByteBuffer() noexcept = default;
    ByteBuffer(const ByteBuffer&) = delete;
    ByteBuffer& operator=(const ByteBuffer&) = delete;
    ~ByteBuffer() { std::free(data_); }

    std::size_t size() const noexcept { return end_ - begin_; }
    bool empty() const noexcept { return end_ == begin_; }
    std::size_t capacity() const noexcept { return capacity_; }
    std::string_view view() const noexcept { return {data_ + begin_, end_ - begin_}; }

    /// At least `n` writable bytes at write_pointer(): moves the contents to the front or grows.
    /// Throws std::bad_alloc.
    char* prepare(std::size_t n) {
        if (capacity_ - end_ >= n)
            return data_ + end_;
        const std::size_t used = size();
        if (n > (std::size_t{1} << 48)) // far beyond memory; doubling below would overflow
            throw std::bad_alloc();
        if (begin_ > 0 && capacity_ - used >= n && used <= capacity_ / 2) {
            std::memmove(data_, data_ + begin_, used); // cheap: at most half the buffer
        } else {
            std::size_t grown = capacity_ < 4096 ? 4096 : capacity_;
            while (grown - used < n)
                grown *= 2;
            if (begin_ == 0) {
                // realloc: a large block grows in place (glibc remaps its pages), without the
                // copy and the page faults of a fresh one (reading a child's output to EOF)
                char* fresh = static_cast<char*>(std::realloc(data_, grown));
                if (!fresh)
                    throw std::bad_alloc();
                data_ = fresh;
            } else {
                char* fresh = static_cast<char*>(std::malloc(grown));
                if (!fresh)
                    throw std::bad_alloc();
                std::memcpy(fresh, data_ + begin_, used);
                std::free(std::exchange(data_, fresh));
            }
            capacity_ = grown;
        }
        begin_ = 0;
        end_ = used;
        return data_ + end_;
    }
    std::size_t writable() const noexcept { return capacity_ - end_; }
    void commit(std::size_t n) noexcept { end_ += n; }

    /// Drops `n` bytes from the front.
    void consume(std::size_t n) noexcept {
        begin_ += n;
        if (begin_ == end_)
            begin_ = end_ = 0;
    }
    /// Takes `n` bytes from the front as a string.
    std::string take(std::size_t n) {
        std::string out(data_ + begin_, n);
        consume(n);
        return out;
    }
    void append(std::string_view bytes) {
        std::memcpy(prepare(bytes.size()), bytes.data(), bytes.size());
        commit(bytes.size());
    }
    /// Frees the storage when empty and larger than `keep` bytes (after a burst), so that an
    /// idle connection does not hold on to it.
    void shrink_if_empty(std::size_t keep) noexcept {
        if (empty() && capacity_ > keep) {
            std::free(std::exchange(data_, nullptr));
            capacity_ = begin_ = end_ = 0;
        }
    }

private:
    char* data_ = nullptr;
    std::size_t capacity_ = 0;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
};

} // namespace aio::detail
