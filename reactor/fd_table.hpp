// FdTable<T>: one T per fd number, for the Selector's keys and the Reactor's callbacks.
//
// Elements live in fixed-size chunks, so they stay in place as the table grows: a reference
// to one stays valid until clear(), even while a callback adds an fd past the end. Indexing
// is a shift and a mask (std::deque's division showed up in profiles of the dispatch loop).
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace iomux {

template <class T>
class FdTable {
public:
    std::size_t size() const noexcept { return size_; }
    // i < size().
    T& operator[](std::size_t i) noexcept { return chunks_[i >> kShift][i & (kChunk - 1)]; }
    const T& operator[](std::size_t i) const noexcept { return chunks_[i >> kShift][i & (kChunk - 1)]; }
    // Makes room for indexes below n; new elements are value-initialised.
    void grow_to(std::size_t n) {
        while (size_ < n) {
            chunks_.push_back(std::make_unique<T[]>(kChunk));
            size_ += kChunk;
        }
    }
    void clear() noexcept {
        chunks_.clear();
        size_ = 0;
    }

private:
    static constexpr std::size_t kShift = 8, kChunk = std::size_t{1} << kShift;
    std::vector<std::unique_ptr<T[]>> chunks_;
    std::size_t size_ = 0;
};

}  // namespace iomux
