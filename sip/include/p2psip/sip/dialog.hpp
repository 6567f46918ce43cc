#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "p2psip/sip/message.hpp"
#include "p2psip/sip/uri.hpp"

namespace p2psip::sip {

// Dialog state (RFC 3261 §12): identifiers, sequence numbers, remote target, route set.
class Dialog {
  public:
    enum class State { early, confirmed, terminated };

    // §12.1.2: UAC side, from a 1xx (with To tag) or 2xx response to our INVITE.
    // `local_contact` is our Contact URI text.
    static std::error_code from_uac(const Message& response, std::string local_contact,
                                    Dialog& out);
    // §12.1.1: UAS side, from the INVITE and the To tag we chose.
    static std::error_code from_uas(const Message& request, std::string local_tag,
                                    std::string local_contact, Dialog& out);

    // §12.2.1.1: a new in-dialog request; increments the local CSeq (not for ACK/CANCEL).
    // Request-URI, Route, From/To with tags, Call-ID, CSeq, Max-Forwards 70, Contact.
    OutgoingMessage make_request(std::string_view method);
    // §13.2.2.4: ACK for a 2xx, CSeq number of the INVITE.
    OutgoingMessage make_ack(uint32_t invite_cseq) const;

    // §12.2.2: checks and records the remote CSeq of an in-dialog request; false when it is
    // lower than the last one (the UAS answers 500).
    bool accept_remote_cseq(const Message& request);
    // Target refresh (§12.2): Contact of a 2xx / re-INVITE updates the remote target.
    void update_remote_target(const Message& msg);
    // 2xx received/sent: early -> confirmed (UAC re-reads the route set, §12.1.2).
    void confirm(const Message& response_2xx, bool uac);

    // Where in-dialog requests go: first Route when the route set is not empty (loose
    // routing), else the remote target.
    const Uri& next_hop() const;
    // "call-id;local-tag;remote-tag"
    std::string id() const;
    bool matches(const Message& in_dialog_request) const;

    State state = State::early;
    std::string call_id, local_tag, remote_tag;
    std::string local_uri, remote_uri;  // From/To values without tag, as name-addr text
    std::string local_contact;
    Uri remote_target;
    std::vector<std::string> route_set;  // name-addr values of Route headers to send
    std::vector<Uri> route_uris;
    uint32_t local_cseq = 0;
    std::optional<uint32_t> remote_cseq;
    bool secure = false;
};

}  // namespace p2psip::sip
