#include "p2psip/sip/dialog.hpp"

#include <algorithm>

#include "p2psip/sip/error.hpp"

namespace p2psip::sip {

namespace {

// The name-addr text of From/To without the tag parameter.
std::string without_tag(const NameAddr& na) {
    NameAddr copy = na;
    std::erase_if(copy.params, [](const auto& p) { return p.first == "tag"; });
    return copy.to_string();
}

// From/To may carry any absoluteURI (tel:, RFC 4475 §3.3.4); only the remote target and
// routes must be SIP URIs.
std::error_code parse_party(const Message& msg, std::string_view header, NameAddr& out) {
    auto ec = parse_name_addr(msg.header(header).value_or(""), out);
    return ec == Errc::unsupported_scheme ? std::error_code{} : ec;
}

void read_route_set(const Message& msg, bool reverse, Dialog& d) {
    auto rr = msg.headers("Record-Route");
    if (reverse) std::reverse(rr.begin(), rr.end());
    d.route_set.clear();
    d.route_uris.clear();
    for (auto r : rr) {
        NameAddr na;
        if (parse_name_addr(r, na)) continue;
        d.route_set.emplace_back(r);
        d.route_uris.push_back(na.uri);
    }
}

}  // namespace

std::error_code Dialog::from_uac(const Message& response, std::string local_contact, Dialog& out) {
    out = Dialog{};
    NameAddr from, to;
    if (auto ec = parse_party(response, "From", from)) return ec;
    if (auto ec = parse_party(response, "To", to)) return ec;
    if (!to.tag() || !from.tag()) return Errc::invalid_state;
    out.call_id = response.call_id();
    out.local_tag = *from.tag();
    out.remote_tag = *to.tag();
    out.local_uri = without_tag(from);
    out.remote_uri = without_tag(to);
    out.local_contact = std::move(local_contact);
    out.local_cseq = response.cseq().number;
    out.secure = from.uri.scheme == "sips";
    // §12.1.2: route set = Record-Route of the response, reversed; target = Contact.
    read_route_set(response, true, out);
    if (auto c = response.contact()) {
        out.remote_target = c->uri;
    } else if (to.uri.is_sip()) {
        out.remote_target = to.uri;
    }
    out.state = response.status() >= 200 ? State::confirmed : State::early;
    return {};
}

std::error_code Dialog::from_uas(const Message& request, std::string local_tag,
                                 std::string local_contact, Dialog& out) {
    out = Dialog{};
    NameAddr from, to;
    if (auto ec = parse_party(request, "From", from)) return ec;
    if (auto ec = parse_party(request, "To", to)) return ec;
    out.call_id = request.call_id();
    out.local_tag = std::move(local_tag);
    out.remote_tag = from.tag().value_or("");
    out.local_uri = without_tag(to);
    out.remote_uri = without_tag(from);
    out.local_contact = std::move(local_contact);
    out.remote_cseq = request.cseq().number;
    out.secure = request.request_uri().substr(0, 5) == "sips:";
    read_route_set(request, false, out);  // §12.1.1: in order
    if (auto c = request.contact()) {
        out.remote_target = c->uri;
    } else if (from.uri.is_sip()) {
        out.remote_target = from.uri;
    }
    out.state = State::early;
    return {};
}

const Uri& Dialog::next_hop() const {
    return route_uris.empty() ? remote_target : route_uris.front();
}

std::string Dialog::id() const {
    return call_id + ";" + local_tag + ";" + remote_tag;
}

bool Dialog::matches(const Message& req) const {
    return req.call_id() == call_id && req.to_tag() == local_tag && req.from_tag() == remote_tag;
}

OutgoingMessage Dialog::make_request(std::string_view method) {
    if (method != "ACK" && method != "CANCEL") ++local_cseq;
    std::string ruri = remote_target.to_string();
    std::vector<std::string> routes = route_set;
    // §12.2.1.1: strict routing when the first route lacks ;lr.
    if (!route_uris.empty() && !route_uris.front().has_param("lr")) {
        ruri = route_uris.front().to_string();
        routes.erase(routes.begin());
        routes.push_back("<" + remote_target.to_string() + ">");
    }
    OutgoingMessage m = OutgoingMessage::request(std::string(method), ruri);
    m.add("Max-Forwards", "70");
    for (auto& r : routes) m.add("Route", r);
    m.add("From", local_uri + ";tag=" + local_tag);
    m.add("To", remote_uri + (remote_tag.empty() ? "" : ";tag=" + remote_tag));
    m.add("Call-ID", call_id);
    m.add("CSeq", std::to_string(local_cseq) + " " + std::string(method));
    if (!local_contact.empty() && (method == "INVITE" || method == "UPDATE"))
        m.add("Contact", "<" + local_contact + ">");
    return m;
}

OutgoingMessage Dialog::make_ack(uint32_t invite_cseq) const {
    Dialog copy = *this;
    copy.local_cseq = invite_cseq;
    OutgoingMessage ack = copy.make_request("ACK");
    ack.set("CSeq", std::to_string(invite_cseq) + " ACK");
    return ack;
}

bool Dialog::accept_remote_cseq(const Message& request) {
    uint32_t n = request.cseq().number;
    if (remote_cseq && n < *remote_cseq) return false;
    if (request.method() != "ACK" && request.method() != "CANCEL") remote_cseq = n;
    return true;
}

void Dialog::update_remote_target(const Message& msg) {
    if (auto c = msg.contact()) remote_target = c->uri;
}

void Dialog::confirm(const Message& response, bool uac) {
    if (uac) {
        read_route_set(response, true, *this);
        NameAddr to;
        if (!parse_name_addr(response.header("To").value_or(""), to) && to.tag())
            remote_tag = *to.tag();
        update_remote_target(response);
    }
    state = State::confirmed;
}

}  // namespace p2psip::sip
