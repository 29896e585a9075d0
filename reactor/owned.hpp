// Owned / OwnedList: objects that end themselves, kept alive by a list until they do.
//
// A transport lives from its connection's start until connection_lost() has returned, and
// nothing the user holds owns it: the loop does (Reactor::adopt). The list is intrusive (two
// pointers in each object, no allocation of its own), and destroying it destroys what is
// left on it, newest first.
#pragma once

#include <cstddef>
#include <memory>

namespace iomux {

class Owned {
public:
    Owned() = default;
    Owned(const Owned&) = delete;
    Owned& operator=(const Owned&) = delete;
    virtual ~Owned() = default;

private:
    friend class OwnedList;
    Owned* prev_ = nullptr;
    Owned* next_ = nullptr;
};

class OwnedList {
public:
    OwnedList() = default;
    OwnedList(const OwnedList&) = delete;
    OwnedList& operator=(const OwnedList&) = delete;
    ~OwnedList() { clear(); }

    // Takes obj (not null, on no other list) and returns it.
    Owned& adopt(std::unique_ptr<Owned> obj) noexcept {
        Owned* o = obj.release();
        o->next_ = head_;
        if (head_) head_->prev_ = o;
        head_ = o;
        ++size_;
        return *o;
    }
    // Destroys obj, which must be on this list. obj may call this on itself, as its last act.
    void destroy(Owned& obj) noexcept { std::unique_ptr<Owned>(unlink(obj)); }
    // Destroys everything on the list; an object's destructor may destroy others of it.
    void clear() noexcept {
        while (head_) destroy(*head_);
    }
    std::size_t size() const noexcept { return size_; }

    // Calls f(Owned&) for each; f may destroy the object it is given, and no other.
    template <typename F>
    void for_each(F&& f) {
        for (Owned* o = head_; o != nullptr;) {
            Owned* next = o->next_;
            f(*o);
            o = next;
        }
    }

private:
    Owned* unlink(Owned& obj) noexcept {
        if (obj.prev_) obj.prev_->next_ = obj.next_;
        else head_ = obj.next_;
        if (obj.next_) obj.next_->prev_ = obj.prev_;
        obj.prev_ = obj.next_ = nullptr;
        --size_;
        return &obj;
    }

    Owned* head_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace iomux
