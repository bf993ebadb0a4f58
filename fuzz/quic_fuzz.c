// SPDX-License-Identifier: GPL-2.0
/*
 * quic_fuzz: random and mutated call sequences against the quic-crypto UDP
 * ULP, from several threads sharing a few sockets.
 *
 *	quic_fuzz [-n CALLS] [-s SEED] [-t THREADS] [-T SECONDS] [-C]
 *
 * -C never corks (no UDP_CORK, no MSG_MORE): corking while connections are
 * removed is what the deadlock found on 2026-11-26 needs (see the report).
 *
 * The calls are socket(), UDP_ULP, UDP_QUIC_ADD/DEL_TX_CONNECTION,
 * UDP_QUIC_SET_TX_KEY_PHASE, sendmsg() and sendmmsg() with random control
 * messages, GSO, flags, lengths, iovecs and destinations over IPv4 and
 * IPv6, connected or not, socket options, getsockopt() and close().  Each
 * thread draws from its own generator seeded from SEED, so a run with one
 * thread replays exactly; with several, the interleaving varies.
 *
 * Besides the kernel's own checks (KASAN, lockdep, kmemleak, read on the
 * console afterwards), the fuzzer checks three properties:
 *  - every payload meant to be encrypted carries a marker; no datagram that
 *    reaches the loopback receivers may contain it;
 *  - every failed call fails with an errno its interface documents;
 *  - getsockopt() of the offload's options never succeeds nor writes.
 *
 * It prints "fuzz: N calls, N errors" and exits 1 if a property failed.
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
#define REPORT_MAX	20	/* unexpected errnos printed in full */

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
 * The descriptor numbers of the shared sockets never change: a new socket
 * and a close replace what a number refers to with dup2(). A thread may
 * still hold a number another thread closed a moment ago, and if that
 * number could be reused by a fresh socket, it could reach a socket before
 * its ULP is attached, where plain UDP sends the marker in clear when it
 * appends to corked data, as documented.
 */
static int slots[NSLOTS];
static int closed_fd;			/* what a closed slot refers to */
static int rx[2];			/* IPv4 and IPv6 receivers */
static struct sockaddr_in rx4;
static struct sockaddr_in6 rx6, rx4mapped;
static const uint8_t cid_lens[NCIDS] = { 0, 1, 4, 8, 16, 20 };
static uint8_t cids[NCIDS][QUIC_CID_MAX];

static uint64_t max_calls;
static time_t deadline;
static uint64_t calls_started;		/* atomic */
static time_t start_time;
static bool no_cork;
static bool stop_rx;

static struct {
	uint64_t calls, errors, leaks, unexpected, readback, received;
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

static uint64_t rnd(struct worker *w, uint64_t lo, uint64_t hi)
{
	return quic_rand_range(&w->rng, lo, hi);
}

static bool chance(struct worker *w, int percent)
{
	return rnd(w, 0, 99) < (uint64_t)percent;
}

static int slot_fd(struct worker *w)
{
	return slots[rnd(w, 0, NSLOTS - 1)];
}

static void report(struct worker *w, enum op which, int err, const char *why)
{
	w->unexpected++;
	if (__atomic_fetch_add(&tot.unexpected, 1, __ATOMIC_RELAXED) <
	    REPORT_MAX)
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

/* Errnos any call on a shared, maybe closed, socket may see. */
static const int err_common[] = { EBADF, ENOTSOCK, ENOMEM, 0 };

static const int err_sockopt[] = {
	EINVAL, EEXIST, ENOENT, ENOPROTOOPT, EFAULT, ENOMEM, EBADF, ENOTSOCK,
	EBUSY, EOPNOTSUPP, E2BIG, EAGAIN, ENOSPC, 0
};

/*
 * sendmsg(): the offload's table, and what UDP and IP answer as for a
 * plain socket (no route, ICMP errors queued on connected sockets...).
 */
static const int err_send[] = {
	EINVAL, ENOKEY, EOPNOTSUPP, EMSGSIZE, EFAULT, ENOMEM, ENOBUFS, EAGAIN,
	ERANGE, E2BIG,
	EBADF, ENOTSOCK, EDESTADDRREQ, ECONNREFUSED, EAFNOSUPPORT,
	ENETUNREACH, EHOSTUNREACH, EPERM, 0
};

static void op_socket(struct worker *w)
{
	int family = chance(w, 50) ? AF_INET : AF_INET6;
	int fd, zero = 0;

	fd = socket(family, SOCK_DGRAM, 0);
	if (fd < 0) {
		report(w, OP_SOCKET, errno, "socket");
		return;
	}
	if (family == AF_INET6 && chance(w, 50))
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	/*
	 * Every shared socket has the offload: plain UDP ignores even
	 * UDP_QUIC_ENCRYPT when it appends to corked data, so a socket
	 * without it could send the marker in clear, as documented.
	 */
	if (quic_ulp_attach(fd)) {
		report(w, OP_SOCKET, errno, "UDP_ULP");
		close(fd);
		return;
	}
	if (chance(w, 25)) {
		if (family == AF_INET)
			connect(fd, (struct sockaddr *)&rx4, sizeof(rx4));
		else
			connect(fd, (struct sockaddr *)(chance(w, 70) ?
					&rx6 : &rx4mapped), sizeof(rx6));
	}
	dup2(fd, slots[rnd(w, 0, NSLOTS - 1)]);
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

static void cid_key(struct worker *w, struct quic_connection_info_key *key)
{
	int c = rnd(w, 0, NCIDS - 1);

	memset(key, 0, sizeof(*key));
	key->conn_id_length = chance(w, 95) ? cid_lens[c] : rnd(w, 0, 255);
	memcpy(key->conn_id + QUIC_CID_MAX - cid_lens[c], cids[c], cid_lens[c]);
	if (chance(w, 5))
		key->conn_id[rnd(w, 0, QUIC_CID_MAX - 1)] ^= 1;
}

static socklen_t optlen_mutate(struct worker *w, socklen_t len)
{
	if (chance(w, 95))
		return len;
	return rnd(w, 0, 2 * len);
}

static int op_add_del(struct worker *w, int fd, bool add)
{
	struct {
		struct quic_connection_info ci;
		uint8_t slack[100];
	} u;

	memset(&u, 0, sizeof(u));
	quic_rand_bytes(&w->rng, &u.ci, sizeof(u.ci));
	u.ci.cipher_type = chance(w, 90) ? rnd(w, TLS_CIPHER_AES_GCM_128,
					       TLS_CIPHER_CHACHA20_POLY1305) :
			   rnd(w, 0, 0xffff);
	cid_key(w, &u.ci.key);
	return setsockopt(fd, SOL_UDP, add ? UDP_QUIC_ADD_TX_CONNECTION :
			  UDP_QUIC_DEL_TX_CONNECTION,
			  chance(w, 1) ? NULL : &u,
			  optlen_mutate(w, sizeof(u.ci)));
}

static int op_key_phase(struct worker *w, int fd)
{
	struct {
		struct quic_tx_key_phase_info ki;
		uint8_t slack[68];
	} u;

	memset(&u, 0, sizeof(u));
	quic_rand_bytes(&w->rng, &u.ki, sizeof(u.ki));
	cid_key(w, &u.ki.key);
	u.ki.op = chance(w, 90) ? rnd(w, 1, 2) : rnd(w, 0, 255);
	u.ki.phase = chance(w, 90) ? rnd(w, 0, 1) : rnd(w, 0, 255);
	u.ki.reserved = chance(w, 95) ? 0 : rnd(w, 1, 255);
	return setsockopt(fd, SOL_UDP, UDP_QUIC_SET_TX_KEY_PHASE,
			  chance(w, 1) ? NULL : &u,
			  optlen_mutate(w, sizeof(u.ki)));
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
 * @buf of at most @cap bytes and the message around it.
 */
static void build_msg(struct worker *w, struct fmsg *m, uint8_t *buf,
		      size_t cap, int *flags, int *opt_gso, bool zc)
{
	int c = rnd(w, 0, NCIDS - 1), n, i, nio;
	struct quic_tx_ancillary_data anc;
	size_t len = 0, stride, last, off = 0, hlen, j, cut, prev;
	unsigned int pn_len = rnd(w, 1, 4);
	bool quic = chance(w, 90), gso = chance(w, 40), plain_ok;
	uint64_t pn = chance(w, 90) ? rnd(w, 0, 1 << 20) : quic_rand(&w->rng);
	uint8_t hdr[1 + QUIC_CID_MAX + 4];
	uint16_t gso_size = 0;
	int val;

	memset(&anc, 0, sizeof(anc));
	anc.next_pkt_num = pn;
	anc.conn_id_length = chance(w, 95) ? cid_lens[c] : rnd(w, 0, 30);
	if (chance(w, 8))
		anc.flags = QUIC_BYPASS_ENCRYPTION;
	else if (chance(w, 3))
		anc.flags = rnd(w, 0, 255);

	/*
	 * Plaintext may leave only with bypass, or as plain UDP. A zero-copy
	 * buffer gets no marker: the offload refuses zero-copy, and a plain
	 * zero-copy send still sees later changes to its pages.
	 */
	plain_ok = !quic || anc.flags == QUIC_BYPASS_ENCRYPTION || zc;

	stride = chance(w, 70) ? rnd(w, 1, 1500) : rnd(w, 1, 65600);
	n = gso ? rnd(w, 1, chance(w, 90) ? 40 : UDP_MAX_SEGMENTS + 2) : 1;
	if (stride * n > cap)
		n = cap / stride ? cap / stride : 1;
	if (stride > cap)
		stride = cap;
	last = chance(w, 50) ? stride : rnd(w, 0, stride);
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
	if (chance(w, 5) && len)	/* a bit flipped anywhere */
		buf[rnd(w, 0, len - 1)] ^= 1 << rnd(w, 0, 6);
	if (gso) {
		gso_size = stride + QUIC_TAG_LEN * quic;
		if (chance(w, 5))
			gso_size = rnd(w, 0, 40);
	}

	if (quic) {
		int copies = chance(w, 2) ? 2 : 1;

		for (i = 0; i < copies; i++)
			off = cmsg_put(m, off, IPPROTO_UDP, UDP_QUIC_ENCRYPT,
				       &anc, sizeof(anc),
				       chance(w, 2) ? (int)rnd(w, 0, 40) - 20 : 0);
	}
	if (gso && chance(w, 70)) {
		off = cmsg_put(m, off, SOL_UDP, UDP_SEGMENT, &gso_size,
			       sizeof(gso_size), 0);
	} else if (gso) {
		*opt_gso = gso_size;	/* the caller sets the option */
	}
	if (chance(w, 4)) {
		val = rnd(w, 0, 300);
		off = cmsg_put(m, off, chance(w, 50) ? SOL_IP : SOL_IPV6,
			       chance(w, 50) ? IP_TTL : IPV6_HOPLIMIT, &val,
			       sizeof(val), 0);
	}
	if (chance(w, 2)) {
		uint8_t junk[24];

		quic_rand_bytes(&w->rng, junk, sizeof(junk));
		off = cmsg_put(m, off, rnd(w, 0, 300), rnd(w, 0, 300), junk,
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

	/* Destination: a receiver, none, or one UDP refuses. */
	memset(&m->addr, 0, sizeof(m->addr));
	switch (rnd(w, 0, 9)) {
	case 0:
		m->msg.msg_name = NULL;
		m->msg.msg_namelen = 0;
		break;
	case 1:
		memcpy(&m->addr, &rx4mapped, sizeof(rx4mapped));
		m->msg.msg_name = &m->addr;
		m->msg.msg_namelen = sizeof(rx4mapped);
		break;
	case 2:
		memcpy(&m->addr, &rx4, sizeof(rx4));
		((struct sockaddr_in *)&m->addr)->sin_port = 0;
		m->msg.msg_name = &m->addr;
		m->msg.msg_namelen = rnd(w, 0, sizeof(rx6));
		break;
	default:
		if (chance(w, 50)) {
			memcpy(&m->addr, &rx4, sizeof(rx4));
			m->msg.msg_namelen = sizeof(rx4);
		} else {
			memcpy(&m->addr, &rx6, sizeof(rx6));
			m->msg.msg_namelen = sizeof(rx6);
		}
		m->msg.msg_name = &m->addr;
		break;
	}

	*flags = 0;
	if (chance(w, 20))
		*flags |= MSG_DONTWAIT;
	if (chance(w, 3) && !no_cork)
		*flags |= MSG_MORE;
	if (zc)
		*flags |= MSG_ZEROCOPY;
	if (chance(w, 1))
		*flags |= MSG_OOB;
	if (chance(w, 2))
		*flags |= MSG_CONFIRM;
}

static int op_send(struct worker *w, int fd)
{
	struct fmsg m;
	int flags, gso = -1;
	bool zc = chance(w, 2);

	memset(&m, 0, sizeof(m));
	build_msg(w, &m, zc ? w->zbuf : w->buf, sizeof(w->buf), &flags, &gso,
		  zc);
	if (gso >= 0)		/* segment size by socket option */
		setsockopt(fd, SOL_UDP, UDP_SEGMENT, &gso, sizeof(gso));
	return sendmsg(fd, &m.msg, flags | MSG_NOSIGNAL);
}

static int op_sendmmsg(struct worker *w, int fd)
{
	static __thread struct fmsg m[MAX_MMSG];
	struct mmsghdr mm[MAX_MMSG];
	int i, n = rnd(w, 1, MAX_MMSG), flags = 0, gso = -1;
	bool zc = chance(w, 2);

	for (i = 0; i < n; i++) {
		memset(&m[i], 0, sizeof(m[i]));
		build_msg(w, &m[i], zc ? w->zbuf2[i] : w->buf2[i],
			  sizeof(w->buf2[i]), &flags, &gso, zc);
		mm[i].msg_hdr = m[i].msg;
		mm[i].msg_len = 0;
	}
	if (gso >= 0)
		setsockopt(fd, SOL_UDP, UDP_SEGMENT, &gso, sizeof(gso));
	return sendmmsg(fd, mm, n, flags | MSG_NOSIGNAL) < 0 ? -1 : 0;
}

static int op_sockopt(struct worker *w, int fd)
{
	int val;

	switch (rnd(w, 0, 4)) {
	case 0:
		val = chance(w, 30) && !no_cork;
		return setsockopt(fd, SOL_UDP, UDP_CORK, &val, sizeof(val));
	case 1:
		val = chance(w, 50) ? 0 : rnd(w, 0, 2000);
		return setsockopt(fd, SOL_UDP, UDP_SEGMENT, &val, sizeof(val));
	case 2:
		val = 1;
		return setsockopt(fd, SOL_SOCKET, SO_ZEROCOPY, &val,
				  sizeof(val));
	case 3:
		val = rnd(w, 0, 1);
		return setsockopt(fd, SOL_UDP, UDP_GRO, &val, sizeof(val));
	}
	val = rnd(w, 1, 255);
	return setsockopt(fd, SOL_IP, IP_TTL, &val, sizeof(val));
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

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	enum op op;
	int fd, ret, err;
	const int *allowed;
	uint64_t n;

	drop_net_admin();
	while ((n = __atomic_fetch_add(&calls_started, 1, __ATOMIC_RELAXED)) <
	       max_calls) {
		if (n && n % 100000 == 0)
			fprintf(stderr, "quic_fuzz: %llu calls, %lds\n",
				(unsigned long long)n,
				(long)(time(NULL) - start_time));
		if (deadline && (w->calls & 255) == 0 && time(NULL) > deadline)
			break;
		op = pick_op(w);
		fd = slot_fd(w);
		errno = 0;
		allowed = err_sockopt;
		switch (op) {
		case OP_SOCKET:
			op_socket(w);
			ret = 0;
			break;
		case OP_ATTACH:
			ret = op_attach(w, fd);
			break;
		case OP_ADD:
		case OP_DEL:
			ret = op_add_del(w, fd, op == OP_ADD);
			break;
		case OP_KEY_PHASE:
			ret = op_key_phase(w, fd);
			break;
		case OP_SEND:
			ret = op_send(w, fd);
			allowed = err_send;
			break;
		case OP_SENDMMSG:
			ret = op_sendmmsg(w, fd);
			allowed = err_send;
			break;
		case OP_SOCKOPT:
			ret = op_sockopt(w, fd);
			break;
		case OP_GETSOCKOPT:
			ret = op_getsockopt(w, fd);
			allowed = NULL;
			break;
		default:
			/* later calls on the number: ENOTSOCK */
			ret = dup2(closed_fd, slots[rnd(w, 0, NSLOTS - 1)]);
			allowed = err_common;
			break;
		}
		err = errno;
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

/* Drain both receivers, looking for plaintext. */
static void *rx_fn(void *arg)
{
	struct pollfd pfd[2] = {
		{ .fd = rx[0], .events = POLLIN },
		{ .fd = rx[1], .events = POLLIN },
	};
	static uint8_t buf[BUF_LEN];
	ssize_t n;
	int i;

	for (;;) {
		if (poll(pfd, 2, 100) <= 0 &&
		    __atomic_load_n(&stop_rx, __ATOMIC_RELAXED))
			break;
		for (i = 0; i < 2; i++) {
			while ((n = recv(rx[i], buf, sizeof(buf),
					 MSG_DONTWAIT)) >= 0) {
				tot.received++;
				if (quic_contains(buf, n, marker, MARKER_LEN)) {
					tot.leaks++;
					fprintf(stderr,
						"quic_fuzz: plaintext in a %zd-byte datagram\n",
						n);
				}
			}
		}
	}
	return NULL;
}

static int rx_open(int family, void *addr, socklen_t len)
{
	int fd = socket(family, SOCK_DGRAM, 0), size = 1 << 22;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size));
	if (bind(fd, addr, len) || getsockname(fd, addr, &len))
		return -1;
	return fd;
}

int main(int argc, char **argv)
{
	static struct worker w[MAX_THREADS];
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	int threads = 4, seconds = 0, opt, i, j;
	uint64_t state;
	pthread_t rxt;
	time_t start;

	max_calls = 100000;
	while ((opt = getopt(argc, argv, "n:s:t:T:C")) != -1) {
		switch (opt) {
		case 'n':
			max_calls = strtoull(optarg, NULL, 0);
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
		case 'C':
			no_cork = true;
			break;
		default:
			fprintf(stderr,
				"usage: %s [-n calls] [-s seed] [-t threads] [-T seconds] [-C]\n",
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
	rx6.sin6_family = AF_INET6;
	rx6.sin6_addr = in6addr_loopback;
	rx[0] = rx_open(AF_INET, &rx4, sizeof(rx4));
	rx[1] = rx_open(AF_INET6, &rx6, sizeof(rx6));
	if (rx[0] < 0 || rx[1] < 0) {
		perror("quic_fuzz: receivers");
		return 2;
	}
	rx4mapped.sin6_family = AF_INET6;
	rx4mapped.sin6_port = rx4.sin_port;
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &rx4mapped.sin6_addr);

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
		slots[i] = socket(i & 1 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
		if (slots[i] < 0 || quic_ulp_attach(slots[i])) {
			perror("quic_fuzz: quic-crypto ULP");
			return 2;
		}
	}

	start = time(NULL);
	start_time = start;
	if (seconds)
		deadline = start + seconds;
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
	for (i = 0; i < NSLOTS; i++)
		close(slots[i]);
	close(closed_fd);
	__atomic_store_n(&stop_rx, true, __ATOMIC_RELAXED);
	pthread_join(rxt, NULL);

	for (j = 0; j < OP_NR; j++)
		printf("quic_fuzz: %-10s %10llu calls %10llu errors\n",
		       op_names[j], (unsigned long long)tot.per_op[j],
		       (unsigned long long)tot.per_op_err[j]);
	printf("quic_fuzz: %llu datagrams received, %llu with plaintext, ",
	       (unsigned long long)tot.received, (unsigned long long)tot.leaks);
	printf("%llu undocumented errnos, %llu key read-backs, %lds\n",
	       (unsigned long long)tot.unexpected,
	       (unsigned long long)tot.readback, (long)(time(NULL) - start));
	printf("fuzz: %llu calls, %llu errors\n",
	       (unsigned long long)tot.calls, (unsigned long long)tot.errors);
	return tot.leaks || tot.unexpected || tot.readback ? 1 : 0;
}
