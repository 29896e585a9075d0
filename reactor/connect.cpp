#include "reactor/connect.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <memory>

#include "poller/unique_fd.hpp"
#include "reactor/socket_address.hpp"
#include "reactor/transport_core.hpp"

namespace iomux {
namespace {

// One connect in progress, owned by the loop until it ends either way.
class Connector final : public Owned {
public:
    Connector(Reactor& loop, ProtocolFactory factory, ConnectCallback on_done, ConnectOptions options)
        : loop_(loop), factory_(std::move(factory)), on_done_(std::move(on_done)), options_(options) {}

    ~Connector() override {
        timer_.cancel();
        if (watching_) loop_.remove_writer(sock_.get());
        if (on_done_) {  // the loop is going away first
            try {
                on_done_(std::error_code(ECANCELED, std::system_category()));
            } catch (...) {  // a destructor cannot throw: dropped
            }
        }
    }

    void start(std::string_view host, std::uint16_t port) {
        ResolvedAddress addr;
        try {
            addr = resolve(host, port);
        } catch (const std::system_error& e) {
            return fail_soon(e.code());
        }
        sock_.reset(::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!sock_) return fail_soon(errno_code());
        int rc;
        do rc = ::connect(sock_.get(), addr.get(), addr.length);
        while (rc != 0 && errno == EINTR);
        if (rc != 0 && errno != EINPROGRESS) return fail_soon(errno_code());
        // Even a connect that completed at once (loopback can) is finished from the loop,
        // so that on_done never runs inside create_connection().
        loop_.add_writer(sock_.get(), [this] { on_writable(); });
        watching_ = true;
        if (options_.timeout.count() > 0)
            timer_ = loop_.call_later(options_.timeout, [this] { fail(std::error_code(ETIMEDOUT, std::system_category())); });
    }

private:
    static std::error_code errno_code() { return {errno, std::system_category()}; }

    void on_writable() {
        int error = 0;
        socklen_t len = sizeof error;
        if (::getsockopt(sock_.get(), SOL_SOCKET, SO_ERROR, &error, &len) != 0) error = errno;
        if (error != 0) return fail(std::error_code(error, std::system_category()));
        timer_.cancel();
        loop_.remove_writer(sock_.get());
        watching_ = false;
        if (options_.no_delay) {
            const int on = 1;
            ::setsockopt(sock_.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);  // best effort
        }
        std::unique_ptr<Protocol> protocol;
        try {
            protocol = factory_();
        } catch (...) {
            return finish_with_exception(std::current_exception());
        }
        if (!protocol) return fail(std::error_code(ECONNABORTED, std::system_category()));
        TransportCore& t = adopt_transport(loop_, std::move(sock_), std::move(protocol), nullptr);
        try {
            t.start();
        } catch (...) {
            loop_.owned().destroy(t);
            return finish_with_exception(std::current_exception());
        }
        succeed();
    }

    void succeed() { end({}); }

    void fail(std::error_code error) {
        if (watching_) loop_.remove_writer(sock_.get());
        watching_ = false;
        sock_.reset();
        end(error);
    }

    // A failure inside create_connection() is reported from the loop. The loop owns this
    // connector, so the pointer outlives the queued call.
    void fail_soon(std::error_code error) {
        sock_.reset();
        loop_.call_soon([this, error] { end(error); });
    }

    void finish_with_exception(std::exception_ptr e) {
        loop_.call_exception_handler(-1, e);
        end(std::error_code(ECONNABORTED, std::system_category()));
    }

    // Reports and destroys this connector.
    void end(std::error_code error) {
        timer_.cancel();
        ConnectCallback done = std::move(on_done_);
        on_done_ = nullptr;
        Reactor& loop = loop_;
        loop.owned().destroy(*this);
        if (done) done(error);
    }

    Reactor& loop_;
    ProtocolFactory factory_;
    ConnectCallback on_done_;
    ConnectOptions options_;
    UniqueFd sock_;
    bool watching_ = false;
    TimerHandle timer_;
};

}  // namespace

void create_connection(Reactor& loop, ProtocolFactory factory, std::string_view host, std::uint16_t port,
                       ConnectCallback on_done, ConnectOptions options) {
    auto& c = static_cast<Connector&>(
        loop.owned().adopt(std::make_unique<Connector>(loop, std::move(factory), std::move(on_done), options)));
    c.start(host, port);
}

}  // namespace iomux
