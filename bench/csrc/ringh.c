/*
 * Baseline for the ring benchmark: Xen's own io/ring.h macros on the netif tx ring, used the way
 * Linux netfront/netback use them, exported as per-batch functions so that the Rust harness pays
 * one FFI call per batch, not per entry.
 *
 * Barriers are Linux's x86 virt_* barriers: xen_mb() is a locked add to the stack (smp_mb),
 * xen_rmb()/xen_wmb() are compiler barriers (x86 is TSO).
 * Notification = store 1 to an int the other side polls (an event channel without the syscall).
 */
#define __XEN_INTERFACE_VERSION__ 0x00040e00
#define xen_mb() __asm__ __volatile__("lock; addl $0,-4(%%rsp)" ::: "memory", "cc")
#define xen_rmb() __asm__ __volatile__("" ::: "memory")
#define xen_wmb() __asm__ __volatile__("" ::: "memory")

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xen/io/netif.h>

#define PAGE 4096

struct ringh_front {
    netif_tx_front_ring_t ring;
    int *notify_back;
    uint64_t checksum;
};

struct ringh_back {
    netif_tx_back_ring_t ring;
    int *notify_front;
    uint64_t checksum;
    int bad_peer;
};

static void notify(int *flag)
{
    __atomic_store_n(flag, 1, __ATOMIC_RELEASE);
}

struct ringh_front *ringh_front_new(void *page, int *notify_back)
{
    struct ringh_front *f = calloc(1, sizeof(*f));
    netif_tx_sring_t *s = page;
    if (!f)
        return NULL;
    SHARED_RING_INIT(s);
    FRONT_RING_INIT(&f->ring, s, PAGE);
    f->notify_back = notify_back;
    return f;
}

void ringh_front_free(struct ringh_front *f) { free(f); }
uint64_t ringh_front_checksum(const struct ringh_front *f) { return f->checksum; }
unsigned ringh_front_size(const struct ringh_front *f) { return RING_SIZE(&f->ring); }

/* Pushes up to k requests numbered seq, seq + 1, ... (fewer if the ring is full), publishes them
 * and notifies the backend if it asked. Returns how many were pushed. */
unsigned ringh_front_produce(struct ringh_front *f, unsigned k, uint32_t seq)
{
    unsigned n = 0;
    int do_notify;
    while (n < k && !RING_FULL(&f->ring)) {
        netif_tx_request_t *req = RING_GET_REQUEST(&f->ring, f->ring.req_prod_pvt);
        uint32_t s = seq + n;
        req->gref = s;
        req->offset = s & 0xfff;
        req->flags = 0;
        req->id = (uint16_t)s;
        req->size = 60 + (s & 0x3ff);
        f->ring.req_prod_pvt++;
        n++;
    }
    if (n) {
        RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&f->ring, do_notify);
        if (do_notify)
            notify(f->notify_back);
    }
    return n;
}

/* Consumes up to max responses, checksumming them. */
unsigned ringh_front_consume(struct ringh_front *f, unsigned max)
{
    RING_IDX rc = f->ring.rsp_cons, rp = f->ring.sring->rsp_prod;
    unsigned n = 0;
    uint64_t sum = 0;
    xen_rmb();
    if (RING_RESPONSE_PROD_OVERFLOW(&f->ring, rp))
        abort();
    while (rc != rp && n < max) {
        netif_tx_response_t rsp;
        RING_COPY_RESPONSE(&f->ring, rc, &rsp);
        sum += (uint64_t)rsp.id + (uint64_t)(uint16_t)rsp.status;
        rc++;
        n++;
    }
    f->ring.rsp_cons = rc;
    f->checksum += sum;
    return n;
}

int ringh_front_final_check(struct ringh_front *f)
{
    int work;
    RING_FINAL_CHECK_FOR_RESPONSES(&f->ring, work);
    return work != 0;
}

struct ringh_back *ringh_back_new(void *page, int *notify_front)
{
    struct ringh_back *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    BACK_RING_INIT(&b->ring, (netif_tx_sring_t *)page, PAGE);
    b->notify_front = notify_front;
    return b;
}

void ringh_back_free(struct ringh_back *b) { free(b); }
uint64_t ringh_back_checksum(const struct ringh_back *b) { return b->checksum; }

/* Consumes up to max requests, answering each, publishes the responses and notifies the
 * frontend if it asked. Returns how many requests were handled. */
unsigned ringh_back_step(struct ringh_back *b, unsigned max)
{
    RING_IDX rc = b->ring.req_cons, rp = b->ring.sring->req_prod;
    unsigned n = 0;
    uint64_t sum = 0;
    int do_notify;
    xen_rmb();
    if (RING_REQUEST_PROD_OVERFLOW(&b->ring, rp))
        abort();
    while (rc != rp && n < max && !RING_REQUEST_CONS_OVERFLOW(&b->ring, rc)) {
        netif_tx_request_t req;
        netif_tx_response_t *rsp;
        RING_COPY_REQUEST(&b->ring, rc, &req);
        b->ring.req_cons = ++rc;
        sum += (uint64_t)req.gref + req.offset + req.flags + req.id + req.size;
        rsp = RING_GET_RESPONSE(&b->ring, b->ring.rsp_prod_pvt);
        rsp->id = req.id;
        rsp->status = NETIF_RSP_OKAY;
        b->ring.rsp_prod_pvt++;
        n++;
    }
    b->checksum += sum;
    if (n) {
        RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&b->ring, do_notify);
        if (do_notify)
            notify(b->notify_front);
    }
    return n;
}

int ringh_back_final_check(struct ringh_back *b)
{
    int work;
    RING_FINAL_CHECK_FOR_REQUESTS(&b->ring, work);
    return work != 0;
}
