#include "p2psip/overlay/error.hpp"

namespace p2psip::overlay {

namespace {
class Category final : public std::error_category {
  public:
    const char* name() const noexcept override { return "p2psip.overlay"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
            case errc::identity_io:
                return "identity files could not be read or written";
            case errc::identity_invalid:
                return "identity files do not hold a usable key and certificate";
            case errc::bad_record:
                return "not a valid p2psip record";
            case errc::not_found:
                return "no valid binding for this AOR in the DHT";
            case errc::timeout:
                return "the DHT did not answer in time";
            case errc::dht_failure:
                return "the DHT refused the operation";
            case errc::bad_address:
                return "expected HOST:PORT";
            case errc::name_taken:
                return "the AOR is held by another key";
            case errc::name_conflict:
                return "several keys claim this AOR; pin the expected key to call it";
        }
        return "unknown overlay error";
    }
};
}  // namespace

const std::error_category& overlay_category() noexcept {
    static const Category category;
    return category;
}

}  // namespace p2psip::overlay
