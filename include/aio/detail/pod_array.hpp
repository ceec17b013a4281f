// aio::detail — a growable array of trivially copyable values: what the timer heap and the I/O
// driver's fd table need of std::vector. Every program that runs a loop compiles both, and at
// -O0 the dozens of std::vector, iterator and allocator templates they would instantiate were
// a visible part of a small program's compile time.
#pragma once

#include <aio/config.hpp>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>

namespace aio::detail {

template <class T>
class PodArray {
    static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>,
                  "PodArray holds plain values only");

public:
    PodArray() noexcept = default;
    PodArray(const PodArray&) = delete;
    PodArray& operator=(const PodArray&) = delete;
    ~PodArray() { std::free(data_); }

    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    T& operator[](std::size_t i) noexcept { return data_[i]; }
    const T& operator[](std::size_t i) const noexcept { return data_[i]; }
    T& front() noexcept { return data_[0]; }
    const T& front() const noexcept { return data_[0]; }
    T& back() noexcept { return data_[size_ - 1]; }
    const T& back() const noexcept { return data_[size_ - 1]; }
    T* begin() noexcept { return data_; }
    T* end() noexcept { return data_ + size_; }
    const T* begin() const noexcept { return data_; }
    const T* end() const noexcept { return data_ + size_; }

    void push_back(const T& value) {
        if (AIO_UNLIKELY(size_ == capacity_))
            grow(size_ + 1);
        data_[size_++] = value;
    }
    void pop_back() noexcept { --size_; }
    void clear() noexcept { size_ = 0; }

    /// New elements are value-initialised (zero for pointers and numbers).
    void resize(std::size_t n) {
        if (n > capacity_)
            grow(n);
        for (std::size_t i = size_; i < n; ++i)
            data_[i] = T{};
        size_ = n;
    }

    /// Removes the first `n` elements, keeping the order of the rest.
    void erase_front(std::size_t n) noexcept {
        if (n < size_)
            std::memmove(static_cast<void*>(data_), data_ + n, (size_ - n) * sizeof(T));
        size_ = n < size_ ? size_ - n : 0;
    }

    /// Removes the elements `pred` accepts, keeping the order of the rest.
    template <class Pred>
    void erase_if(Pred pred) {
        std::size_t kept = 0;
        for (std::size_t i = 0; i < size_; ++i)
            if (!pred(data_[i]))
                data_[kept++] = data_[i];
        size_ = kept;
    }

private:
    AIO_NOINLINE void grow(std::size_t at_least) {
        std::size_t capacity = capacity_ ? capacity_ * 2 : 16;
        if (capacity < at_least)
            capacity = at_least;
        void* bigger = std::realloc(static_cast<void*>(data_), capacity * sizeof(T));
        if (!bigger)
            throw std::bad_alloc();
        data_ = static_cast<T*>(bigger);
        capacity_ = capacity;
    }

    T* data_ = nullptr;
    std::size_t size_ = 0;
    std::size_t capacity_ = 0;
};

} // namespace aio::detail
