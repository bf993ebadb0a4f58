// SPDX-License-Identifier: GPL-2.0
/*
 * quic_fuzz: random and mutated call sequences against the quic-crypto UDP
 * ULP, from several threads sharing a few sockets.
 *
 *	quic_fuzz [-n CALLS] [-m MIN_CALLS] [-s SEED] [-t THREADS]
 *		  [-T SECONDS] [-L SECONDS] [-C]
 *
 * -n stops after CALLS calls; -T after SECONDS seconds, but not before
 * MIN_CALLS calls were made (-m, default 0), unless -L SECONDS have passed:
 * a guest that shares its CPUs still makes a known number of calls, and a
 * stuck one still ends.  -C never corks (no UDP_CORK, no MSG_MORE):
 * corking while connections are removed is what the deadlock found on
 * 2026-11-26 needs (see the report).
 *
 * The calls are socket(), UDP_ULP, UDP_QUIC_ADD/DEL_TX_CONNECTION,
 * UDP_QUIC_SET_TX_KEY_PHASE, sendmsg() and sendmmsg() with random control
 * messages, GSO, flags, lengths, iovecs and destinations over IPv4 and
 * IPv6, connected or not, socket options, getsockopt() and close().  Each
 * thread draws from its own generator seeded from SEED, so a run with one
 * thread replays exactly; with several, the interleaving varies.
 *
 * Besides the kernel's own checks (KASAN, lockdep, kmemleak, read on the
 * console afterwards), the fuzzer checks these properties:
 *  - every payload meant to be encrypted carries a marker; no datagram that
 *    reaches the loopback receivers may contain it;
 *  - every failed call fails with an errno its interface documents;
 *  - a call the documentation says must fail does not succeed, and an
 *    option refused with EEXIST or ENOENT agrees with the keys the socket
 *    has (see "The contract" below);
 *  - every datagram of an encrypted call made with keys the fuzzer knows
 *    opens, with the selftests' OpenSSL receiver, to exactly the packet
 *    that was sent, and every such datagram of a call that succeeded
 *    arrives, but for a bounded number of receiver drops;
 *  - getsockopt() of the offload's options never succeeds nor writes.
 *
 * How datagrams are checked: every socket binds a port of its own, so a
 * receiver knows the sender of a datagram.  For each (socket, connection
 * ID) the fuzzer keeps the keys of each phase as its successful options
 * installed them (struct conn_model); the options and the checked sends of
 * a connection are made under its lock, so the keys a checked send used
 * are known exactly.  Checked sends go to receivers of their own and leave
 * a record: the plaintext, the keys, and the packets the call is cut in
 * for each segment size it may have had.  Each datagram at those
 * receivers must open, with the key of its packet's phase and the packet
 * number that layout gives, to exactly the plaintext packet.
 *
 * It prints "fuzz: N calls, N errors, N wire mismatches" and exits 1 if a
 * property failed.
 */

#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>
#include <linux/capability.h>
#include <linux/quic.h>
#include <linux/tls.h>
#include <linux/udp.h>

#include "quic_util.h"

#define NSLOTS		8
#define NCIDS		6
#define MAX_THREADS	16
#define BUF_LEN		(66 * 1024)
#define MAX_IOV		8
#define MAX_MMSG	4
#define REPORT_MAX	20	/* findings of each kind printed in full */
#define GSO_RING	8	/* segment sizes a socket had, by version */
#define MAX_HYP		(2 * GSO_RING + 2)
/* Checked ciphertext that may wait in the receivers before calls go unchecked */
#define BACKLOG_BYTES	(2 << 20)
/* Lost datagrams allowed, per thousand checked */
#define LOST_PERMILLE	10
/* Ports of the fuzzed sockets, one per socket until the range wraps */
#define PORT_BASE	20000
#define PORT_SPAN	12000

#ifndef UDP_MAX_SEGMENTS
#define UDP_MAX_SEGMENTS	128
#endif

static const char marker[] = "FUZZ-PLAINTEXT!";
#define MARKER_LEN	(sizeof(marker) - 1)

enum op {
	OP_SOCKET, OP_ATTACH, OP_ADD, OP_DEL, OP_KEY_PHASE, OP_SEND,
	OP_SENDMMSG, OP_SOCKOPT, OP_GETSOCKOPT, OP_CLOSE, OP_NR,
};

static const char * const op_names[OP_NR] = {
	"socket", "attach", "add", "del", "key_phase", "sendmsg", "sendmmsg",
	"setsockopt", "getsockopt", "close",
};

/* Out of 100 */
static const int op_weight[OP_NR] = { 3, 2, 10, 6, 5, 55, 5, 6, 4, 4 };

/*
 * What the fuzzer knows of one connection (socket, connection ID).  Every
 * option and every checked send for it is made under @lock, so the model
 * is exact: the keys of each phase, and a packet number the kernel's next
 * one is at least (sends the fuzzer does not check may raise the kernel's).
 * A few calls race on purpose without the lock; the first makes the model
 * @unknown for the rest of the socket's life.
 */
struct conn_model {
	pthread_mutex_t lock;
	bool unknown;
	bool present;
	bool split;		/* had an INSTALL: one key per Key Phase bit */
	bool have[2];
	uint64_t next_pn;
	struct quic_keys keys[2];	/* unsplit: keys[0] for every packet */
};

/*
 * Socket options that change how a call is sent.  They change one at a
 * time (struct shadow's set_lock, held across the option call), with
 * @busy and the value being set visible under opt_lock while the call
 * runs, and @ver counting changes: a send that saw the same version and
 * nothing busy before and after knows the values.
 */
struct sock_opts {
	int gso;		/* UDP_SEGMENT */
	bool cork;		/* UDP_CORK */
	bool zerocopy;		/* SO_ZEROCOPY, never cleared */
};

/* The fuzzer's view of one socket, shared by the slot and the calls on it */
struct shadow {
	int refs;			/* atomic */
	int family;
	uint16_t port;			/* bound port; 0: datagrams unchecked */
	bool connected;			/* to the checking receiver */
	bool may_pend;			/* corked data may wait (sticky) */
	pthread_mutex_t set_lock, opt_lock;
	struct sock_opts opt, pend;
	unsigned int ver;
	bool busy;
	int gso_ring[GSO_RING];		/* gso of version v at v % GSO_RING */
	struct conn_model conn[NCIDS];
};

struct opt_view {
	struct sock_opts opt, pend;
	unsigned int ver;
	bool busy;
};

/*
 * The descriptor numbers of the shared sockets never change: a new socket
 * and a close replace what a number refers to with dup2(), under the
 * slot's lock, which also guards the slot's shadow.  A call takes its own
 * descriptor of the socket with dup(), so that the socket it acts on and
 * the shadow it records in are the same.  A closed slot refers to
 * /dev/null: calls on it fail with ENOTSOCK.
 */
static int slots[NSLOTS];
static struct shadow *slot_sh[NSLOTS];
static pthread_mutex_t slot_lock[NSLOTS];
static int closed_fd;
/*
 * Receivers: rx[] take what nobody checks (marker search only), rxc[]
 * only the datagrams of checked calls, each of which must open to a
 * packet the fuzzer sent.
 */
static int rx[2], rxc[2];
static struct sockaddr_in rx4, rxc4;
static struct sockaddr_in6 rx6, rx4mapped, rxc6, rxc4mapped;
static const uint8_t cid_lens[NCIDS] = { 0, 1, 4, 8, 16, 20 };
static uint8_t cids[NCIDS][QUIC_CID_MAX];

static uint64_t max_calls, min_calls;
static time_t deadline, hard_deadline;
static uint64_t calls_started;		/* atomic */
static time_t start_time;
static bool no_cork;
static bool stop_rx;
static unsigned int next_port;		/* atomic */

static struct {
	uint64_t calls, errors, leaks, unexpected, readback, received;
	uint64_t forbidden, unexplained;	/* contract */
	uint64_t checked, mismatch, lost, ovfl, deferred, tracked, tracked_mmsg;
	uint64_t unexplained_dgrams, opt_sized, other_bytes, lost_garbled;
	uint64_t per_op[OP_NR], per_op_err[OP_NR];
} tot;
static pthread_mutex_t tot_lock = PTHREAD_MUTEX_INITIALIZER;

struct worker {
	pthread_t thread;
	uint64_t rng;
	uint64_t calls, errors, unexpected, readback;
	uint64_t per_op[OP_NR], per_op_err[OP_NR];
	uint8_t buf[BUF_LEN];
	uint8_t buf2[MAX_MMSG][2048];
	/*
	 * MSG_ZEROCOPY sends: UDP may still read these pages after the call,
	 * e.g. from a corked datagram, so they never hold the marker.
	 */
	uint8_t zbuf[BUF_LEN];
	uint8_t zbuf2[MAX_MMSG][2048];
};

/* The socket and shadow one call acts on */
struct handle {
	int fd;
	struct shadow *sh;	/* NULL: a closed slot */
};

static uint64_t rnd(struct worker *w, uint64_t lo, uint64_t hi)
{
	return quic_rand_range(&w->rng, lo, hi);
}

static bool chance(struct worker *w, int percent)
{
	return rnd(w, 0, 99) < (uint64_t)percent;
}

static bool report_first(uint64_t *counter)
{
	return __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED) < REPORT_MAX;
}

static void report(struct worker *w, enum op which, int err, const char *why)
{
	w->unexpected++;
	if (report_first(&tot.unexpected))
		fprintf(stderr, "quic_fuzz: %s: unexpected %s (%s)\n",
			op_names[which], strerror(err), why);
}

static bool errno_in(int err, const int *set)
{
	for (; *set; set++)
		if (*set == err)
			return true;
	return false;
}

/*
 * The contract
 * ============
 *
 * What Documentation/networking/quic.rst and notes/contract.md promise,
 * as far as the fuzzer checks it, is all in this section: the errnos each
 * interface may give, and the calls that must fail.  A call that must
 * fail and succeeds is counted as forbidden.  Only conditions that make a
 * call fail whatever else it carries are listed: which errno wins when a
 * call has several defects is not checked.
 */

/* Errnos any call on a shared, maybe closed, socket may see. */
static const int err_common[] = { EBADF, ENOTSOCK, ENOMEM, EMFILE, 0 };

static const int err_sockopt[] = {
	EINVAL, EEXIST, ENOENT, ENOPROTOOPT, EFAULT, ENOMEM, EBADF, ENOTSOCK,
	EBUSY, EOPNOTSUPP, E2BIG, EAGAIN, ENOSPC, EMFILE, 0
};

/*
 * sendmsg(): the offload's table, and what UDP and IP answer as for a
 * plain socket (no route, ICMP errors queued on connected sockets...).
 */
static const int err_send[] = {
	EINVAL, ENOKEY, EOPNOTSUPP, EMSGSIZE, EFAULT, ENOMEM, ENOBUFS, EAGAIN,
	ERANGE, E2BIG,
	EBADF, ENOTSOCK, EDESTADDRREQ, ECONNREFUSED, EAFNOSUPPORT,
	ENETUNREACH, EHOSTUNREACH, EPERM, EMFILE, 0
};

/*
 * Errnos after which an encrypting call sent nothing: the offload's own
 * refusals, and UDP's refusals of the whole call ("Errors" and "Sending"
 * in quic.rst).  After any other errno part of a GSO batch may be out.
 */
static const int err_unsent[] = {
	EINVAL, ENOKEY, EOPNOTSUPP, EMSGSIZE, EFAULT, ENOMEM, EAGAIN, ERANGE,
	E2BIG, EDESTADDRREQ, EAFNOSUPPORT, EBADF, ENOTSOCK, EMFILE, 0
};

/*
 * The plain path (no UDP_QUIC_ENCRYPT): a datagram that starts with a
 * short header is refused (so is one behind coalesced long headers, which
 * the fuzzer does not build).  Where data appended to a corked datagram
 * falls in its packets is not known here, so with corked data possibly
 * waiting there is no verdict.  PLAIN_REFUSES_ZEROCOPY: MSG_ZEROCOPY on a
 * socket with SO_ZEROCOPY is refused without UDP_QUIC_ENCRYPT too.
 */
#define PLAIN_REFUSES_ZEROCOPY	1

static bool cipher_known(uint16_t cipher)
{
	return quic_key_len(cipher) != 0;
}

/* UDP_QUIC_ADD/DEL_TX_CONNECTION; @m is NULL if the state is unknown. */
static const char *conn_must_fail(bool add, const void *optval,
				  socklen_t optlen,
				  const struct quic_connection_info *ci,
				  const struct conn_model *m)
{
	if (optlen < sizeof(*ci))
		return "optlen below the structure";
	if (!optval)
		return "optval NULL";
	/* The bytes beyond the structure the fuzzer passes are zero. */
	if (ci->key.conn_id_length > QUIC_MAX_CONNECTION_ID_SIZE)
		return "conn_id_length above 20";
	if (add && !cipher_known(ci->cipher_type))
		return "unknown cipher";
	if (m && add && m->present)
		return "ADD of a connection the socket has";
	if (m && !add && !m->present)
		return "DEL of a connection the socket does not have";
	return NULL;
}

static const char *phase_must_fail(const void *optval, socklen_t optlen,
				   const struct quic_tx_key_phase_info *ki,
				   const struct conn_model *m)
{
	if (optlen < sizeof(*ki))
		return "optlen below the structure";
	if (!optval)
		return "optval NULL";
	if (ki->key.conn_id_length > QUIC_MAX_CONNECTION_ID_SIZE)
		return "conn_id_length above 20";
	if (ki->op != QUIC_KEY_PHASE_INSTALL && ki->op != QUIC_KEY_PHASE_RETIRE)
		return "unknown op";
	if (ki->phase > 1)
		return "phase above 1";
	if (ki->reserved)
		return "reserved not zero";
	if (!m)
		return NULL;
	if (!m->present)
		return "no such connection";
	if (ki->op == QUIC_KEY_PHASE_RETIRE && !m->split)
		return "RETIRE before any INSTALL";
	if (ki->op == QUIC_KEY_PHASE_RETIRE && !m->have[ki->phase])
		return "RETIRE of a phase without a key";
	if (ki->op == QUIC_KEY_PHASE_INSTALL && m->split && m->have[ki->phase])
		return "INSTALL into a phase that has a key";
	return NULL;
}

/*
 * Refusals the state explains: EEXIST and ENOENT say what the socket has,
 * so the exact model must agree.  @m is the model before the call.
 */
static bool conn_refusal_explained(int err, bool add,
				   const struct conn_model *m)
{
	if (err == EEXIST)
		return add && m->present;
	if (err == ENOENT)
		return !add && !m->present;
	return true;
}

static bool phase_refusal_explained(int err,
				    const struct quic_tx_key_phase_info *ki,
				    const struct conn_model *m)
{
	if (err == EEXIST)
		return m->present && ki->op == QUIC_KEY_PHASE_INSTALL &&
		       m->split && m->have[ki->phase & 1];
	if (err == ENOENT)
		return !m->present || (ki->op == QUIC_KEY_PHASE_RETIRE &&
				       m->split && !m->have[ki->phase & 1]);
	return true;
}

/* One packet of an encrypting call, as the kernel cuts and numbers it */
struct pkt {
	uint32_t off, len;	/* plaintext */
	uint64_t pn;
	uint8_t phase;
};

/*
 * Lay the plaintext of an encrypting call out in packets with the segment
 * size @gso (0: none), as "Sending" and "GSO" describe, and check what the
 * documentation checks before encrypting.  @next_pn is a number the
 * connection's next packet number is known to be at least (0: nothing
 * known).  Returns the packet count, or 0 with *why set when the call must
 * fail.  The caller makes sure next_pkt_num is far below 2^62: the check
 * against 2^62 - 1 is left out.
 */
static unsigned int plan_call(const uint8_t *buf, size_t len, unsigned int gso,
			      const struct quic_tx_ancillary_data *anc,
			      uint64_t next_pn, struct pkt *pk,
			      const char **why)
{
	size_t cid_len = anc->conn_id_length, min_len = QUIC_MIN_PKT(cid_len);
	size_t stride = len, count, i;
	uint64_t expected = anc->next_pkt_num;

	if (len > 65535) {
		*why = "datagram over 65535 bytes";
		return 0;
	}
	if (len < min_len) {
		*why = "packet too short for the sample";
		return 0;
	}
	if (gso) {
		if (gso <= QUIC_TAG_LEN) {
			*why = "segment size of 16 or less";
			return 0;
		}
		stride = len < gso - QUIC_TAG_LEN ? len : gso - QUIC_TAG_LEN;
	}
	count = (len + stride - 1) / stride;
	if (len - (count - 1) * stride < min_len) {
		*why = "last packet too short for the sample";
		return 0;
	}
	if (count > UDP_MAX_SEGMENTS) {
		*why = "more segments than UDP_MAX_SEGMENTS";
		return 0;
	}
	if (len + count * QUIC_TAG_LEN > 65535) {
		*why = "datagram over 65535 bytes once encrypted";
		return 0;
	}
	for (i = 0; i < count; i++) {
		const uint8_t *h = buf + i * stride;
		unsigned int pn_len = (h[0] & QUIC_HDR_PN_LEN_MASK) + 1, j;
		uint64_t trunc = 0, pn;

		if (h[0] & QUIC_HDR_LONG) {
			*why = "long header with UDP_QUIC_ENCRYPT";
			return 0;
		}
		if (memcmp(h + 1, buf + 1, cid_len)) {
			*why = "packets with different DCIDs";
			return 0;
		}
		for (j = 0; j < pn_len; j++)
			trunc = trunc << 8 | h[1 + cid_len + j];
		pn = quic_pn_decode(expected, trunc, pn_len);
		if (pn < (i ? expected : next_pn)) {
			*why = "packet number not above the previous";
			return 0;
		}
		pk[i].off = i * stride;
		pk[i].len = i == count - 1 ? len - i * stride : stride;
		pk[i].pn = pn;
		pk[i].phase = !!(h[0] & QUIC_HDR_KEY_PHASE);
		expected = pn + 1;
	}
	return count;
}

/* What one sendmsg() carries, as far as the contract looks at it */
struct send_desc {
	bool encrypt;		/* UDP_QUIC_ENCRYPT given (maybe malformed) */
	int copies;		/* of UDP_QUIC_ENCRYPT */
	int len_delta;		/* added to its cmsg_len */
	struct quic_tx_ancillary_data anc;
	bool gso_cmsg;		/* UDP_SEGMENT cmsg given, with gso_cmsg_val */
	uint16_t gso_cmsg_val;
	int flags;
	bool has_addr;		/* a destination that names an address */
	const uint8_t *buf;
	size_t len;
};

/*
 * Whether an encrypting call must fail.  @m is the connection's model, or
 * NULL if the call's DCID names a connection the fuzzer does not follow;
 * @o is the socket's options if they held still during the call.
 * @family and @connected describe the socket.
 */
static const char *send_must_fail(const struct send_desc *d,
				  const struct conn_model *m,
				  const struct sock_opts *o, int family,
				  bool connected)
{
	static __thread struct pkt pk[UDP_MAX_SEGMENTS];
	const char *why = NULL;
	unsigned int n, i;

	if (d->copies > 1)
		return "UDP_QUIC_ENCRYPT twice";
	if (d->len_delta < 0)
		return "UDP_QUIC_ENCRYPT cmsg_len too short";
	if (d->len_delta > 0)
		return NULL;	/* E2BIG, EINVAL or fine: it depends */
	if (d->anc.flags & ~QUIC_BYPASS_ENCRYPTION)
		return "unknown flags";
	if (d->anc.conn_id_length > QUIC_MAX_CONNECTION_ID_SIZE)
		return "conn_id_length above 20";
	if (d->flags & MSG_MORE)
		return "MSG_MORE";
	if (d->flags & MSG_OOB && family == AF_INET)
		return "MSG_OOB (IPv4 UDP)";
	if (o && o->cork)
		return "UDP_CORK";
	if (o && o->zerocopy && d->flags & MSG_ZEROCOPY)
		return "MSG_ZEROCOPY with SO_ZEROCOPY";
	if (!d->has_addr && !connected)
		return "no destination (UDP)";
	if (d->anc.flags & QUIC_BYPASS_ENCRYPTION)
		return NULL;
	if (!d->gso_cmsg && !o)
		return NULL;	/* the segment size is not known */
	if (d->anc.next_pkt_num >= 1ULL << 61)
		return NULL;	/* plan_call() leaves 2^62 out */
	n = plan_call(d->buf, d->len, d->gso_cmsg ? d->gso_cmsg_val : o->gso,
		      &d->anc, m && m->present ? m->next_pn : 0, pk, &why);
	if (!n)
		return why;
	if (!m)
		return NULL;
	if (!m->present)
		return "no connection for the DCID";
	for (i = 0; m->split && i < n; i++)
		if (!m->have[pk[i].phase])
			return "a packet's key phase has no key";
	return NULL;
}

/* Whether a call without UDP_QUIC_ENCRYPT must fail ("Bypass and..."). */
static const char *plain_must_fail(const struct send_desc *d,
				   const struct sock_opts *o, int family,
				   bool may_pend)
{
	/* IPv6's UDP does not refuse MSG_OOB. */
	if (d->flags & MSG_OOB && family == AF_INET)
		return "MSG_OOB (IPv4 UDP)";
	if (PLAIN_REFUSES_ZEROCOPY && o && o->zerocopy &&
	    d->flags & MSG_ZEROCOPY)
		return "plain MSG_ZEROCOPY";
	if (may_pend || !o || o->cork)
		return NULL;
	if (d->len && !(d->buf[0] & QUIC_HDR_LONG))
		return "short header without UDP_QUIC_ENCRYPT";
	return NULL;
}

/* End of the contract. */

static void shadow_put(struct shadow *sh)
{
	int i;

	if (!sh || __atomic_sub_fetch(&sh->refs, 1, __ATOMIC_ACQ_REL))
		return;
	for (i = 0; i < NCIDS; i++)
		pthread_mutex_destroy(&sh->conn[i].lock);
	pthread_mutex_destroy(&sh->opt_lock);
	pthread_mutex_destroy(&sh->set_lock);
	free(sh);
}

static void acquire(struct worker *w, struct handle *h)
{
	int i = rnd(w, 0, NSLOTS - 1);

	pthread_mutex_lock(&slot_lock[i]);
	h->fd = dup(slots[i]);
	h->sh = h->fd >= 0 ? slot_sh[i] : NULL;
	if (h->sh)
		__atomic_add_fetch(&h->sh->refs, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&slot_lock[i]);
}

static void release(struct handle *h)
{
	if (h->fd >= 0)
		close(h->fd);
	shadow_put(h->sh);
}

/* Make slot @i refer to @fd (closed_fd: closed) with shadow @sh. */
static int slot_set(int i, int fd, struct shadow *sh)
{
	struct shadow *old;
	int ret;

	pthread_mutex_lock(&slot_lock[i]);
	ret = dup2(fd, slots[i]);
	if (ret < 0) {
		pthread_mutex_unlock(&slot_lock[i]);
		shadow_put(sh);
		return ret;
	}
	old = slot_sh[i];
	slot_sh[i] = sh;
	pthread_mutex_unlock(&slot_lock[i]);
	shadow_put(old);
	return ret;
}

static void opt_view(struct shadow *sh, struct opt_view *v)
{
	pthread_mutex_lock(&sh->opt_lock);
	v->opt = sh->opt;
	v->pend = sh->pend;
	v->ver = sh->ver;
	v->busy = sh->busy;
	pthread_mutex_unlock(&sh->opt_lock);
}

/* The options held still between views @a and @b. */
static bool opt_stable(const struct opt_view *a, const struct opt_view *b)
{
	return a->ver == b->ver && !a->busy && !b->busy;
}

/*
 * Segment sizes a send that saw views @a before and @b after may have
 * been given: the values of the versions in between and those being set.
 */
static int gso_candidates(struct shadow *sh, const struct opt_view *a,
			  const struct opt_view *b, int *gso)
{
	unsigned int v, n = 0, i;
	int val[MAX_HYP];

	val[n++] = a->opt.gso;
	if (a->busy)
		val[n++] = a->pend.gso;
	pthread_mutex_lock(&sh->opt_lock);
	for (v = a->ver + 1; v <= b->ver && v - a->ver <= GSO_RING; v++)
		val[n++] = sh->gso_ring[v % GSO_RING];
	pthread_mutex_unlock(&sh->opt_lock);
	if (b->busy)
		val[n++] = b->pend.gso;
	/* Distinct values only */
	for (v = 0, i = 0; v < n; v++) {
		unsigned int k;

		for (k = 0; k < i && gso[k] != val[v]; k++)
			;
		if (k == i)
			gso[i++] = val[v];
	}
	return i;
}

/* Set one of the options of struct sock_opts, visible as described there. */
static int opt_set(struct shadow *sh, int fd, int level, int name, int val)
{
	int ret, err;

	pthread_mutex_lock(&sh->set_lock);
	pthread_mutex_lock(&sh->opt_lock);
	sh->pend = sh->opt;
	if (name == UDP_SEGMENT)
		sh->pend.gso = val;
	else if (name == UDP_CORK)
		sh->pend.cork = val;
	else
		sh->pend.zerocopy = sh->pend.zerocopy || val;
	if (name == UDP_CORK && val)
		sh->may_pend = true;
	sh->busy = true;
	pthread_mutex_unlock(&sh->opt_lock);

	ret = setsockopt(fd, level, name, &val, sizeof(val));
	err = errno;

	pthread_mutex_lock(&sh->opt_lock);
	sh->busy = false;
	if (!ret) {
		sh->opt = sh->pend;
		sh->ver++;
		sh->gso_ring[sh->ver % GSO_RING] = sh->opt.gso;
	}
	pthread_mutex_unlock(&sh->opt_lock);
	pthread_mutex_unlock(&sh->set_lock);
	errno = err;
	return ret;
}

/*
 * The records of checked calls, by source port: what each datagram must
 * open to.  A call's record is added after the call returns; datagrams
 * that arrive before that wait in the receiver while the port has a
 * checked call in flight (inflight[]).
 */
struct hyp {
	int gso;
	unsigned int n, got;
	struct pkt *pk;
	uint8_t *seen;
};

struct rec {
	struct rec *next;
	uint16_t port;
	bool partial;		/* the call failed: nothing was promised */
	bool gso_opt;		/* segment size from the UDP_SEGMENT option */
	uint8_t cid_len;
	uint8_t cid[QUIC_CID_MAX];
	struct quic_keys keys[2];
	bool split;
	unsigned int nhyp;
	struct hyp hyp[MAX_HYP];
	size_t len, wire;
	uint8_t buf[];
};

static struct rec *recs[1 << 16];
static pthread_mutex_t recs_lock = PTHREAD_MUTEX_INITIALIZER;
static int inflight[1 << 16];		/* atomic */
/* Ports that sent a datagram no record explains: their losses are not drops */
static bool garbled[1 << 16];
static size_t backlog;			/* wire bytes awaited, atomic */

static void rec_free(struct rec *r)
{
	unsigned int i;

	for (i = 0; i < r->nhyp; i++) {
		free(r->hyp[i].pk);
		free(r->hyp[i].seen);
	}
	free(r);
}

/* The keys packet @p of record @r must be protected with */
static const struct quic_keys *rec_keys(const struct rec *r,
					const struct pkt *p)
{
	return &r->keys[r->split ? p->phase : 0];
}

static bool rec_done(const struct rec *r)
{
	unsigned int i;

	for (i = 0; i < r->nhyp; i++)
		if (r->hyp[i].n && r->hyp[i].got == r->hyp[i].n)
			return true;
	return false;
}

static unsigned int rec_missing(const struct rec *r)
{
	unsigned int i, best = ~0u;

	for (i = 0; i < r->nhyp; i++)
		if (r->hyp[i].n && r->hyp[i].n - r->hyp[i].got < best)
			best = r->hyp[i].n - r->hyp[i].got;
	return best == ~0u ? 0 : best;
}

/*
 * Record a checked call: its plaintext, the keys of its connection, and
 * the packets it is cut in for each segment size it may have had.
 */
static void rec_add(uint16_t port, const struct send_desc *d,
		    const struct conn_model *m, const int *gso, int ngso,
		    bool partial)
{
	struct pkt pk[UDP_MAX_SEGMENTS];
	struct rec *r = malloc(sizeof(*r) + d->len);
	const char *why;
	unsigned int i, n;

	if (!r)
		return;
	memset(r, 0, sizeof(*r));
	r->port = port;
	r->partial = partial;
	r->gso_opt = !d->gso_cmsg;
	r->cid_len = d->anc.conn_id_length;
	memcpy(r->cid, d->buf + 1, r->cid_len);
	memcpy(r->keys, m->keys, sizeof(r->keys));
	r->split = m->split;
	r->len = d->len;
	memcpy(r->buf, d->buf, d->len);
	for (i = 0; i < (unsigned int)ngso; i++) {
		struct hyp *h = &r->hyp[r->nhyp];

		n = plan_call(d->buf, d->len, gso[i], &d->anc, 0, pk, &why);
		if (!n)
			continue;
		h->gso = gso[i];
		h->n = n;
		h->pk = malloc(n * sizeof(*pk));
		h->seen = calloc(n, 1);
		if (!h->pk || !h->seen) {
			free(h->pk);
			free(h->seen);
			continue;
		}
		memcpy(h->pk, pk, n * sizeof(*pk));
		r->nhyp++;
		if (!r->wire)
			r->wire = d->len + n * QUIC_TAG_LEN;
	}
	if (!r->nhyp) {
		free(r);
		return;
	}
	if (!partial)
		__atomic_add_fetch(&backlog, r->wire, __ATOMIC_RELAXED);
	pthread_mutex_lock(&recs_lock);
	r->next = recs[port];
	recs[port] = r;
	pthread_mutex_unlock(&recs_lock);
}

/* Unlink @r from its port's list (recs_lock held) and account for it. */
static void rec_drop(struct rec **pp, struct rec *r)
{
	*pp = r->next;
	if (!r->partial)
		__atomic_sub_fetch(&backlog, r->wire, __ATOMIC_RELAXED);
	rec_free(r);
}

/* Interesting fields of a mismatch, for the report */
static void note_mismatch(const char *what, uint16_t port, size_t len,
			  const struct rec *r, const struct pkt *p)
{
	__atomic_add_fetch(&tot.mismatch, 1, __ATOMIC_RELAXED);
	if (__atomic_load_n(&tot.mismatch, __ATOMIC_RELAXED) > REPORT_MAX)
		return;
	if (r && p)
		fprintf(stderr,
			"quic_fuzz: wire mismatch: %s: %zu-byte datagram from port %u, packet number %llu of a %zu-byte call (%s, cid %u bytes, %s)\n",
			what, len, port, (unsigned long long)p->pn, r->len,
			quic_cipher_name(r->keys[0].cipher), r->cid_len,
			r->split ? "key phases" : "one key");
	else
		fprintf(stderr,
			"quic_fuzz: wire mismatch: %s: %zu-byte datagram from port %u\n",
			what, len, port);
}

/*
 * Open datagram @d of @len bytes from @port with the records of the port.
 * Returns true if a record explains it.  Header protection is removed
 * first to find the packet by its number, then quic_unprotect() opens it
 * with the key of that packet's phase and the number the kernel must have
 * used; the result must be the plaintext packet, header included.
 */
static bool rec_match(const uint8_t *d, size_t len, uint16_t port,
		      bool *opt_sized)
{
	static uint8_t out[BUF_LEN];
	struct rec **pp, *r;
	bool found = false;

	pthread_mutex_lock(&recs_lock);
	for (pp = &recs[port]; !found && (r = *pp); pp = &r->next) {
		size_t pn_off = 1 + r->cid_len;

		if (!r->partial && r->gso_opt && !rec_done(r))
			*opt_sized = true;
		uint8_t mask[5], first;
		unsigned int pn_len, i, h, j;
		uint64_t trunc = 0, pn;

		if (len < pn_off + 4 + QUIC_SAMPLE_LEN ||
		    memcmp(d + 1, r->cid, r->cid_len) ||
		    quic_hp_mask(&r->keys[0], d + pn_off + 4, mask))
			continue;
		first = d[0] ^ (mask[0] & 0x1f);
		pn_len = (first & QUIC_HDR_PN_LEN_MASK) + 1;
		for (i = 0; i < pn_len; i++)
			trunc = trunc << 8 | (d[pn_off + i] ^ mask[1 + i]);
		for (h = 0; !found && h < r->nhyp; h++) {
			struct hyp *hy = &r->hyp[h];

			for (j = 0; !found && j < hy->n; j++) {
				const struct pkt *p = &hy->pk[j];
				uint64_t low = pn_len == 4 ? 0xffffffffULL :
					       (1ULL << (8 * pn_len)) - 1;

				if (hy->seen[j] || p->len + QUIC_TAG_LEN != len ||
				    (p->pn & low) != trunc ||
				    ((r->buf[p->off] & QUIC_HDR_PN_LEN_MASK) + 1) !=
				    pn_len)
					continue;
				if (quic_unprotect(rec_keys(r, p), d, len,
						   r->cid_len, p->pn, out,
						   &pn) < 0)
					continue;
				found = true;
				hy->seen[j] = 1;
				hy->got++;
				if (pn != p->pn ||
				    memcmp(out, r->buf + p->off, p->len)) {
					tot.other_bytes++;
					note_mismatch("opens to other bytes than were sent",
						      port, len, r, p);
				} else {
					__atomic_add_fetch(&tot.checked, 1,
							   __ATOMIC_RELAXED);
				}
			}
		}
		if (found && rec_done(r)) {
			rec_drop(pp, r);
			break;
		}
	}
	pthread_mutex_unlock(&recs_lock);
	return found;
}

/*
 * For the report of a datagram no record explains: what each record of
 * its port makes of it, with either key and the call's first number.
 */
static void rec_explain(const uint8_t *d, size_t len, uint16_t port)
{
	static uint8_t out[BUF_LEN];
	const struct rec *r;
	uint64_t pn;
	int k, n = 0;

	pthread_mutex_lock(&recs_lock);
	for (r = recs[port]; r && n < 4; r = r->next, n++) {
		const struct hyp *h = &r->hyp[0];
		unsigned int i;

		fprintf(stderr,
			"quic_fuzz:   record: %zu bytes, cid %u bytes, %s, %s, %u packets from %llu%s; segment sizes%s:",
			r->len, r->cid_len, quic_cipher_name(r->keys[0].cipher),
			r->split ? "key phases" : "one key", h->n,
			(unsigned long long)h->pk[0].pn,
			r->partial ? ", call failed" : "",
			r->gso_opt ? " (UDP_SEGMENT option)" : " (cmsg)");
		for (i = 0; i < r->nhyp; i++)
			fprintf(stderr, " %d (%u packets, %u seen)",
				r->hyp[i].gso, r->hyp[i].n, r->hyp[i].got);
		fprintf(stderr, "\n");
		for (k = 0; k < 2; k++) {
			if (quic_unprotect(&r->keys[k], d, len, r->cid_len,
					   h->pk[0].pn, out, &pn) < 0)
				fprintf(stderr, "quic_fuzz:     key %d: %s\n", k,
					quic_error());
			else
				fprintf(stderr,
					"quic_fuzz:     key %d opens it: packet number %llu\n",
					k, (unsigned long long)pn);
		}
	}
	if (!n)
		fprintf(stderr, "quic_fuzz:   no record for the port\n");
	fprintf(stderr, "quic_fuzz:   datagram starts %02x %02x %02x %02x %02x %02x\n",
		d[0], d[1], d[2], d[3], d[4], d[5]);
	pthread_mutex_unlock(&recs_lock);
}

/* Datagrams of checked calls still in flight when they arrived */
struct deferred {
	struct deferred *next;
	uint16_t port;
	size_t len;
	uint8_t d[];
};

static struct deferred *deferred;

/*
 * A datagram at a checking receiver that no record explains is a
 * mismatch, unless a checked call from its port was still in flight: its
 * record comes when the call returns.  Records are added before inflight[]
 * drops, so a datagram whose port has nothing in flight gets one more try.
 */
static void rx_check(const uint8_t *d, size_t len, uint16_t port,
		     bool again, bool final)
{
	struct deferred *df;
	bool opt_sized = false;

	if (rec_match(d, len, port, &opt_sized))
		return;
	if (!final && __atomic_load_n(&inflight[port], __ATOMIC_SEQ_CST)) {
		df = malloc(sizeof(*df) + len);
		if (df) {
			df->port = port;
			df->len = len;
			memcpy(df->d, d, len);
			df->next = deferred;
			deferred = df;
			tot.deferred += !again;
			return;
		}
	}
	if (!rec_match(d, len, port, &opt_sized)) {
		/*
		 * A call that took its segment size from the UDP_SEGMENT
		 * option and still misses packets is the likely source.
		 */
		tot.unexplained_dgrams++;
		tot.opt_sized += opt_sized;
		garbled[port] = true;
		note_mismatch("no checked call sent it", port, len, NULL, NULL);
		if (__atomic_load_n(&tot.mismatch, __ATOMIC_RELAXED) <= 3)
			rec_explain(d, len, port);
	}
}

static void rx_retry(bool final)
{
	struct deferred *df = deferred, *next;

	deferred = NULL;
	for (; df; df = next) {
		next = df->next;
		rx_check(df->d, df->len, df->port, true, final);
		free(df);
	}
}

static void cid_key(struct worker *w, struct quic_connection_info_key *key)
{
	int c = rnd(w, 0, NCIDS - 1);

	memset(key, 0, sizeof(*key));
	key->conn_id_length = chance(w, 95) ? cid_lens[c] : rnd(w, 0, 255);
	memcpy(key->conn_id + QUIC_CID_MAX - cid_lens[c], cids[c], cid_lens[c]);
	if (chance(w, 5))
		key->conn_id[rnd(w, 0, QUIC_CID_MAX - 1)] ^= 1;
}

/* The followed connection @len bytes at @id name, or -1. */
static int cid_index(const uint8_t *id, size_t len)
{
	int c;

	for (c = 0; c < NCIDS; c++)
		if (cid_lens[c] == len && !memcmp(cids[c], id, len))
			return c;
	return -1;
}

/* Which followed connection an option's key names, as the kernel reads it */
static int key_index(const struct quic_connection_info_key *key)
{
	size_t len = key->conn_id_length;

	if (len > QUIC_MAX_CONNECTION_ID_SIZE)
		return -1;
	return cid_index(key->conn_id + QUIC_MAX_CONNECTION_ID_SIZE - len, len);
}

/* A bound socket, with a port of its own, maybe connected to rxc[]. */
static int sock_new(struct worker *w, int family, struct shadow **shp)
{
	struct shadow *sh = calloc(1, sizeof(*sh));
	int fd = socket(family, SOCK_DGRAM, 0), zero = 0, i, c;

	*shp = NULL;
	if (fd < 0 || !sh) {
		if (fd >= 0)
			close(fd);
		free(sh);
		return -1;
	}
	sh->refs = 1;
	sh->family = family;
	pthread_mutex_init(&sh->opt_lock, NULL);
	pthread_mutex_init(&sh->set_lock, NULL);
	for (c = 0; c < NCIDS; c++)
		pthread_mutex_init(&sh->conn[c].lock, NULL);
	if (family == AF_INET6 && (!w || chance(w, 50)))
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	/*
	 * Every shared socket has the offload: plain UDP ignores even
	 * UDP_QUIC_ENCRYPT when it appends to corked data, so a socket
	 * without it could send the marker in clear, as documented.
	 */
	if (quic_ulp_attach(fd)) {
		i = errno;
		close(fd);
		shadow_put(sh);
		errno = i;
		return -2;
	}
	/*
	 * The receivers tell the sockets apart by source port: each socket
	 * binds one of its own, reused only after PORT_SPAN sockets.
	 */
	for (i = 0; i < 8; i++) {
		unsigned int p = PORT_BASE +
			__atomic_fetch_add(&next_port, 1, __ATOMIC_RELAXED) %
			PORT_SPAN;
		struct sockaddr_in6 a6 = { .sin6_family = AF_INET6,
					   .sin6_port = htons(p) };
		struct sockaddr_in a4 = { .sin_family = AF_INET,
					  .sin_port = htons(p) };
		int ret = family == AF_INET ?
			  bind(fd, (struct sockaddr *)&a4, sizeof(a4)) :
			  bind(fd, (struct sockaddr *)&a6, sizeof(a6));

		if (!ret) {
			sh->port = p;
			break;
		}
	}
	if (w && chance(w, 25)) {
		if (family == AF_INET)
			sh->connected = !connect(fd, (struct sockaddr *)&rxc4,
						 sizeof(rxc4));
		else
			sh->connected = !connect(fd, (struct sockaddr *)
						 (chance(w, 70) ? &rxc6 :
						  &rxc4mapped), sizeof(rxc6));
	}
	*shp = sh;
	return fd;
}

static void op_socket(struct worker *w)
{
	struct shadow *sh;
	int fd = sock_new(w, chance(w, 50) ? AF_INET : AF_INET6, &sh);

	if (fd < 0) {
		if (errno != EMFILE && errno != ENOMEM)
			report(w, OP_SOCKET, errno, fd == -2 ? "UDP_ULP" :
			       "socket");
		return;
	}
	slot_set(rnd(w, 0, NSLOTS - 1), fd, sh);
	close(fd);
}

/* Attach again (EEXIST), or try a mangled name on a fresh socket. */
static int op_attach(struct worker *w, int fd)
{
	char name[40];
	int len, ret, err;

	if (chance(w, 50))
		return quic_ulp_attach(fd);
	fd = socket(chance(w, 50) ? AF_INET : AF_INET6, SOCK_DGRAM, 0);
	if (fd < 0)
		return -1;
	memcpy(name, "quic-crypto", sizeof("quic-crypto"));
	len = rnd(w, 0, sizeof(name));
	if (chance(w, 50))
		name[rnd(w, 0, 11)] = rnd(w, 0, 255);
	else
		quic_rand_bytes(&w->rng, name, sizeof(name));
	ret = setsockopt(fd, SOL_UDP, UDP_ULP, name, len);
	err = errno;
	close(fd);
	errno = err;
	return ret;
}

static socklen_t optlen_mutate(struct worker *w, socklen_t len)
{
	if (chance(w, 95))
		return len;
	return rnd(w, 0, 2 * len);
}

/* Check a modelled option's outcome against the contract. */
static void contract_check(struct worker *w, enum op which, int ret, int err,
			   const char *must_fail, bool explained)
{
	if (ret == 0 && must_fail) {
		if (report_first(&tot.forbidden))
			fprintf(stderr, "quic_fuzz: %s succeeded: %s\n",
				op_names[which], must_fail);
	} else if (ret < 0 && !explained) {
		if (report_first(&tot.unexplained))
			fprintf(stderr, "quic_fuzz: %s: %s, but the model disagrees\n",
				op_names[which], strerror(err));
	}
}

/*
 * Lock the model of the connection an option or a send names, or make it
 * unknown when this call is one of those that race on purpose.  Returns
 * the locked model, or NULL.
 */
static struct conn_model *model_lock(struct worker *w, struct handle *h,
				     int c, int race_percent)
{
	struct conn_model *m;

	if (!h->sh || c < 0)
		return NULL;
	m = &h->sh->conn[c];
	pthread_mutex_lock(&m->lock);
	if (!m->unknown && !chance(w, race_percent))
		return m;
	m->unknown = true;
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

static int op_add_del(struct worker *w, struct handle *h, bool add)
{
	struct {
		struct quic_connection_info ci;
		uint8_t slack[100];
	} u;
	struct conn_model *m, before;
	const char *must_fail;
	socklen_t optlen;
	void *optval;
	int ret, err;

	memset(&u, 0, sizeof(u));
	quic_rand_bytes(&w->rng, &u.ci, sizeof(u.ci));
	u.ci.cipher_type = chance(w, 90) ? rnd(w, TLS_CIPHER_AES_GCM_128,
					       TLS_CIPHER_CHACHA20_POLY1305) :
			   rnd(w, 0, 0xffff);
	cid_key(w, &u.ci.key);
	optval = chance(w, 1) ? NULL : &u;
	optlen = optlen_mutate(w, sizeof(u.ci));

	m = model_lock(w, h, key_index(&u.ci.key), 2);
	if (m)
		before = *m;
	must_fail = h->sh ? conn_must_fail(add, optval, optlen, &u.ci,
					   m ? &before : NULL) : NULL;
	ret = setsockopt(h->fd, SOL_UDP, add ? UDP_QUIC_ADD_TX_CONNECTION :
			 UDP_QUIC_DEL_TX_CONNECTION, optval, optlen);
	err = errno;
	if (h->sh)
		contract_check(w, add ? OP_ADD : OP_DEL, ret, err, must_fail,
			       !m || conn_refusal_explained(err, add, &before));
	if (m) {
		if (!ret && add) {
			m->present = true;
			m->split = false;
			m->have[0] = true;
			m->have[1] = false;
			__atomic_store_n(&m->next_pn, 0, __ATOMIC_RELAXED);
			memset(&m->keys[0], 0, sizeof(m->keys[0]));
			m->keys[0].cipher = u.ci.cipher_type;
			memcpy(m->keys[0].key, u.ci.payload_key,
			       sizeof(u.ci.payload_key));
			memcpy(m->keys[0].iv, u.ci.payload_iv, QUIC_IV_LEN);
			memcpy(m->keys[0].hp, u.ci.header_key,
			       sizeof(u.ci.header_key));
			m->keys[1] = m->keys[0];
		} else if (!ret) {
			m->present = false;
		}
		pthread_mutex_unlock(&m->lock);
	}
	errno = err;
	return ret;
}

static int op_key_phase(struct worker *w, struct handle *h)
{
	struct {
		struct quic_tx_key_phase_info ki;
		uint8_t slack[68];
	} u;
	struct conn_model *m, before;
	const char *must_fail;
	socklen_t optlen;
	void *optval;
	int ret, err, p;

	memset(&u, 0, sizeof(u));
	quic_rand_bytes(&w->rng, &u.ki, sizeof(u.ki));
	cid_key(w, &u.ki.key);
	u.ki.op = chance(w, 90) ? rnd(w, 1, 2) : rnd(w, 0, 255);
	u.ki.phase = chance(w, 90) ? rnd(w, 0, 1) : rnd(w, 0, 255);
	u.ki.reserved = chance(w, 95) ? 0 : rnd(w, 1, 255);
	optval = chance(w, 1) ? NULL : &u;
	optlen = optlen_mutate(w, sizeof(u.ki));

	m = model_lock(w, h, key_index(&u.ki.key), 2);
	if (m)
		before = *m;
	must_fail = h->sh ? phase_must_fail(optval, optlen, &u.ki,
					    m ? &before : NULL) : NULL;
	ret = setsockopt(h->fd, SOL_UDP, UDP_QUIC_SET_TX_KEY_PHASE, optval,
			 optlen);
	err = errno;
	if (h->sh)
		contract_check(w, OP_KEY_PHASE, ret, err, must_fail,
			       !m || phase_refusal_explained(err, &u.ki,
							     &before));
	if (m && !ret) {
		p = u.ki.phase & 1;
		if (u.ki.op == QUIC_KEY_PHASE_RETIRE) {
			m->have[p] = false;
		} else {
			/* The first INSTALL moves the ADD key to the other phase. */
			if (!m->split) {
				m->keys[!p] = m->keys[0];
				m->have[!p] = true;
				m->split = true;
			}
			m->keys[p] = m->keys[!p];
			memcpy(m->keys[p].key, u.ki.payload_key,
			       sizeof(u.ki.payload_key));
			memcpy(m->keys[p].iv, u.ki.payload_iv, QUIC_IV_LEN);
			m->have[p] = true;
		}
	}
	if (m)
		pthread_mutex_unlock(&m->lock);
	errno = err;
	return ret;
}

/* One message: data in @buf, iovecs, control, destination, flags. */
struct fmsg {
	struct msghdr msg;
	struct iovec iov[MAX_IOV];
	union {
		struct cmsghdr align;
		uint8_t buf[256];
	} ctl;
	struct sockaddr_storage addr;
	struct send_desc d;
	int c;			/* the connection ID the packets carry */
};

static size_t cmsg_put(struct fmsg *m, size_t off, int level, int type,
		       const void *data, size_t dlen, int len_delta)
{
	struct cmsghdr *cm = (struct cmsghdr *)(m->ctl.buf + off);

	if (off + CMSG_SPACE(dlen) > sizeof(m->ctl.buf))
		return off;
	memset(cm, 0, CMSG_SPACE(dlen));
	cm->cmsg_level = level;
	cm->cmsg_type = type;
	cm->cmsg_len = CMSG_LEN(dlen) + len_delta;
	memcpy(CMSG_DATA(cm), data, dlen);
	return off + CMSG_SPACE(dlen);
}

/*
 * Build a batch of short-header packets (or something close to one) in
 * @buf of at most @cap bytes and the message around it, for connection ID
 * @c, numbered from @pn.  A @clean batch has none of the mutations, so that
 * enough calls succeed for the receivers to check.  The destination is set
 * apart (set_dest()).
 */
static void build_msg(struct worker *w, struct fmsg *m, uint8_t *buf,
		      size_t cap, int *opt_gso, bool zc, int c, uint64_t pn,
		      bool clean)
{
	struct send_desc *d = &m->d;
	int n, i, nio, val, level, type;
	struct quic_tx_ancillary_data anc;
	size_t len = 0, stride, last, off = 0, hlen, j, cut, prev;
	unsigned int pn_len = rnd(w, 1, 4);
	bool quic = clean || chance(w, 90), gso = chance(w, 40), plain_ok;
	bool forget;
	size_t min_len = QUIC_MIN_PKT(cid_lens[c]);
	uint8_t hdr[1 + QUIC_CID_MAX + 4];
	uint16_t gso_size = 0;

	m->c = c;
	memset(&anc, 0, sizeof(anc));
	anc.next_pkt_num = pn;
	anc.conn_id_length = clean || chance(w, 95) ? cid_lens[c] :
			     rnd(w, 0, 30);
	if (clean)
		;
	else if (chance(w, 8))
		anc.flags = QUIC_BYPASS_ENCRYPTION;
	else if (chance(w, 3))
		anc.flags = rnd(w, 0, 255);
	/* Short headers without the cmsg: the plain path must refuse them. */
	forget = !clean && quic && chance(w, 3);

	/*
	 * Plaintext may leave only with bypass, or as plain UDP. A zero-copy
	 * buffer gets no marker: the offload refuses zero-copy, and a plain
	 * zero-copy send still sees later changes to its pages.  Plain UDP
	 * appending to corked data sends a short header as documented.
	 */
	plain_ok = !quic || anc.flags == QUIC_BYPASS_ENCRYPTION || zc || forget;

	stride = chance(w, 70) ? rnd(w, 1, 1500) : rnd(w, 1, 65600);
	n = gso ? rnd(w, 1, chance(w, 90) ? 40 : UDP_MAX_SEGMENTS + 2) : 1;
	if (stride * n > cap)
		n = cap / stride ? cap / stride : 1;
	if (stride > cap)
		stride = cap;
	last = chance(w, 50) ? stride : rnd(w, 0, stride);
	if (clean) {
		stride = rnd(w, min_len, cap < 1500 ? cap : 1500);
		n = gso ? rnd(w, 1, 40) : 1;
		if (stride * n > cap)
			n = cap / stride;
		last = chance(w, 50) ? stride : rnd(w, min_len, stride);
	}
	for (i = 0; i < n; i++) {
		size_t plen = i == n - 1 ? last : stride;

		hlen = quic_short_hdr(hdr, cids[c], cid_lens[c], pn + i, pn_len,
				      chance(w, 20));
		memcpy(buf + len, hdr, hlen < plen ? hlen : plen);
		for (j = hlen; j < plen; j++)
			buf[len + j] = plain_ok ? 0xbb :
				       marker[(j - hlen) % MARKER_LEN];
		if (!quic && plen)
			buf[len] |= 0x80;	/* plain UDP: long headers */
		len += plen;
	}
	if (!clean && chance(w, 5) && len)	/* a bit flipped anywhere */
		buf[rnd(w, 0, len - 1)] ^= 1 << rnd(w, 0, 6);
	if (gso) {
		gso_size = stride + QUIC_TAG_LEN * quic;
		if (!clean && chance(w, 5))
			gso_size = rnd(w, 0, 40);
	}

	memset(d, 0, sizeof(*d));
	d->anc = anc;
	d->buf = buf;
	d->len = len;
	if (quic && !forget) {
		d->encrypt = true;
		d->copies = !clean && chance(w, 2) ? 2 : 1;
		d->len_delta = !clean && chance(w, 2) ?
			       (int)rnd(w, 0, 40) - 20 : 0;
		for (i = 0; i < d->copies; i++)
			off = cmsg_put(m, off, IPPROTO_UDP, UDP_QUIC_ENCRYPT,
				       &anc, sizeof(anc), d->len_delta);
	}
	if (gso && chance(w, 70)) {
		off = cmsg_put(m, off, SOL_UDP, UDP_SEGMENT, &gso_size,
			       sizeof(gso_size), 0);
		d->gso_cmsg = true;
		d->gso_cmsg_val = gso_size;
	} else if (gso) {
		*opt_gso = gso_size;	/* the caller sets the option */
	}
	if (!clean && chance(w, 4)) {
		val = rnd(w, 0, 300);
		off = cmsg_put(m, off, chance(w, 50) ? SOL_IP : SOL_IPV6,
			       chance(w, 50) ? IP_TTL : IPV6_HOPLIMIT, &val,
			       sizeof(val), 0);
	}
	if (!clean && chance(w, 2)) {
		uint8_t junk[24];

		quic_rand_bytes(&w->rng, junk, sizeof(junk));
		level = rnd(w, 0, 300);
		type = rnd(w, 0, 300);
		/* Junk, but not the two cmsgs whose meaning is modelled */
		if (level == SOL_UDP &&
		    (type == UDP_QUIC_ENCRYPT || type == UDP_SEGMENT))
			type = 0;
		off = cmsg_put(m, off, level, type, junk,
			       rnd(w, 0, sizeof(junk)), 0);
	}
	m->msg.msg_control = off ? m->ctl.buf : NULL;
	m->msg.msg_controllen = off;

	/* Iovecs: one, or the data cut in up to MAX_IOV pieces. */
	nio = chance(w, 70) ? 1 : rnd(w, 1, MAX_IOV);
	for (i = 0, prev = 0; i < nio; i++) {
		cut = i == nio - 1 ? len : rnd(w, prev, len);
		m->iov[i].iov_base = buf + prev;
		m->iov[i].iov_len = cut - prev;
		prev = cut;
	}
	m->msg.msg_iov = m->iov;
	m->msg.msg_iovlen = nio;

	d->flags = 0;
	if (chance(w, 20))
		d->flags |= MSG_DONTWAIT;
	if (!clean && chance(w, 3) && !no_cork)
		d->flags |= MSG_MORE;
	if (zc)
		d->flags |= MSG_ZEROCOPY;
	if (!clean && chance(w, 1))
		d->flags |= MSG_OOB;
	if (chance(w, 2))
		d->flags |= MSG_CONFIRM;
}

/*
 * Destination: a receiver, none, or one UDP refuses.  Checked calls go
 * to the checking receivers rxc[], the others to rx[]; a connected socket
 * is connected to rxc[], so an unchecked call on it always names an
 * address.
 */
static void set_dest(struct worker *w, struct fmsg *m, bool check,
		     bool connected)
{
	const struct sockaddr_in *a4 = check ? &rxc4 : &rx4;
	const struct sockaddr_in6 *a6 = check ? &rxc6 : &rx6;
	const struct sockaddr_in6 *a4m = check ? &rxc4mapped : &rx4mapped;
	int pick = rnd(w, 0, 9);

	memset(&m->addr, 0, sizeof(m->addr));
	if (pick == 0 && !check && connected)
		pick = 3;
	switch (pick) {
	case 0:
		m->msg.msg_name = NULL;
		m->msg.msg_namelen = 0;
		break;
	case 1:
		memcpy(&m->addr, a4m, sizeof(*a4m));
		m->msg.msg_name = &m->addr;
		m->msg.msg_namelen = sizeof(*a4m);
		break;
	case 2:
		memcpy(&m->addr, a4, sizeof(*a4));
		((struct sockaddr_in *)&m->addr)->sin_port = 0;
		m->msg.msg_name = &m->addr;
		m->msg.msg_namelen = rnd(w, !check && connected,
					 sizeof(*a6));
		break;
	default:
		if (chance(w, 50)) {
			memcpy(&m->addr, a4, sizeof(*a4));
			m->msg.msg_namelen = sizeof(*a4);
		} else {
			memcpy(&m->addr, a6, sizeof(*a6));
			m->msg.msg_namelen = sizeof(*a6);
		}
		m->msg.msg_name = &m->addr;
		break;
	}
	m->d.has_addr = m->msg.msg_name && m->msg.msg_namelen;
}

/* The followed connection an encrypting call's first DCID names, or -1 */
static int send_index(const struct send_desc *d)
{
	size_t len = d->anc.conn_id_length;

	if (!d->encrypt || len > QUIC_MAX_CONNECTION_ID_SIZE ||
	    d->len < 1 + len)
		return -1;
	return cid_index(d->buf + 1, len);
}

/*
 * A packet number for connection @c of @sh: mostly the next one the
 * connection may use, so that sends succeed; sometimes anything.
 */
static uint64_t pick_pn(struct worker *w, struct shadow *sh, int c)
{
	uint64_t next = 0;

	if (sh && chance(w, 70)) {
		next = __atomic_load_n(&sh->conn[c].next_pn, __ATOMIC_RELAXED);
		return next + rnd(w, 0, chance(w, 90) ? 2 : 300);
	}
	return chance(w, 90) ? rnd(w, 0, 1 << 20) : quic_rand(&w->rng);
}

/*
 * A connection ID for a send: often one the socket has a key for (a racy
 * look, only a choice), so that enough sends reach the wire.
 */
static int pick_cid(struct worker *w, struct shadow *sh)
{
	int c, n = 0, have[NCIDS];

	if (sh && chance(w, 60))
		for (c = 0; c < NCIDS; c++)
			if (__atomic_load_n(&sh->conn[c].present,
					    __ATOMIC_RELAXED))
				have[n++] = c;
	return n ? have[rnd(w, 0, n - 1)] : (int)rnd(w, 0, NCIDS - 1);
}

static bool errno_unsent(int err)
{
	return errno_in(err, err_unsent);
}

/*
 * Checked: encrypting calls for a followed connection, from a socket the
 * receivers can tell, with a packet number whose decoding stays far from
 * 2^62, while the receivers keep up.
 */
static bool checkable(const struct shadow *sh, const struct send_desc *d)
{
	return sh && sh->port && send_index(d) >= 0 &&
	       d->anc.flags != QUIC_BYPASS_ENCRYPTION &&
	       d->anc.next_pkt_num < (1ULL << 61) &&
	       __atomic_load_n(&backlog, __ATOMIC_RELAXED) < BACKLOG_BYTES;
}

/* A message that was sent: did the contract allow it? */
static void send_verdict(struct worker *w, enum op which, struct shadow *sh,
			 const struct fmsg *fm, const struct conn_model *m,
			 const struct opt_view *v0, const struct opt_view *v1)
{
	const struct sock_opts *o = opt_stable(v0, v1) ? &v1->opt : NULL;
	const char *must_fail;

	if (fm->d.encrypt)
		must_fail = send_must_fail(&fm->d, m, o, sh->family,
					   sh->connected);
	else
		must_fail = plain_must_fail(&fm->d, o, sh->family, sh->may_pend);
	if (must_fail &&
	    __atomic_load_n(&tot.forbidden, __ATOMIC_RELAXED) < REPORT_MAX)
		fprintf(stderr,
			"quic_fuzz: %s of %zu bytes, %s, segment size %d%s, conn_id_length %u, next_pkt_num %llu, flags 0x%x, %s message:\n",
			op_names[which], fm->d.len,
			fm->d.encrypt ? "encrypting" : "plain",
			fm->d.gso_cmsg ? fm->d.gso_cmsg_val : v1->opt.gso,
			fm->d.gso_cmsg ? " (cmsg)" : "",
			fm->d.anc.conn_id_length,
			(unsigned long long)fm->d.anc.next_pkt_num, fm->d.flags,
			m ? "checked" : "unchecked");
	contract_check(w, which, 0, 0, must_fail, true);
}

/*
 * After a checked message (its connection's lock held): raise the model's
 * packet number to the lowest the kernel's can be, and leave the record
 * of what the receivers must see.  @sent: the kernel said it was sent;
 * otherwise @err says whether part of it may have left.
 */
static void checked_done(struct shadow *sh, struct conn_model *m,
			 const struct fmsg *fm, const struct opt_view *v0,
			 const struct opt_view *v1, bool sent, int err,
			 uint64_t *count)
{
	struct pkt pk[UDP_MAX_SEGMENTS];
	uint64_t low = UINT64_MAX;
	int cand[MAX_HYP], ngso = 0, i, n;
	const char *why;

	if ((!sent && errno_unsent(err)) || !m->present)
		return;
	if (fm->d.gso_cmsg)
		cand[ngso++] = fm->d.gso_cmsg_val;
	else
		ngso = gso_candidates(sh, v0, v1, cand);
	for (i = 0; sent && i < ngso; i++) {
		n = plan_call(fm->d.buf, fm->d.len, cand[i], &fm->d.anc, 0, pk,
			      &why);
		if (n && pk[n - 1].pn + 1 < low)
			low = pk[n - 1].pn + 1;
	}
	if (sent && low != UINT64_MAX && low > m->next_pn)
		__atomic_store_n(&m->next_pn, low, __ATOMIC_RELAXED);
	rec_add(sh->port, &fm->d, m, cand, ngso, !sent);
	if (sent)
		__atomic_add_fetch(count, 1, __ATOMIC_RELAXED);
}

static void set_opt_gso(struct handle *h, int gso)
{
	if (gso >= 0 && h->sh)	/* segment size by socket option */
		opt_set(h->sh, h->fd, SOL_UDP, UDP_SEGMENT, gso);
	else if (gso >= 0)
		setsockopt(h->fd, SOL_UDP, UDP_SEGMENT, &gso, sizeof(gso));
}

static int op_send(struct worker *w, struct handle *h)
{
	struct opt_view v0 = { 0 }, v1 = { 0 };
	struct conn_model *m = NULL;
	struct shadow *sh = h->sh;
	int gso = -1, c = pick_cid(w, sh), ret, err;
	bool zc = chance(w, 2);
	struct fmsg m_;
	struct fmsg *fm = &m_;

	memset(fm, 0, sizeof(*fm));
	build_msg(w, fm, zc ? w->zbuf : w->buf, sizeof(w->buf), &gso, zc, c,
		  pick_pn(w, sh, c), chance(w, 40));
	/* A few race with the checked ones, unchecked. */
	if (checkable(sh, &fm->d) && !chance(w, 5))
		m = model_lock(w, h, send_index(&fm->d), 0);
	set_dest(w, fm, m, sh && sh->connected);
	if (sh && (fm->d.flags & MSG_MORE))
		sh->may_pend = true;
	set_opt_gso(h, gso);
	if (sh)
		opt_view(sh, &v0);
	if (m)
		__atomic_add_fetch(&inflight[sh->port], 1, __ATOMIC_SEQ_CST);

	ret = sendmsg(h->fd, &fm->msg, fm->d.flags | MSG_NOSIGNAL);
	err = errno;

	if (sh) {
		opt_view(sh, &v1);
		if (ret >= 0)
			send_verdict(w, OP_SEND, sh, fm, m, &v0, &v1);
		if (ret >= 0 && (size_t)ret != fm->d.len &&
		    report_first(&tot.forbidden))
			fprintf(stderr, "quic_fuzz: sendmsg returned %d for %zu bytes\n",
				ret, fm->d.len);
	}
	if (m) {
		checked_done(sh, m, fm, &v0, &v1, ret >= 0, err, &tot.tracked);
		__atomic_sub_fetch(&inflight[sh->port], 1, __ATOMIC_SEQ_CST);
		pthread_mutex_unlock(&m->lock);
	}
	errno = err;
	return ret;
}

/*
 * sendmmsg(): often one connection for the whole batch, numbered on from
 * message to message, so that its messages can be checked under its lock;
 * the flags of the call apply to every message.
 */
static int op_sendmmsg(struct worker *w, struct handle *h)
{
	static __thread struct fmsg m[MAX_MMSG];
	struct opt_view v0 = { 0 }, v1 = { 0 };
	struct mmsghdr mm[MAX_MMSG];
	struct shadow *sh = h->sh;
	struct conn_model *cm = NULL;
	int i, n = rnd(w, 1, MAX_MMSG), flags = 0, gso = -1, ret, err, ci = -1;
	int c = pick_cid(w, sh);
	bool zc = chance(w, 2), one = chance(w, 60), check[MAX_MMSG];
	uint64_t pn = pick_pn(w, sh, c);

	for (i = 0; i < n; i++) {
		memset(&m[i], 0, sizeof(m[i]));
		if (!one)
			c = rnd(w, 0, NCIDS - 1);
		build_msg(w, &m[i], zc ? w->zbuf2[i] : w->buf2[i],
			  sizeof(w->buf2[i]), &gso, zc, c,
			  one ? pn : pick_pn(w, sh, c), chance(w, 40));
		/* More than the packets of one 2 KiB message */
		pn += 512;
		flags = m[i].d.flags;
	}
	if (one && checkable(sh, &m[0].d) && !chance(w, 5)) {
		ci = send_index(&m[0].d);
		cm = model_lock(w, h, ci, 0);
	}
	for (i = 0; i < n; i++) {
		m[i].d.flags = flags;
		check[i] = cm && checkable(sh, &m[i].d) &&
			   send_index(&m[i].d) == ci;
		set_dest(w, &m[i], check[i], sh && sh->connected);
		mm[i].msg_hdr = m[i].msg;
		mm[i].msg_len = 0;
	}
	if (sh && (flags & MSG_MORE))
		sh->may_pend = true;
	set_opt_gso(h, gso);
	if (sh)
		opt_view(sh, &v0);
	if (cm)
		__atomic_add_fetch(&inflight[sh->port], 1, __ATOMIC_SEQ_CST);

	ret = sendmmsg(h->fd, mm, n, flags | MSG_NOSIGNAL);
	err = errno;

	if (sh)
		opt_view(sh, &v1);
	/*
	 * Messages before @ret were sent, in order; the one at @ret failed
	 * (with @err if it is the first, else with an errno the call does
	 * not return), and the kernel tried none after it.
	 */
	for (i = 0; sh && i < n && i <= (ret < 0 ? 0 : ret); i++) {
		if (i < ret)
			send_verdict(w, OP_SENDMMSG, sh, &m[i],
				     check[i] ? cm : NULL, &v0, &v1);
		if (check[i])
			checked_done(sh, cm, &m[i], &v0, &v1, i < ret,
				     ret < 0 ? err : 0, &tot.tracked_mmsg);
	}
	if (cm) {
		__atomic_sub_fetch(&inflight[sh->port], 1, __ATOMIC_SEQ_CST);
		pthread_mutex_unlock(&cm->lock);
	}
	errno = err;
	return ret < 0 ? -1 : 0;
}

static int op_sockopt(struct worker *w, struct handle *h)
{
	int val;

	switch (rnd(w, 0, 4)) {
	case 0:
		val = chance(w, 30) && !no_cork;
		if (!h->sh)
			return setsockopt(h->fd, SOL_UDP, UDP_CORK, &val,
					  sizeof(val));
		return opt_set(h->sh, h->fd, SOL_UDP, UDP_CORK, val);
	case 1:
		val = chance(w, 50) ? 0 : rnd(w, 0, 2000);
		if (!h->sh)
			return setsockopt(h->fd, SOL_UDP, UDP_SEGMENT, &val,
					  sizeof(val));
		return opt_set(h->sh, h->fd, SOL_UDP, UDP_SEGMENT, val);
	case 2:
		val = 1;
		if (!h->sh)
			return setsockopt(h->fd, SOL_SOCKET, SO_ZEROCOPY, &val,
					  sizeof(val));
		return opt_set(h->sh, h->fd, SOL_SOCKET, SO_ZEROCOPY, val);
	case 3:
		val = rnd(w, 0, 1);
		return setsockopt(h->fd, SOL_UDP, UDP_GRO, &val, sizeof(val));
	}
	val = rnd(w, 1, 255);
	return setsockopt(h->fd, SOL_IP, IP_TTL, &val, sizeof(val));
}

/* The offload's options are write-only: nothing may come back. */
static int op_getsockopt(struct worker *w, int fd)
{
	static const int opts[] = {
		UDP_QUIC_ADD_TX_CONNECTION, UDP_QUIC_DEL_TX_CONNECTION,
		UDP_QUIC_SET_TX_KEY_PHASE,
	};
	uint8_t buf[256];
	socklen_t len = rnd(w, 0, sizeof(buf)), len0 = len;
	int opt = opts[rnd(w, 0, 2)], ret;
	size_t i;

	memset(buf, 0x5a, sizeof(buf));
	ret = getsockopt(fd, SOL_UDP, opt, buf, &len);
	if (ret == 0 || len != len0) {
		w->readback++;
		fprintf(stderr, "quic_fuzz: getsockopt(%d) returned %d, optlen %u\n",
			opt, ret, len);
	}
	for (i = 0; i < sizeof(buf); i++) {
		if (buf[i] != 0x5a) {
			w->readback++;
			fprintf(stderr, "quic_fuzz: getsockopt(%d) wrote byte %zu\n",
				opt, i);
			break;
		}
	}
	if (ret < 0 && errno != ENOPROTOOPT && errno != EBADF &&
	    errno != ENOTSOCK)
		report(w, OP_GETSOCKOPT, errno, "getsockopt");
	return ret;
}

static enum op pick_op(struct worker *w)
{
	int r = rnd(w, 0, 99), op;

	for (op = 0; op < OP_NR - 1; op++) {
		r -= op_weight[op];
		if (r < 0)
			break;
	}
	return op;
}

/*
 * Without CAP_NET_ADMIN an unknown UDP_ULP name does not run modprobe,
 * which would dominate the run time.  Capabilities are per thread.
 */
static void drop_net_admin(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &hdr, data))
		return;
	data[CAP_TO_INDEX(CAP_NET_ADMIN)].effective &=
		~CAP_TO_MASK(CAP_NET_ADMIN);
	syscall(SYS_capset, &hdr, data);
}

/* The time limit ends the run once the minimum of calls is made. */
static bool out_of_time(void)
{
	time_t now = time(NULL);

	if (hard_deadline && now > hard_deadline)
		return true;
	return deadline && now > deadline &&
	       __atomic_load_n(&calls_started, __ATOMIC_RELAXED) >= min_calls;
}

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	struct handle h;
	enum op op;
	int ret, err;
	const int *allowed;
	uint64_t n;

	drop_net_admin();
	while ((n = __atomic_fetch_add(&calls_started, 1, __ATOMIC_RELAXED)) <
	       max_calls) {
		if (n && n % 100000 == 0)
			fprintf(stderr, "quic_fuzz: %llu calls, %lds\n",
				(unsigned long long)n,
				(long)(time(NULL) - start_time));
		if ((w->calls & 15) == 0 && out_of_time())
			break;
		op = pick_op(w);
		errno = 0;
		allowed = err_sockopt;
		if (op != OP_SOCKET && op != OP_CLOSE)
			acquire(w, &h);
		switch (op) {
		case OP_SOCKET:
			op_socket(w);
			ret = 0;
			break;
		case OP_ATTACH:
			ret = op_attach(w, h.fd);
			break;
		case OP_ADD:
		case OP_DEL:
			ret = op_add_del(w, &h, op == OP_ADD);
			break;
		case OP_KEY_PHASE:
			ret = op_key_phase(w, &h);
			break;
		case OP_SEND:
			ret = op_send(w, &h);
			allowed = err_send;
			break;
		case OP_SENDMMSG:
			ret = op_sendmmsg(w, &h);
			allowed = err_send;
			break;
		case OP_SOCKOPT:
			ret = op_sockopt(w, &h);
			break;
		case OP_GETSOCKOPT:
			ret = op_getsockopt(w, h.fd);
			allowed = NULL;
			break;
		default:
			/* later calls on the number: ENOTSOCK */
			ret = slot_set(rnd(w, 0, NSLOTS - 1), closed_fd, NULL);
			allowed = err_common;
			break;
		}
		err = errno;
		if (op != OP_SOCKET && op != OP_CLOSE)
			release(&h);
		w->calls++;
		w->per_op[op]++;
		if (ret < 0) {
			w->errors++;
			w->per_op_err[op]++;
			if (allowed && !errno_in(err, allowed))
				report(w, op, err, "not documented");
		}
	}
	return NULL;
}

static void rx_plain(const uint8_t *buf, ssize_t n)
{
	tot.received++;
	if (quic_contains(buf, n, marker, MARKER_LEN)) {
		tot.leaks++;
		fprintf(stderr, "quic_fuzz: plaintext in a %zd-byte datagram\n",
			n);
	}
}

/* One datagram from a checking receiver; false when none was waiting. */
static bool rx_one_checked(int fd, uint8_t *buf, size_t size,
			   uint32_t *ovfl)
{
	union {
		struct cmsghdr align;
		uint8_t b[CMSG_SPACE(sizeof(uint32_t))];
	} ctl;
	struct sockaddr_storage from;
	struct iovec iov = { buf, size };
	struct msghdr msg = {
		.msg_name = &from, .msg_namelen = sizeof(from),
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.b, .msg_controllen = sizeof(ctl.b),
	};
	struct cmsghdr *cm;
	uint16_t port;
	ssize_t n;

	n = recvmsg(fd, &msg, MSG_DONTWAIT);
	if (n < 0)
		return false;
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SO_RXQ_OVFL)
			memcpy(ovfl, CMSG_DATA(cm), sizeof(*ovfl));
	rx_plain(buf, n);
	port = from.ss_family == AF_INET ?
	       ntohs(((struct sockaddr_in *)&from)->sin_port) :
	       ntohs(((struct sockaddr_in6 *)&from)->sin6_port);
	rx_check(buf, n, port, false, false);
	return true;
}

/*
 * Drain the receivers: rx[] for plaintext, rxc[] also against the
 * records.  After the workers stop, wait until nothing came for a while.
 */
static void *rx_fn(void *arg)
{
	struct pollfd pfd[4] = {
		{ .fd = rx[0], .events = POLLIN },
		{ .fd = rx[1], .events = POLLIN },
		{ .fd = rxc[0], .events = POLLIN },
		{ .fd = rxc[1], .events = POLLIN },
	};
	static uint8_t buf[BUF_LEN];
	uint32_t ovfl[2] = { 0, 0 };
	int i, quiet = 0;
	ssize_t n;

	for (;;) {
		if (poll(pfd, 4, 100) > 0)
			quiet = 0;
		else if (__atomic_load_n(&stop_rx, __ATOMIC_ACQUIRE) &&
			 ++quiet > 3)
			break;
		for (i = 0; i < 2; i++)
			while ((n = recv(rx[i], buf, sizeof(buf),
					 MSG_DONTWAIT)) >= 0)
				rx_plain(buf, n);
		for (i = 0; i < 2; i++)
			while (rx_one_checked(rxc[i], buf, sizeof(buf),
					      &ovfl[i]))
				;
		rx_retry(false);
	}
	rx_retry(true);
	tot.ovfl = ovfl[0] + ovfl[1];
	return NULL;
}

static int rx_open(int family, void *addr, socklen_t len, bool check)
{
	int fd = socket(family, SOCK_DGRAM, 0), size = 1 << 22, one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size));
	if (check)
		setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
	if (bind(fd, addr, len) || getsockname(fd, addr, &len))
		return -1;
	return fd;
}

/* Datagrams of successful checked calls that never came. */
static void count_lost(void)
{
	struct rec *r, *next;
	unsigned int p;

	for (p = 0; p < 1 << 16; p++) {
		for (r = recs[p]; r; r = next) {
			next = r->next;
			if (!r->partial && garbled[p])
				tot.lost_garbled += rec_missing(r);
			else if (!r->partial)
				tot.lost += rec_missing(r);
			rec_free(r);
		}
		recs[p] = NULL;
	}
}

static void mapped(struct sockaddr_in6 *a6, const struct sockaddr_in *a4)
{
	a6->sin6_family = AF_INET6;
	a6->sin6_port = a4->sin_port;
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &a6->sin6_addr);
}

int main(int argc, char **argv)
{
	static struct worker w[MAX_THREADS];
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	int threads = 4, seconds = 0, limit = 0, opt, i, j, fd;
	uint64_t state, expected;
	bool lost_ok;
	pthread_t rxt;
	time_t start;

	max_calls = 100000;
	while ((opt = getopt(argc, argv, "n:m:s:t:T:L:C")) != -1) {
		switch (opt) {
		case 'n':
			max_calls = strtoull(optarg, NULL, 0);
			break;
		case 'm':
			min_calls = strtoull(optarg, NULL, 0);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 't':
			threads = atoi(optarg);
			break;
		case 'T':
			seconds = atoi(optarg);
			break;
		case 'L':
			limit = atoi(optarg);
			break;
		case 'C':
			no_cork = true;
			break;
		default:
			fprintf(stderr,
				"usage: %s [-n calls] [-m min-calls] [-s seed] [-t threads] [-T seconds] [-L hard-limit-seconds] [-C]\n",
				argv[0]);
			return 2;
		}
	}
	if (threads < 1 || threads > MAX_THREADS)
		threads = 4;
	printf("quic_fuzz: seed %llu, %d threads, up to %llu calls%s (replay: -s %llu -t 1)\n",
	       (unsigned long long)seed, threads,
	       (unsigned long long)max_calls, seconds ? " or a time limit" : "",
	       (unsigned long long)seed);
	fflush(stdout);

	rx4.sin_family = AF_INET;
	rx4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rxc4 = rx4;
	rx6.sin6_family = AF_INET6;
	rx6.sin6_addr = in6addr_loopback;
	rxc6 = rx6;
	rx[0] = rx_open(AF_INET, &rx4, sizeof(rx4), false);
	rx[1] = rx_open(AF_INET6, &rx6, sizeof(rx6), false);
	rxc[0] = rx_open(AF_INET, &rxc4, sizeof(rxc4), true);
	rxc[1] = rx_open(AF_INET6, &rxc6, sizeof(rxc6), true);
	if (rx[0] < 0 || rx[1] < 0 || rxc[0] < 0 || rxc[1] < 0) {
		perror("quic_fuzz: receivers");
		return 2;
	}
	mapped(&rx4mapped, &rx4);
	mapped(&rxc4mapped, &rxc4);

	state = seed;
	for (i = 0; i < NCIDS; i++)
		quic_rand_bytes(&state, cids[i], QUIC_CID_MAX);
	/* With CAP_NET_ADMIN still: the first attach may load the module. */
	closed_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (closed_fd < 0) {
		perror("quic_fuzz: /dev/null");
		return 2;
	}
	for (i = 0; i < NSLOTS; i++) {
		pthread_mutex_init(&slot_lock[i], NULL);
		fd = sock_new(NULL, i & 1 ? AF_INET6 : AF_INET, &slot_sh[i]);
		if (fd < 0) {
			perror("quic_fuzz: quic-crypto ULP");
			return 2;
		}
		slots[i] = fd;
	}

	start = time(NULL);
	start_time = start;
	if (seconds)
		deadline = start + seconds;
	if (limit)
		hard_deadline = start + limit;
	pthread_create(&rxt, NULL, rx_fn, NULL);
	for (i = 0; i < threads; i++) {
		w[i].rng = seed ^ (0x9e3779b97f4a7c15ULL * (i + 1));
		if (pthread_create(&w[i].thread, NULL, worker_fn, &w[i])) {
			perror("quic_fuzz: pthread_create");
			return 2;
		}
	}
	for (i = 0; i < threads; i++) {
		pthread_join(w[i].thread, NULL);
		pthread_mutex_lock(&tot_lock);
		tot.calls += w[i].calls;
		tot.errors += w[i].errors;
		tot.readback += w[i].readback;
		for (j = 0; j < OP_NR; j++) {
			tot.per_op[j] += w[i].per_op[j];
			tot.per_op_err[j] += w[i].per_op_err[j];
		}
		pthread_mutex_unlock(&tot_lock);
	}
	for (i = 0; i < NSLOTS; i++) {
		slot_set(i, closed_fd, NULL);
		close(slots[i]);
	}
	close(closed_fd);
	__atomic_store_n(&stop_rx, true, __ATOMIC_RELEASE);
	pthread_join(rxt, NULL);
	count_lost();

	for (j = 0; j < OP_NR; j++)
		printf("quic_fuzz: %-10s %10llu calls %10llu errors\n",
		       op_names[j], (unsigned long long)tot.per_op[j],
		       (unsigned long long)tot.per_op_err[j]);
	printf("quic_fuzz: %llu datagrams received, %llu with plaintext, ",
	       (unsigned long long)tot.received, (unsigned long long)tot.leaks);
	printf("%llu undocumented errnos, %llu key read-backs, %lds\n",
	       (unsigned long long)tot.unexpected,
	       (unsigned long long)tot.readback, (long)(time(NULL) - start));
	printf("quic_fuzz: %llu forbidden successes, %llu unexplained refusals\n",
	       (unsigned long long)tot.forbidden,
	       (unsigned long long)tot.unexplained);
	expected = tot.checked + tot.lost;
	lost_ok = tot.lost * 1000 <= expected * LOST_PERMILLE;
	printf("quic_fuzz: %llu checked sendmsg and %llu sendmmsg messages, %llu packets opened and matched, %llu lost (%llu receive-queue drops, at most %d per mille allowed), %llu waited for their call\n",
	       (unsigned long long)tot.tracked,
	       (unsigned long long)tot.tracked_mmsg,
	       (unsigned long long)tot.checked, (unsigned long long)tot.lost,
	       (unsigned long long)tot.ovfl, LOST_PERMILLE,
	       (unsigned long long)tot.deferred);
	printf("quic_fuzz: wire mismatches: %llu datagrams no checked call explains (%llu while a call of their socket sized by the UDP_SEGMENT option missed packets), %llu opened to other bytes; %llu packets missing from sockets that sent those\n",
	       (unsigned long long)tot.unexplained_dgrams,
	       (unsigned long long)tot.opt_sized,
	       (unsigned long long)tot.other_bytes,
	       (unsigned long long)tot.lost_garbled);
	printf("fuzz: %llu calls, %llu errors, %llu wire mismatches\n",
	       (unsigned long long)tot.calls, (unsigned long long)tot.errors,
	       (unsigned long long)tot.mismatch);
	return tot.leaks || tot.unexpected || tot.readback || tot.mismatch ||
	       tot.forbidden || tot.unexplained || !lost_ok ? 1 : 0;
}
