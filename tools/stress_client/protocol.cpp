#include "protocol.hpp"

#include <fmt/format.h>

namespace stress {

std::string ProtocolSpec::describe() const {
    switch (kind) {
    case Kind::echo: return "echo";
    case Kind::expect: return fmt::format("expect {:?} -> {:?}", request, expect);
    case Kind::http:
        return fmt::format("http {:?} status {}-{}{}", request, status_min, status_max,
                           expect.empty() ? "" : fmt::format(" body {:?}", expect));
    }
    return "?";
}

std::unique_ptr<Protocol> make_protocol(const ProtocolSpec& spec, std::uint32_t conns,
                                        std::unique_ptr<StreamContent> echo_content) {
    switch (spec.kind) {
    case ProtocolSpec::Kind::expect: return make_expect(spec);
    case ProtocolSpec::Kind::http: return make_http(spec, conns);
    case ProtocolSpec::Kind::echo: break;
    }
    return make_echo(std::move(echo_content));
}

std::string show_byte(char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x7f ? fmt::format("'{}'", c) : fmt::format("0x{:02x}", u);
}

}  // namespace stress
