#include "reactor/stream.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace iomux {
namespace detail {
namespace {

std::error_code canceled() {
    return std::make_error_code(std::errc::operation_canceled);
}

// ECANCELED from the layer below means the loop is being destroyed: the task waiting is
// destroyed with it, and must not run meanwhile (its locals may be gone already).
bool loop_ending(std::error_code error) {
    return error == std::errc::operation_canceled;
}

}  // namespace

// The protocol behind a Stream: turns the transport's calls into completed awaits. Owned by
// its transport; it outlives the Stream or the Stream outlives it, whichever ends first
// unhooks from the other.
class StreamProtocol final : public Protocol {
public:
    explicit StreamProtocol(Acceptor* acceptor = nullptr) noexcept : acceptor(acceptor) {}

    void connection_made(Transport& t) override {
        transport = &t;
        if (acceptor) acceptor->connection_made(*this);
    }

    void data_received(std::string_view data) override {
        if (reader != nullptr && !has_pending()) {
            // Straight into the waiting buffer; the task runs from here, in this callback.
            const std::size_t n = reader->fill(data);
            if (n < data.size()) keep(data.substr(n));
            std::exchange(reader, nullptr)->complete(n, {});
            return;
        }
        keep(data);
    }

    bool eof_received() override {
        eof = true;
        if (reader != nullptr && !has_pending()) std::exchange(reader, nullptr)->complete(0, {});
        return true;  // the task closes the stream when it is done writing
    }

    void connection_lost(std::error_code error) override {
        if (acceptor) acceptor->forget(*this);
        transport = nullptr;
        if (Stream* s = std::exchange(stream, nullptr)) {
            s->protocol_ = nullptr;
            s->error_ = error ? error : canceled();
            s->eof_ = !error && eof && !has_pending();
        }
        if (loop_ending(error)) {
            if (reader) std::exchange(reader, nullptr)->waiting_ = false;
            if (writer) std::exchange(writer, nullptr)->waiting_ = false;
            return;
        }
        // One at a time: the first task resumed may end the other await (not this protocol,
        // which lives until the loop's next iteration).
        const std::error_code e = error ? error : canceled();
        if (reader) std::exchange(reader, nullptr)->complete(0, e);
        if (writer) std::exchange(writer, nullptr)->complete(e);
    }

    void pause_writing() override { write_paused = true; }
    void resume_writing() override {
        write_paused = false;
        if (writer) std::exchange(writer, nullptr)->complete({});
    }

    bool has_pending() const noexcept { return pending_at < pending.size(); }

    std::size_t take(StreamRead& into) {
        const std::size_t n = into.fill(std::string_view(pending).substr(pending_at));
        pending_at += n;
        if (pending_at == pending.size()) {
            pending.clear();  // keeps its capacity for the next burst
            pending_at = 0;
        }
        return n;
    }

    // Reading goes on while a read() waits or nothing is kept.
    void want_data() {
        if (read_paused && transport != nullptr) {
            read_paused = false;
            transport->resume_reading();
        }
    }

    Transport* transport = nullptr;
    Stream* stream = nullptr;
    Acceptor* acceptor = nullptr;  // queued there, not accepted yet
    StreamProtocol* prev = nullptr;
    StreamProtocol* next = nullptr;
    StreamRead* reader = nullptr;
    StreamWrite* writer = nullptr;
    std::string pending;  // received, not read yet
    std::size_t pending_at = 0;
    bool eof = false;
    bool write_paused = false;
    bool read_paused = false;

private:
    void keep(std::string_view data) {
        if (pending_at != 0) {
            pending.erase(0, pending_at);
            pending_at = 0;
        }
        pending.append(data);
        if (!read_paused && transport != nullptr) {
            read_paused = true;
            transport->pause_reading();
        }
    }
};

class ConnectState {
public:
    void done(std::error_code error) {
        ConnectAwait* a = std::exchange(awaiter, nullptr);
        if (a == nullptr) {  // cancelled meanwhile: nobody wants the connection
            if (!error && protocol != nullptr && protocol->transport != nullptr) protocol->transport->abort();
            return;
        }
        if (loop_ending(error)) return;
        a->state_.reset();  // this lives on in the callback that called it
        if (error) return a->resume_with(error);
        a->connected_ = protocol;
        a->resume();
    }

    ConnectAwait* awaiter = nullptr;
    StreamProtocol* protocol = nullptr;
};

}  // namespace detail

using detail::StreamProtocol;

// ---- StreamRead

StreamRead::~StreamRead() {
    if (waiting_ && stream_->protocol_) stream_->protocol_->reader = nullptr;
}

bool StreamRead::await_ready() {
    StreamProtocol* p = stream_->protocol_;
    if (p == nullptr) {
        if (!stream_->eof_) error_ = stream_->error_ ? stream_->error_ : detail::canceled();
        return true;
    }
    if (p->reader != nullptr) throw std::logic_error("iomux::Stream: a read is already pending");
    if (p->has_pending()) {
        size_ = p->take(*this);
        if (!p->has_pending()) p->want_data();
        return true;
    }
    if (p->eof) {
        stream_->eof_ = true;
        return true;
    }
    return grow_ == nullptr && buffer_.empty();
}

std::size_t StreamRead::fill(std::string_view data) {
    if (grow_) {
        grow_->append(data);
        return data.size();
    }
    const std::size_t n = std::min(data.size(), buffer_.size());
    std::memcpy(buffer_.data(), data.data(), n);
    return n;
}

void StreamRead::suspend() {
    StreamProtocol* p = stream_->protocol_;
    p->reader = this;
    waiting_ = true;
    p->want_data();
    arm(&on_cancel);
}

void StreamRead::complete(std::size_t n, std::error_code error) {
    waiting_ = false;
    size_ = n;
    if (n == 0 && !error) stream_->eof_ = true;
    resume_with(error);
}

void StreamRead::on_cancel(void* self) noexcept {
    auto* r = static_cast<StreamRead*>(self);
    if (r->stream_->protocol_) r->stream_->protocol_->reader = nullptr;
    r->waiting_ = false;
    r->resume_with(detail::canceled());
}

// ---- StreamWrite

StreamWrite::~StreamWrite() {
    if (waiting_ && stream_->protocol_) stream_->protocol_->writer = nullptr;
}

bool StreamWrite::await_ready() {
    StreamProtocol* p = stream_->protocol_;
    if (p == nullptr) {
        error_ = stream_->error_ ? stream_->error_ : detail::canceled();
        return true;
    }
    if (p->writer != nullptr) throw std::logic_error("iomux::Stream: a write is already pending");
    p->transport->write(data_);
    return !p->write_paused;
}

void StreamWrite::suspend() {
    stream_->protocol_->writer = this;
    waiting_ = true;
    arm(&on_cancel);
}

void StreamWrite::complete(std::error_code error) {
    waiting_ = false;
    resume_with(error);
}

void StreamWrite::on_cancel(void* self) noexcept {
    auto* w = static_cast<StreamWrite*>(self);
    if (w->stream_->protocol_) w->stream_->protocol_->writer = nullptr;
    w->waiting_ = false;
    w->resume_with(detail::canceled());
}

// ---- Stream

Stream::Stream(StreamProtocol* protocol) noexcept : protocol_(protocol) {
    protocol->stream = this;
}

Stream::Stream(Stream&& other) noexcept
    : protocol_(std::exchange(other.protocol_, nullptr)), error_(other.error_), eof_(other.eof_) {
    if (protocol_) protocol_->stream = this;
}

Stream& Stream::operator=(Stream&& other) noexcept {
    if (this != &other) {
        close();
        protocol_ = std::exchange(other.protocol_, nullptr);
        error_ = other.error_;
        eof_ = other.eof_;
        if (protocol_) protocol_->stream = this;
    }
    return *this;
}

void Stream::write_eof() {
    if (protocol_) protocol_->transport->write_eof();
}

void Stream::close() noexcept {
    end(false);
}

void Stream::abort() noexcept {
    end(true);
}

void Stream::end(bool abort) noexcept {
    StreamProtocol* p = std::exchange(protocol_, nullptr);
    if (p == nullptr) return;
    error_ = detail::canceled();
    p->stream = nullptr;
    if (abort) p->transport->abort();
    else p->transport->close();
    // Last: a task resumed here may destroy this Stream. p lives until the loop's next
    // iteration at least.
    if (p->reader) std::exchange(p->reader, nullptr)->complete(0, detail::canceled());
    if (p->writer) std::exchange(p->writer, nullptr)->complete(detail::canceled());
}

Transport* Stream::transport() const noexcept {
    return protocol_ ? protocol_->transport : nullptr;
}

// ---- Acceptor

Acceptor::Acceptor(Reactor& loop, std::string_view host, std::uint16_t port, ServerOptions options)
    : Acceptor(loop, listen_tcp(host, port, options), options) {}

Acceptor::Acceptor(Reactor& loop, UniqueFd listener, ServerOptions options)
    : server_(std::make_unique<Server>(
          loop, [this] { return std::make_unique<StreamProtocol>(this); }, std::move(listener), options)) {}

Acceptor::~Acceptor() {
    close();
}

void Acceptor::connection_made(StreamProtocol& p) {
    if (closed_) {  // close() ran inside the server's accept loop: nobody will take this one
        p.acceptor = nullptr;
        p.transport->abort();
        return;
    }
    if (AcceptAwait* w = waiting_head_) {
        waiting_head_ = w->next_;
        if (waiting_head_ == nullptr) waiting_tail_ = nullptr;
        w->next_ = nullptr;
        w->waiting_ = false;
        p.acceptor = nullptr;
        w->accepted_ = &p;
        w->resume();  // the accepting task runs from here, inside the server's accept loop
        return;
    }
    p.prev = queued_tail_;
    p.next = nullptr;
    if (queued_tail_) queued_tail_->next = &p;
    else queued_head_ = &p;
    queued_tail_ = &p;
}

void Acceptor::forget(StreamProtocol& p) noexcept {
    if (p.prev) p.prev->next = p.next;
    else queued_head_ = p.next;
    if (p.next) p.next->prev = p.prev;
    else queued_tail_ = p.prev;
    p.prev = p.next = nullptr;
    p.acceptor = nullptr;
}

void Acceptor::close() noexcept {
    if (closed_) return;
    closed_ = true;
    server_->close();
    while (StreamProtocol* p = queued_head_) {
        forget(*p);
        if (p->transport) p->transport->abort();
    }
    while (AcceptAwait* w = waiting_head_) {
        waiting_head_ = w->next_;
        if (waiting_head_ == nullptr) waiting_tail_ = nullptr;
        w->next_ = nullptr;
        w->waiting_ = false;
        w->resume_with(detail::canceled());
    }
}

// ---- AcceptAwait

AcceptAwait::~AcceptAwait() {
    if (waiting_) {
        // Unlinked from the acceptor's queue of waiting tasks: the task was destroyed.
        AcceptAwait** at = &acceptor_->waiting_head_;
        AcceptAwait* prev = nullptr;
        while (*at != this) {
            prev = *at;
            at = &(*at)->next_;
        }
        *at = next_;
        if (acceptor_->waiting_tail_ == this) acceptor_->waiting_tail_ = prev;
    }
    if (accepted_ && accepted_->transport) accepted_->transport->abort();  // never claimed
}

bool AcceptAwait::await_ready() noexcept {
    if (acceptor_->closed_) {
        error_ = detail::canceled();
        return true;
    }
    if (StreamProtocol* p = acceptor_->queued_head_) {
        acceptor_->forget(*p);
        accepted_ = p;
        return true;
    }
    return false;
}

void AcceptAwait::suspend() noexcept {
    next_ = nullptr;
    if (acceptor_->waiting_tail_) acceptor_->waiting_tail_->next_ = this;
    else acceptor_->waiting_head_ = this;
    acceptor_->waiting_tail_ = this;
    waiting_ = true;
    arm(&on_cancel);
}

void AcceptAwait::on_cancel(void* self) noexcept {
    auto* a = static_cast<AcceptAwait*>(self);
    AcceptAwait** at = &a->acceptor_->waiting_head_;
    AcceptAwait* prev = nullptr;
    while (*at != a) {
        prev = *at;
        at = &(*at)->next_;
    }
    *at = a->next_;
    if (a->acceptor_->waiting_tail_ == a) a->acceptor_->waiting_tail_ = prev;
    a->next_ = nullptr;
    a->waiting_ = false;
    a->resume_with(detail::canceled());
}

Stream AcceptAwait::await_resume() {
    check();
    return Stream(std::exchange(accepted_, nullptr));
}

// ---- ConnectAwait

ConnectAwait::~ConnectAwait() {
    if (state_) state_->awaiter = nullptr;
    if (connected_ && connected_->transport) connected_->transport->abort();  // never claimed
}

void ConnectAwait::suspend() {
    state_ = std::make_shared<detail::ConnectState>();
    state_->awaiter = this;
    std::shared_ptr<detail::ConnectState> state = state_;
    create_connection(
        loop(),
        [state] {
            auto p = std::make_unique<StreamProtocol>();
            state->protocol = p.get();
            return p;
        },
        host_, port_, [state](std::error_code error) { state->done(error); }, options_);
    arm(&on_cancel);
}

void ConnectAwait::on_cancel(void* self) noexcept {
    auto* c = static_cast<ConnectAwait*>(self);
    c->state_->awaiter = nullptr;  // the connect goes on; done() aborts what it makes
    c->state_.reset();
    c->resume_with(detail::canceled());
}

Stream ConnectAwait::await_resume() {
    check();
    return Stream(std::exchange(connected_, nullptr));
}

}  // namespace iomux
