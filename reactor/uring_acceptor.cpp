#include "reactor/uring_acceptor.hpp"

#include <liburing.h>
#include <sys/socket.h>

#include <cerrno>

#include "reactor/reactor.hpp"
#include "reactor/server.hpp"

namespace iomux {

UringAcceptor::UringAcceptor(Reactor& loop, CompletionIo& io, Server& server, int listener) noexcept
    : loop_(loop), io_(io), server_(&server), listener_(listener) {}

void UringAcceptor::start() {
    if (armed_) return;  // one being cancelled is armed again by its last completion
    io_uring_sqe& sqe = io_.sqe(*this, 0);
    io_uring_prep_multishot_accept(&sqe, listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    armed_ = true;
    cancelling_ = false;
}

void UringAcceptor::stop() {
    if (!armed_ || cancelling_) return;
    io_uring_sqe& sqe = io_.quiet_sqe();
    io_uring_prep_cancel64(&sqe, CompletionRing::kTag | reinterpret_cast<std::uintptr_t>(static_cast<CompletionTarget*>(this)), 0);
    cancelling_ = true;
}

void UringAcceptor::detach() noexcept {
    server_ = nullptr;
    try {
        stop();
    } catch (...) {  // no SQE: the ring's teardown cancels it
    }
    // The request holds the listening socket open: until the cancel is done, a close() of
    // it would not stop the kernel from completing handshakes.
    io_.submit();
}

void UringAcceptor::end_when_idle() noexcept {
    if (armed_ || ending_) return;
    ending_ = true;
    loop_.call_soon([this] { loop_.owned().destroy(*this); });
}

void UringAcceptor::complete(unsigned, const Completion& c) noexcept {
    if (!(c.flags & IORING_CQE_F_MORE)) armed_ = cancelling_ = false;
    if (c.res >= 0) {
        UniqueFd sock(c.res);
        if (server_ != nullptr) server_->accepted(std::move(sock));  // else closed here
    } else if (server_ != nullptr && c.res != -ECANCELED) {
        server_->accept_failed(-c.res);
    }
    if (server_ == nullptr) return end_when_idle();
    // A multishot accept ends on an error, or when the kernel chooses: armed again.
    if (!armed_ && server_->watching_) {
        try {
            start();
        } catch (...) {
            loop_.call_exception_handler(listener_, std::current_exception());
        }
    }
}

}  // namespace iomux
