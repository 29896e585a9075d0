#include "reactor/socket_address.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include <fmt/format.h>

namespace iomux {
namespace {

class ResolveCategory : public std::error_category {
public:
    const char* name() const noexcept override { return "getaddrinfo"; }
    std::string message(int code) const override { return ::gai_strerror(code); }
};

SocketAddress query(int fd, int (*get)(int, sockaddr*, socklen_t*), const char* what) {
    sockaddr_storage storage{};
    socklen_t len = sizeof storage;
    if (get(fd, reinterpret_cast<sockaddr*>(&storage), &len) != 0)
        throw std::system_error(errno, std::system_category(), what);
    return to_socket_address(reinterpret_cast<const sockaddr*>(&storage));
}

}  // namespace

const std::error_category& resolve_category() noexcept {
    static const ResolveCategory category;
    return category;
}

std::string SocketAddress::to_string() const {
    return host.find(':') == std::string::npos ? fmt::format("{}:{}", host, port) : fmt::format("[{}]:{}", host, port);
}

ResolvedAddress resolve(std::string_view host, std::uint16_t port) {
    ResolvedAddress out;
    if (host.empty()) {
        auto* in = reinterpret_cast<sockaddr_in*>(&out.storage);
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        in->sin_addr.s_addr = htonl(INADDR_ANY);
        out.length = sizeof(sockaddr_in);
        return out;
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const std::string name(host);
    const std::string service = std::to_string(port);
    const int rc = ::getaddrinfo(name.c_str(), service.c_str(), &hints, &found);
    if (rc != 0) {
        const int code = rc == EAI_SYSTEM ? errno : rc;
        throw std::system_error(code, rc == EAI_SYSTEM ? std::system_category() : resolve_category(),
                                fmt::format("resolve {}", name));
    }
    const std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(found, ::freeaddrinfo);
    std::memcpy(&out.storage, found->ai_addr, found->ai_addrlen);
    out.length = found->ai_addrlen;
    return out;
}

SocketAddress to_socket_address(const sockaddr* addr) {
    std::array<char, INET6_ADDRSTRLEN> text{};
    if (addr->sa_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(addr);
        ::inet_ntop(AF_INET, &in->sin_addr, text.data(), text.size());
        return {text.data(), ntohs(in->sin_port)};
    }
    if (addr->sa_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
        ::inet_ntop(AF_INET6, &in6->sin6_addr, text.data(), text.size());
        return {text.data(), ntohs(in6->sin6_port)};
    }
    return {};
}

SocketAddress local_address(int fd) { return query(fd, ::getsockname, "getsockname"); }
SocketAddress peer_address(int fd) { return query(fd, ::getpeername, "getpeername"); }

}  // namespace iomux
