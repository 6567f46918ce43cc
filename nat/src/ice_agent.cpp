#include "p2psip/nat/ice_agent.hpp"

#include <agent.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <cstring>
#include <deque>
#include <mutex>
#include <new>
#include <shared_mutex>
#include <system_error>
#include <thread>
#include <utility>

#include "p2psip/nat/detail/nice_candidate.hpp"
#include "p2psip/nat/error.hpp"

// Threading model
// ---------------
// Each IceAgent owns one GMainContext + GMainLoop running on its own std::thread. A thread per
// agent (rather than one per process) keeps teardown local: close() quits and joins exactly the
// thread that serves this agent, with no cross-agent shutdown ordering, and a node has only a
// handful of calls at a time. libnice signal handlers and the recv callback run on that thread
// and only asio::post() into the owner's io_context; the GLib thread never waits for the
// io_context, so close() (which joins the GLib thread from the io_context thread) cannot
// deadlock. Control calls are marshalled into the GLib thread with idle sources;
// nice_agent_send() is called directly because libnice serialises it with its agent lock.

namespace p2psip::nat {
namespace asio = boost::asio;

namespace {

// Memory for the single in-flight "drain" handler so that posting received datagrams does not
// allocate: asio allocates its operation object through the handler's associated allocator.
class HandlerArena {
  public:
    void* allocate(std::size_t n) {
        if (n <= sizeof(storage_) && !in_use_.exchange(true, std::memory_order_acquire))
            return storage_;
        return ::operator new(n);
    }
    void deallocate(void* p) noexcept {
        if (p == storage_) {
            in_use_.store(false, std::memory_order_release);
        } else {
            ::operator delete(p);
        }
    }

  private:
    alignas(std::max_align_t) unsigned char storage_[256];
    std::atomic<bool> in_use_{false};
};

template <class T>
struct ArenaAllocator {
    using value_type = T;
    std::shared_ptr<HandlerArena> arena;

    explicit ArenaAllocator(std::shared_ptr<HandlerArena> a) noexcept : arena(std::move(a)) {}
    template <class U>
    ArenaAllocator(const ArenaAllocator<U>& other) noexcept : arena(other.arena) {}
    T* allocate(std::size_t n) { return static_cast<T*>(arena->allocate(sizeof(T) * n)); }
    void deallocate(T* p, std::size_t) noexcept { arena->deallocate(p); }
    template <class U>
    bool operator==(const ArenaAllocator<U>& other) const noexcept {
        return arena == other.arena;
    }
};

gboolean quit_loop(gpointer loop) {
    g_main_loop_quit(static_cast<GMainLoop*>(loop));
    return G_SOURCE_REMOVE;
}

void quit_loop_async(GObject*, GAsyncResult*, gpointer loop) {
    quit_loop(loop);
}

bool valid_ip(const std::string& s) {
    NiceAddress a;
    nice_address_init(&a);
    return nice_address_set_from_string(&a, s.c_str());
}

}  // namespace

std::string_view to_string(IceState s) noexcept {
    switch (s) {
        case IceState::gathering:
            return "gathering";
        case IceState::ready:
            return "ready";
        case IceState::checking:
            return "checking";
        case IceState::connected:
            return "connected";
        case IceState::failed:
            return "failed";
        case IceState::closed:
            return "closed";
    }
    return "unknown";
}

struct IceAgent::Impl {
    using StateFn = std::function<void(IceState)>;
    using ReceiveFn = std::function<void(std::span<const uint8_t>)>;

    explicit Impl(asio::io_context& io_ctx) : io(io_ctx) {}

    asio::io_context& io;
    std::weak_ptr<IceAgent> self;  // set once in create(), then read-only

    GMainContext* ctx = nullptr;
    GMainLoop* loop = nullptr;
    NiceAgent* agent = nullptr;
    guint stream_id = 0;
    std::thread thread;

    std::atomic<IceState> state{IceState::gathering};
    std::atomic<bool> closed{false};

    mutable std::mutex mu;  // guards the fields up to recv_cb
    bool gather_started = false;
    bool gathered = false;
    IceCredentials local_creds;
    std::vector<Candidate> local_cands;
    std::string selected;
    std::shared_ptr<StateFn> state_cb;
    std::shared_ptr<ReceiveFn> recv_cb;

    // close() flips send_open under the exclusive lock, so no nice_agent_send() is in flight
    // once the agent is torn down.
    std::shared_mutex send_mu;
    bool send_open = true;

    // Calls marshalled into the GLib thread (see invoke()).
    std::mutex calls_mu;
    std::deque<std::function<void()>> calls;
    bool calls_scheduled = false;

    // GLib thread only.
    std::function<void(std::error_code)> gather_done;
    IceState reported = IceState::gathering;

    // Receive ring: one producer (GLib thread), one consumer (io_context thread).
    struct Slot {
        std::size_t len;
        uint8_t data[kMaxDatagram];
    };
    std::unique_ptr<Slot[]> slots;
    std::atomic<uint64_t> head{0};
    std::atomic<uint64_t> tail{0};
    std::atomic<bool> drain_scheduled{false};
    std::atomic<uint64_t> dropped{0};
    std::shared_ptr<HandlerArena> arena;

    struct DrainHandler {
        std::weak_ptr<IceAgent> self;
        std::shared_ptr<HandlerArena> arena;

        using allocator_type = ArenaAllocator<DrainHandler>;
        allocator_type get_allocator() const noexcept { return allocator_type(arena); }
        void operator()() const {
            if (auto a = self.lock()) a->impl_->drain();
        }
    };

    // Runs fn on the GLib thread, in call order, never inline. The queue is guarded by a
    // std::mutex (not only by GLib's internal locking) so the hand-off is visible to TSan.
    void invoke(std::function<void()> fn) {
        {
            std::lock_guard lk(calls_mu);
            calls.push_back(std::move(fn));
            if (calls_scheduled) return;
            calls_scheduled = true;
        }
        GSource* src = g_idle_source_new();
        g_source_set_priority(src, G_PRIORITY_DEFAULT);
        g_source_set_callback(src, &Impl::run_calls_once, this, nullptr);
        g_source_attach(src, ctx);
        g_source_unref(src);
    }

    void run_calls() {  // GLib thread
        std::deque<std::function<void()>> batch;
        {
            std::lock_guard lk(calls_mu);
            batch.swap(calls);
            calls_scheduled = false;
        }
        for (auto& fn : batch) fn();
    }

    static gboolean run_calls_once(gpointer data) {
        static_cast<Impl*>(data)->run_calls();
        return G_SOURCE_REMOVE;
    }

    void finish_gather(std::error_code ec) {  // GLib thread
        auto done = std::exchange(gather_done, nullptr);
        if (done) asio::post(io, [done = std::move(done), ec] { done(ec); });
    }

    void post_state(IceState s) {  // GLib thread
        if (s == reported || closed.load()) return;
        reported = s;
        state.store(s);
        asio::post(io, [w = self, s] {
            if (auto a = w.lock()) a->impl_->deliver_state(s);
        });
    }

    void deliver_state(IceState s) {  // io_context thread
        if (closed.load() && s != IceState::closed) return;
        std::shared_ptr<StateFn> cb;
        {
            std::lock_guard lk(mu);
            cb = state_cb;
        }
        if (cb && *cb) (*cb)(s);
    }

    void push(const uint8_t* data, std::size_t len) {  // GLib thread
        if (len > kMaxDatagram) {
            dropped.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        const uint64_t h = head.load(std::memory_order_relaxed);
        if (h - tail.load(std::memory_order_acquire) >= kReceiveSlots) {
            dropped.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        Slot& slot = slots[h % kReceiveSlots];
        slot.len = len;
        std::memcpy(slot.data, data, len);
        head.store(h + 1);  // seq_cst: ordered against drain_scheduled (see drain())
        if (!drain_scheduled.exchange(true)) asio::post(io, DrainHandler{self, arena});
    }

    void drain() {  // io_context thread
        // Clear the flag before reading head: a datagram published after this load either is
        // seen here or makes push() post a new drain (all seq_cst).
        drain_scheduled.store(false);
        const uint64_t h = head.load();
        uint64_t t = tail.load(std::memory_order_relaxed);
        std::shared_ptr<ReceiveFn> cb;
        {
            std::lock_guard lk(mu);
            cb = recv_cb;
        }
        for (; t != h; ++t) {
            if (closed.load()) return;
            const Slot& slot = slots[t % kReceiveSlots];
            if (cb && *cb) (*cb)(std::span<const uint8_t>(slot.data, slot.len));
            tail.store(t + 1, std::memory_order_release);
        }
    }

    void run() {  // GLib thread body
        g_main_context_push_thread_default(ctx);
        g_main_loop_run(loop);
        // Quit by teardown(): drop the agent on this thread, then flush queued idle calls
        // (they see `closed` and only report it).
        g_object_unref(agent);
        agent = nullptr;
        while (g_main_context_iteration(ctx, FALSE)) {
        }
        run_calls();
        finish_gather(make_error_code(Errc::closed));
        g_main_context_pop_thread_default(ctx);
    }

    void teardown() {  // GLib thread
        g_signal_handlers_disconnect_by_data(agent, this);
        nice_agent_attach_recv(agent, stream_id, 1, ctx, nullptr, nullptr);
        finish_gather(make_error_code(Errc::closed));
        // Releases TURN allocations, then quits the loop; the timeout bounds a dead TURN server.
        nice_agent_close_async(agent, &quit_loop_async, loop);
        GSource* timeout = g_timeout_source_new(2000);
        g_source_set_callback(timeout, &quit_loop, loop, nullptr);
        g_source_attach(timeout, ctx);
        g_source_unref(timeout);
    }

    // --- libnice callbacks (GLib thread) ---

    static void cb_recv(NiceAgent*, guint, guint, guint len, gchar* buf, gpointer data) {
        static_cast<Impl*>(data)->push(reinterpret_cast<const uint8_t*>(buf), len);
    }

    static void cb_gathering_done(NiceAgent* agent, guint stream_id, gpointer data) {
        auto* d = static_cast<Impl*>(data);
        if (stream_id != d->stream_id) return;
        IceCredentials creds;
        gchar* ufrag = nullptr;
        gchar* pwd = nullptr;
        if (nice_agent_get_local_credentials(agent, stream_id, &ufrag, &pwd)) {
            creds.ufrag = ufrag;
            creds.pwd = pwd;
        }
        g_free(ufrag);
        g_free(pwd);
        std::vector<Candidate> cands;
        GSList* list = nice_agent_get_local_candidates(agent, stream_id, 1);
        for (GSList* i = list; i != nullptr; i = i->next) {
            Candidate c;
            if (!detail::from_nice_candidate(*static_cast<NiceCandidate*>(i->data), c))
                cands.push_back(std::move(c));
        }
        g_slist_free_full(list, reinterpret_cast<GDestroyNotify>(&nice_candidate_free));
        const bool ok = !cands.empty();
        {
            std::lock_guard lk(d->mu);
            d->local_creds = std::move(creds);
            d->local_cands = std::move(cands);
            d->gathered = ok;
        }
        d->post_state(ok ? IceState::ready : IceState::failed);
        d->finish_gather(ok ? std::error_code{} : make_error_code(Errc::gather_failed));
    }

    static void cb_component_state(NiceAgent*, guint stream_id, guint, guint st, gpointer data) {
        auto* d = static_cast<Impl*>(data);
        if (stream_id != d->stream_id) return;
        // GATHERING/DISCONNECTED are not mapped: gathering -> ready is driven by gather().
        switch (st) {
            case NICE_COMPONENT_STATE_CONNECTING:
                d->post_state(IceState::checking);
                break;
            case NICE_COMPONENT_STATE_CONNECTED:
            case NICE_COMPONENT_STATE_READY:
                d->post_state(IceState::connected);
                break;
            case NICE_COMPONENT_STATE_FAILED:
                d->post_state(IceState::failed);
                break;
            default:
                break;
        }
    }

    static void cb_selected_pair(NiceAgent*, guint stream_id, guint, NiceCandidate* local,
                                 NiceCandidate* remote, gpointer data) {
        auto* d = static_cast<Impl*>(data);
        if (stream_id != d->stream_id || local == nullptr || remote == nullptr) return;
        std::string s = detail::candidate_type_name(local->type);
        s += ' ';
        s += detail::format_endpoint(local->addr);
        s += " <-> ";
        s += detail::candidate_type_name(remote->type);
        s += ' ';
        s += detail::format_endpoint(remote->addr);
        std::lock_guard lk(d->mu);
        d->selected = std::move(s);
    }
};

IceAgent::IceAgent(Passkey, asio::io_context& io) : impl_(std::make_unique<Impl>(io)) {}

IceAgent::~IceAgent() {
    close();
}

std::shared_ptr<IceAgent> IceAgent::create(asio::io_context& io, IceConfig cfg,
                                           std::error_code& ec) {
    ec.clear();
    if (cfg.min_port > cfg.max_port || (cfg.min_port == 0) != (cfg.max_port == 0)) {
        ec = make_error_code(Errc::invalid_config);
        return nullptr;
    }
    std::vector<NiceAddress> locals;
    for (const auto& s : cfg.local_addresses) {
        NiceAddress a;
        nice_address_init(&a);
        if (!nice_address_set_from_string(&a, s.c_str())) {
            ec = make_error_code(Errc::invalid_address);
            return nullptr;
        }
        locals.push_back(a);
    }
    const auto& srv = cfg.servers;
    if ((!srv.stun_host.empty() && !valid_ip(srv.stun_host)) ||
        (!srv.turn_host.empty() && !valid_ip(srv.turn_host))) {
        ec = make_error_code(Errc::invalid_address);
        return nullptr;
    }

    auto agent = std::make_shared<IceAgent>(Passkey{}, io);
    Impl& d = *agent->impl_;
    d.self = agent;
    d.slots = std::make_unique<Impl::Slot[]>(kReceiveSlots);
    d.arena = std::make_shared<HandlerArena>();
    d.ctx = g_main_context_new();
    d.loop = g_main_loop_new(d.ctx, FALSE);

    // RFC 8445 §8.1.1: regular nomination only; RFC 7675 consent freshness.
    const auto options = static_cast<NiceAgentOption>(NICE_AGENT_OPTION_REGULAR_NOMINATION |
                                                      NICE_AGENT_OPTION_CONSENT_FRESHNESS);
    d.agent = nice_agent_new_full(d.ctx, NICE_COMPATIBILITY_RFC5245, options);
    if (d.agent == nullptr) {
        ec = make_error_code(Errc::agent_init_failed);
        return nullptr;  // ~IceAgent() releases the context and loop
    }
    const gboolean controlling = cfg.controlling ? TRUE : FALSE;
    g_object_set(G_OBJECT(d.agent), "upnp", FALSE, "ice-tcp", FALSE, "ice-udp", TRUE,
                 "controlling-mode", controlling, nullptr);
    if (cfg.stun_initial_timeout_ms != 0)
        g_object_set(G_OBJECT(d.agent), "stun-initial-timeout",
                     static_cast<guint>(cfg.stun_initial_timeout_ms), nullptr);
    if (cfg.stun_max_retransmissions != 0)
        g_object_set(G_OBJECT(d.agent), "stun-max-retransmissions",
                     static_cast<guint>(cfg.stun_max_retransmissions), nullptr);
    // A STUN server that is also the TURN server is not given to libnice as such: libnice
    // 0.1.21 sends the Binding and the Allocate from one socket to one address, then takes
    // every packet from that address for the TURN socket, so the Binding response is
    // dropped ("Incorrectly multiplexed STUN message") and gathering stalls until the
    // Binding times out (~2 s). The Allocate response carries XOR-MAPPED-ADDRESS (RFC 8656
    // §7.3), which gives libnice the server-reflexive candidate anyway.
    const bool stun_is_turn = !srv.turn_host.empty() && srv.stun_host == srv.turn_host &&
                              (srv.stun_port ? srv.stun_port : 3478) ==
                                  (srv.turn_port ? srv.turn_port : 3478);
    if (!srv.stun_host.empty() && !stun_is_turn) {
        g_object_set(G_OBJECT(d.agent), "stun-server", srv.stun_host.c_str(), "stun-server-port",
                     static_cast<guint>(srv.stun_port ? srv.stun_port : 3478), nullptr);
    }
    for (auto& a : locals) {
        if (!nice_agent_add_local_address(d.agent, &a)) {
            ec = make_error_code(Errc::agent_init_failed);
            return nullptr;
        }
    }
    d.stream_id = nice_agent_add_stream(d.agent, 1);  // one component: RTP/RTCP muxed
    if (d.stream_id == 0) {
        ec = make_error_code(Errc::agent_init_failed);
        return nullptr;
    }
    nice_agent_set_stream_name(d.agent, d.stream_id, "audio");
    if (cfg.min_port != 0)
        nice_agent_set_port_range(d.agent, d.stream_id, 1, cfg.min_port, cfg.max_port);
    if (!srv.turn_host.empty() &&
        !nice_agent_set_relay_info(d.agent, d.stream_id, 1, srv.turn_host.c_str(),
                                   srv.turn_port ? srv.turn_port : 3478, srv.turn_user.c_str(),
                                   srv.turn_password.c_str(), NICE_RELAY_TYPE_TURN_UDP)) {
        ec = make_error_code(Errc::invalid_config);
        return nullptr;
    }
    if (!nice_agent_attach_recv(d.agent, d.stream_id, 1, d.ctx, &Impl::cb_recv, &d)) {
        ec = make_error_code(Errc::agent_init_failed);
        return nullptr;
    }
    g_signal_connect(G_OBJECT(d.agent), "candidate-gathering-done",
                     G_CALLBACK(&Impl::cb_gathering_done), &d);
    g_signal_connect(G_OBJECT(d.agent), "component-state-changed",
                     G_CALLBACK(&Impl::cb_component_state), &d);
    g_signal_connect(G_OBJECT(d.agent), "new-selected-pair-full",
                     G_CALLBACK(&Impl::cb_selected_pair), &d);

    try {
        d.thread = std::thread([&d] { d.run(); });
    } catch (const std::system_error&) {
        ec = make_error_code(Errc::agent_init_failed);
        return nullptr;
    }
    return agent;
}

void IceAgent::gather(std::function<void(std::error_code)> done) {
    Impl& d = *impl_;
    auto fail = [&d, &done](Errc e) {
        asio::post(d.io, [done = std::move(done), e] {
            if (done) done(make_error_code(e));
        });
    };
    if (d.closed.load()) return fail(Errc::closed);
    {
        std::lock_guard lk(d.mu);
        if (d.gather_started) return fail(Errc::invalid_state);
        d.gather_started = true;
    }
    d.invoke([&d, done = std::move(done)]() mutable {
        if (d.closed.load()) {
            asio::post(d.io, [done = std::move(done)] {
                if (done) done(make_error_code(Errc::closed));
            });
            return;
        }
        d.gather_done = std::move(done);
        if (!nice_agent_gather_candidates(d.agent, d.stream_id)) {
            d.post_state(IceState::failed);
            d.finish_gather(make_error_code(Errc::gather_failed));
        }
    });
}

IceCredentials IceAgent::local_credentials() const {
    std::lock_guard lk(impl_->mu);
    return impl_->local_creds;
}

std::vector<Candidate> IceAgent::local_candidates() const {
    std::lock_guard lk(impl_->mu);
    return impl_->local_cands;
}

std::error_code IceAgent::set_remote(const IceCredentials& creds,
                                     const std::vector<Candidate>& cands) {
    Impl& d = *impl_;
    if (d.closed.load()) return make_error_code(Errc::closed);
    if (auto ec = validate_credentials(creds)) return ec;
    {
        std::lock_guard lk(d.mu);
        if (!d.gathered) return make_error_code(Errc::invalid_state);
    }
    auto list = std::make_shared<std::vector<detail::NiceCandidatePtr>>();
    for (const auto& c : cands) {
        if (c.component != 1) continue;  // single component (RFC 8843 rtcp-mux)
        std::error_code ec;
        if (auto n = detail::to_nice_candidate(c, d.stream_id, ec)) list->push_back(std::move(n));
    }
    if (!cands.empty() && list->empty()) return make_error_code(Errc::unsupported_candidate);

    d.invoke([&d, creds, list] {
        if (d.closed.load()) return;
        nice_agent_set_remote_credentials(d.agent, d.stream_id, creds.ufrag.c_str(),
                                          creds.pwd.c_str());
        if (list->empty()) return;  // wait for peer-reflexive candidates from incoming checks
        GSList* gl = nullptr;
        for (auto& c : *list) gl = g_slist_prepend(gl, c.get());
        gl = g_slist_reverse(gl);
        const int added = nice_agent_set_remote_candidates(d.agent, d.stream_id, 1, gl);
        g_slist_free(gl);  // libnice copied the candidates
        if (added < 1) d.post_state(IceState::failed);
    });
    return {};
}

void IceAgent::on_state(std::function<void(IceState)> cb) {
    auto p = std::make_shared<Impl::StateFn>(std::move(cb));
    std::lock_guard lk(impl_->mu);
    impl_->state_cb = std::move(p);
}

void IceAgent::on_receive(std::function<void(std::span<const uint8_t>)> cb) {
    auto p = std::make_shared<Impl::ReceiveFn>(std::move(cb));
    std::lock_guard lk(impl_->mu);
    impl_->recv_cb = std::move(p);
}

std::error_code IceAgent::send(std::span<const uint8_t> datagram) {
    Impl& d = *impl_;
    std::shared_lock lk(d.send_mu);
    if (!d.send_open) return make_error_code(Errc::closed);
    if (d.state.load() != IceState::connected) return make_error_code(Errc::not_connected);
    const gint n = nice_agent_send(d.agent, d.stream_id, 1, static_cast<guint>(datagram.size()),
                                   reinterpret_cast<const gchar*>(datagram.data()));
    if (n < 0 || static_cast<std::size_t>(n) != datagram.size())
        return make_error_code(Errc::send_failed);
    return {};
}

std::string IceAgent::selected_pair() const {
    std::lock_guard lk(impl_->mu);
    return impl_->selected;
}

IceState IceAgent::state() const noexcept {
    return impl_->state.load();
}

uint64_t IceAgent::dropped_datagrams() const noexcept {
    return impl_->dropped.load(std::memory_order_relaxed);
}

void IceAgent::close() {
    Impl& d = *impl_;
    if (d.closed.exchange(true)) return;
    {
        std::unique_lock lk(d.send_mu);
        d.send_open = false;
    }
    if (d.thread.joinable()) {
        d.invoke([&d] { d.teardown(); });
        d.thread.join();  // the GLib thread never waits on us, so this is bounded
    } else if (d.agent != nullptr) {
        g_object_unref(d.agent);  // creation failed before the thread started
        d.agent = nullptr;
    }
    if (d.loop != nullptr) g_main_loop_unref(d.loop);
    if (d.ctx != nullptr) g_main_context_unref(d.ctx);
    d.loop = nullptr;
    d.ctx = nullptr;
    d.state.store(IceState::closed);
    // From the destructor `self` has expired and nobody is left to tell.
    if (!d.self.expired()) {
        asio::post(d.io, [w = d.self] {
            if (auto a = w.lock()) a->impl_->deliver_state(IceState::closed);
        });
    }
}

}  // namespace p2psip::nat
