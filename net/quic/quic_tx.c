// SPDX-License-Identifier: GPL-2.0
/*
 * sendmsg() of a UDP socket with QUIC Tx offload.
 *
 * A call carrying the UDP_QUIC_ENCRYPT control message holds one packet, or
 * with UDP GSO a batch of packets laid out every gso_size - 16 bytes.  All
 * packets of a batch belong to one connection.  The packets are first
 * copied from the caller into page fragments; only then is the connection
 * looked up and held, while they are encrypted there in place and
 * header-protected, so a sender never holds a connection across user
 * memory or a sleeping allocation.  UDP then splices the fragments into
 * its skb.  Any invalid packet fails the whole call before UDP sees it, so
 * a refused call sends nothing.
 */

#include <crypto/scatterwalk.h>
#include <linux/highmem.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/socket.h>
#include <linux/udp.h>
#include <linux/uio.h>
#include <net/ip.h>
#include <net/ip6_route.h>
#include <net/ipv6.h>
#include <net/quic_dev.h>
#include <net/udp_ulp.h>

#include "quic_device.h"
#include "quic_guard.h"
#include "quic_sock.h"
#include "quic_stats.h"
#include "quic_txbuf.h"

/* Longest datagram payload: udp_sendmsg() refuses anything larger. */
#define QUIC_TX_MAX_LEN		U16_MAX
/* Short header: first byte, DCID, then at most 4 bytes of packet number. */
#define QUIC_SHORT_HDR_MAX	(1 + QUIC_MAX_CONNECTION_ID_SIZE + \
				 QUIC_PN_MAX_LEN)

/* What the control messages of one call ask for. */
struct quic_tx_cmsgs {
	struct quic_tx_ancillary_data anc;
	bool offload;		/* UDP_QUIC_ENCRYPT was given */
	bool gso_cmsg;		/* and UDP_SEGMENT */
	bool ip_cmsgs;		/* cmsgs of other levels: UDP routes anew */
	u16 gso_size;
	size_t udp_len;		/* bytes of the cmsgs passed to UDP */
};

/* Shape of a batch of short-header packets. */
struct quic_tx_batch {
	struct quic_cid dcid;
	size_t len;		/* plaintext */
	size_t wire_len;	/* ciphertext, tags included */
	unsigned int stride;	/* plaintext bytes of each packet but the last */
	unsigned int head;	/* header length of the first, if read early */
};

/* An AEAD request and the scatterlist of the packet it works on. */
struct quic_tx_slot {
	struct quic_crypto_req crypto;
	struct scatterlist *sg;
	struct scatterlist ffwd[2];	/* for a packet behind long headers */
};

/* Requests in flight at most for one call of an asynchronous AEAD */
#define QUIC_TX_SLOTS		16

/* What header protection needs of a packet, noted when it is sealed. */
struct quic_tx_hp {
	struct page *page;	/* holding its header and sample, if one does */
	unsigned int page_off;	/* of its short header, in @page */
	u32 hdr_off;		/* of its short header, in the stream */
	u8 pn_off;		/* of its packet number, in the header */
	u8 bytes[QUIC_HP_MASK_SIZE];	/* first byte, packet number */
};

/*
 * Working memory of one call, a single allocation.  One that small calls
 * fit, the size of a single packet's, stays with the socket for its next
 * call, so that an ACK does not pay for an allocation and its wipe.
 */
#define QUIC_TX_WORK_KEPT	2048

/*
 * Below this, UDP copies a call's datagrams into its skb: for one packet,
 * cheaper than taking a reference on its fragment to splice it.
 */
#define QUIC_TX_SPLICE_MIN	4096

struct quic_tx_work {
	struct quic_sock *keeper;	/* socket that keeps it, if kept */
	void *req_inline;	/* room for a request in the area itself */
	unsigned int req_inline_size;
	struct quic_tx_slot slot;	/* the first request, on @sg */
	unsigned int req_size;	/* room for its AEAD request */
	void *req_extra;	/* a larger one, if the keys changed */
	struct quic_tx_slot *pool;	/* more, for an asynchronous AEAD */
	unsigned int pool_len;
	unsigned int busy;	/* slots in flight, in order from @slot */
	struct quic_crypto_batch batch;
	struct quic_tx_hp *hp;	/* one per packet */
	u8 *hp_blocks;		/* their samples, then their masks */
	unsigned int packets;
	struct quic_txbuf buf;
	struct scatterlist *sg;
	unsigned int nents;		/* of @sg, for a whole plain call */
	void *udp_cmsgs;
};

/* Packet numbers of a protected batch. */
struct quic_tx_pns {
	u64 first;
	u64 last;
	u64 prev;		/* for quic_conn_pn_unclaim() */
	unsigned int coalesced;	/* datagrams led by long-header packets */
	size_t passed;		/* bytes of those packets */
	unsigned int async;	/* packets the AEAD completed asynchronously */
};

static bool quic_tx_is_encrypt_cmsg(const struct cmsghdr *cmsg)
{
	return cmsg->cmsg_level == SOL_UDP &&
	       cmsg->cmsg_type == UDP_QUIC_ENCRYPT;
}

/*
 * The ancillary data may grow: a longer cmsg is accepted if the bytes this
 * kernel does not know are zero.
 */
static int quic_tx_take_anc(struct quic_tx_cmsgs *tc,
			    const struct cmsghdr *cmsg)
{
	const u8 *data = CMSG_DATA(cmsg);

	if (tc->offload || cmsg->cmsg_len < CMSG_LEN(sizeof(tc->anc)))
		return -EINVAL;
	if (memchr_inv(data + sizeof(tc->anc), 0,
		       cmsg->cmsg_len - CMSG_LEN(sizeof(tc->anc))))
		return -E2BIG;
	memcpy(&tc->anc, CMSG_DATA(cmsg), sizeof(tc->anc));
	tc->offload = true;

	if (tc->anc.flags & ~QUIC_BYPASS_ENCRYPTION ||
	    tc->anc.conn_id_length > QUIC_MAX_CONNECTION_ID_SIZE)
		return -EINVAL;
	return 0;
}

/*
 * Find UDP_QUIC_ENCRYPT and the segment size UDP will use.  A malformed
 * UDP_SEGMENT is left for UDP to refuse.  Without one, UDP is given the
 * socket option's value as read here: the option may change before UDP
 * reads it, and the datagrams must be cut where the packets and the
 * plaintext guard expect them.
 */
static int quic_tx_parse_cmsgs(struct sock *sk, struct msghdr *msg,
			       struct quic_tx_cmsgs *tc)
{
	struct cmsghdr *cmsg;
	int err;

	tc->offload = false;
	tc->gso_cmsg = false;
	tc->ip_cmsgs = false;
	tc->gso_size = READ_ONCE(udp_sk(sk)->gso_size);
	tc->udp_len = 0;

	for_each_cmsghdr(cmsg, msg) {
		if (!CMSG_OK(msg, cmsg))
			return -EINVAL;
		if (quic_tx_is_encrypt_cmsg(cmsg)) {
			err = quic_tx_take_anc(tc, cmsg);
			if (err)
				return err;
			continue;
		}
		if (cmsg->cmsg_level != SOL_UDP)
			tc->ip_cmsgs = true;
		if (cmsg->cmsg_level == SOL_UDP &&
		    cmsg->cmsg_type == UDP_SEGMENT &&
		    cmsg->cmsg_len == CMSG_LEN(sizeof(u16))) {
			tc->gso_size = *(u16 *)CMSG_DATA(cmsg);
			tc->gso_cmsg = true;
		}
		tc->udp_len += CMSG_ALIGN(cmsg->cmsg_len);
	}
	if (!tc->gso_cmsg)
		tc->udp_len += CMSG_SPACE(sizeof(u16));
	return 0;
}

/*
 * UDP rejects our cmsg type, so it gets a copy of the others only, and
 * the segment size this call was checked with.
 */
static void quic_tx_copy_udp_cmsgs(struct msghdr *msg, u8 *dst,
				   const struct quic_tx_cmsgs *tc)
{
	struct cmsghdr *cmsg;

	for_each_cmsghdr(cmsg, msg) {
		size_t space = CMSG_ALIGN(cmsg->cmsg_len);

		if (quic_tx_is_encrypt_cmsg(cmsg))
			continue;
		memcpy(dst, cmsg, cmsg->cmsg_len);
		memset(dst + cmsg->cmsg_len, 0, space - cmsg->cmsg_len);
		dst += space;
	}
	if (tc->gso_cmsg)
		return;
	memset(dst, 0, CMSG_SPACE(sizeof(u16)));
	cmsg = (struct cmsghdr *)dst;
	cmsg->cmsg_len = CMSG_LEN(sizeof(u16));
	cmsg->cmsg_level = SOL_UDP;
	cmsg->cmsg_type = UDP_SEGMENT;
	memcpy(CMSG_DATA(cmsg), &tc->gso_size, sizeof(u16));
}

static int quic_tx_error(struct sock *sk, int err, enum quic_stat reason)
{
	/* A full send buffer is backpressure, not an error. */
	if (err == -EAGAIN)
		quic_stat_inc(sock_net(sk), QUIC_STAT_TX_SNDBUF_FULL);
	else
		quic_stat_error(sock_net(sk), reason);
	return err;
}

/*
 * A full send buffer, refused before the call's data is read, so that a
 * non-blocking or io_uring retry does not pay for copying and encrypting
 * it again.  This is how UDP's first allocation, sock_alloc_send_pskb(),
 * decides; UDP keeps the last word.
 */
static int quic_tx_sndbuf_full(struct sock *sk, const struct msghdr *msg)
{
	/* UDP reports a socket error or shutdown first. */
	if (!(msg->msg_flags & MSG_DONTWAIT) || msg->msg_flags & MSG_PROBE ||
	    READ_ONCE(sk->sk_err) ||
	    READ_ONCE(sk->sk_shutdown) & SEND_SHUTDOWN ||
	    sk_wmem_alloc_get(sk) < READ_ONCE(sk->sk_sndbuf))
		return 0;
	/* For poll() and SIGIO to report when there is room again. */
	sk_set_bit(SOCKWQ_ASYNC_NOSPACE, sk);
	set_bit(SOCK_NOSPACE, &sk->sk_socket->flags);
	return -EAGAIN;
}

/*
 * The IP version UDP sends the call with: 4 for an IPv4 socket or a
 * v4-mapped peer, 6, or 0 if it cannot be known here (an IPv6 socket
 * sending to ::, which a v4-mapped source makes IPv4 loopback).
 */
static int quic_tx_ip_version(const struct sock *sk, const struct msghdr *msg)
{
	const struct sockaddr_in6 *sin6 = msg->msg_name;
#if IS_ENABLED(CONFIG_IPV6)
	const struct in6_addr *daddr = &sk->sk_v6_daddr;
#endif

	if (sk->sk_family == AF_INET)
		return 4;
#if IS_ENABLED(CONFIG_IPV6)
	if (sin6) {
		if (msg->msg_namelen >= sizeof(sin6->sin6_family) &&
		    sin6->sin6_family == AF_INET)
			return 4;
		if (msg->msg_namelen < SIN6_LEN_RFC2133 ||
		    sin6->sin6_family != AF_INET6)
			return 0;
		daddr = &sin6->sin6_addr;
	}
	if (ipv6_addr_any(daddr))
		return 0;
	return ipv6_addr_v4mapped(daddr) ? 4 : 6;
#else
	return 0;
#endif
}

static bool quic_tx_ignore_df(const struct sock *sk, bool ipv4)
{
#if IS_ENABLED(CONFIG_IPV6)
	if (!ipv4)
		return ip6_sk_ignore_df(sk);
#endif
	return ip_sk_ignore_df(sk);
}

/*
 * The path MTU of a connected socket's cached route, if UDP sends the
 * call on it and it is still valid, as an upper bound of what UDP
 * fragments at (it may use the device's MTU instead, and IPV6_MTU lower
 * it); 0 when there is none.  UDP routes anew for an address, for IP
 * cmsgs (IP_PKTINFO, IP_TOS...) and for MSG_DONTROUTE; it reports its
 * own refusal on the error queue to a socket that asks (IP_RECVERR,
 * IPV6_RECVPATHMTU), so those are left to it.  The cache is only read:
 * UDP revalidates and replaces it itself.
 */
static unsigned int quic_tx_path_mtu(struct sock *sk, const struct msghdr *msg,
				     const struct quic_tx_cmsgs *tc)
{
	struct dst_entry *dst;
	unsigned int mtu = 0;
	u32 cookie = 0;

	if (msg->msg_name || tc->ip_cmsgs || msg->msg_flags & MSG_DONTROUTE ||
	    sock_flag(sk, SOCK_LOCALROUTE) ||
	    READ_ONCE(sk->sk_state) != TCP_ESTABLISHED ||
	    inet_test_bit(RECVERR, sk))
		return 0;
#if IS_ENABLED(CONFIG_IPV6)
	if (sk->sk_family == AF_INET6) {
		if (inet6_test_bit(RECVERR6, sk) ||
		    inet6_sk(sk)->rxopt.bits.rxpmtu)
			return 0;
		cookie = READ_ONCE(inet6_sk(sk)->dst_cookie);
	}
#endif
	rcu_read_lock();
	dst = __sk_dst_get(sk);
	if (dst && dst->obsolete)
		dst = dst->ops->check(dst, cookie);
	if (dst)
		mtu = max(dst_mtu(dst), READ_ONCE(dst->dev->mtu));
	rcu_read_unlock();
	return mtu;
}

/*
 * Refusals UDP makes only once the batch is copied and encrypted (in
 * ip_append_data() and udp_send_skb()), made before the call's data is
 * read, so that a retry does not pay for the work again: over the
 * family's datagram limit; GSO without UDP checksums; and, on a
 * connected socket with a cached route, a GSO segment, or a datagram
 * that must not be fragmented, larger than the path allows.  Only what
 * UDP would certainly refuse, with UDP's errno; UDP keeps the last word
 * on the rest, such as the route of an address given with the call.  A
 * probe is refused by none of these in UDP.
 */
static int quic_tx_fits(struct sock *sk, const struct msghdr *msg,
			size_t wire_len, const struct quic_tx_cmsgs *tc)
{
	int version = quic_tx_ip_version(sk, msg);
	unsigned int hdr = sizeof(struct udphdr) +
			   (version == 4 ? sizeof(struct iphdr) :
					   sizeof(struct ipv6hdr));
	u16 gso_size = tc->gso_size;
	unsigned int mtu;

	if (msg->msg_flags & MSG_PROBE)
		return 0;
	if (wire_len > (version == 4 ? IP_MAX_MTU - hdr :
				       IPV6_MAXPLEN - sizeof(struct udphdr)))
		return -EMSGSIZE;
	if (!version)
		return 0;
	if (gso_size && (version == 4 ? sk->sk_no_check_tx :
					udp_get_no_check6_tx(sk)))
		return -EINVAL;

	mtu = quic_tx_path_mtu(sk, msg, tc);
	if (!mtu)
		return 0;
	if (gso_size)
		return hdr + min_t(size_t, wire_len, gso_size) > mtu ?
		       -EMSGSIZE : 0;
	return !quic_tx_ignore_df(sk, version == 4) && hdr + wire_len > mtu ?
	       -EMSGSIZE : 0;
}

/*
 * Zero-copy would expect completion notifications for pages that the
 * offload copies and never sends.
 */
static bool quic_tx_zerocopy(struct sock *sk, const struct msghdr *msg)
{
	return msg->msg_ubuf ||
	       (msg->msg_flags & MSG_ZEROCOPY && sock_flag(sk, SOCK_ZEROCOPY));
}

/*
 * Each call with UDP_QUIC_ENCRYPT must be whole datagrams: packets cannot
 * be split over calls or merged with corked data.
 */
static bool quic_tx_unsupported(struct sock *sk, const struct msghdr *msg)
{
	return msg->msg_flags & MSG_MORE || udp_test_bit(CORK, sk) ||
	       READ_ONCE(udp_sk(sk)->pending) || quic_tx_zerocopy(sk, msg);
}

/* Split the call into packets and check the sizes UDP and QUIC allow. */
static int quic_tx_plan(struct quic_tx_batch *b, size_t len,
			const struct quic_tx_cmsgs *tc)
{
	unsigned int min_len = 1 + tc->anc.conn_id_length + QUIC_PN_MAX_LEN;
	unsigned int count;
	size_t last;

	if (len > QUIC_TX_MAX_LEN)
		return -EMSGSIZE;
	/* Room for the header and for the header protection sample */
	if (len < min_len)
		return -EINVAL;

	b->stride = len;
	if (tc->gso_size) {
		if (tc->gso_size <= QUIC_TAG_SIZE)
			return -EINVAL;
		b->stride = min_t(size_t, len, tc->gso_size - QUIC_TAG_SIZE);
	}
	count = DIV_ROUND_UP(len, b->stride);
	last = len - (size_t)(count - 1) * b->stride;
	if (last < min_len)
		return -EINVAL;
	if (count > UDP_MAX_SEGMENTS)
		return -EINVAL;

	b->len = len;
	b->wire_len = len + (size_t)count * QUIC_TAG_SIZE;
	if (b->wire_len > QUIC_TX_MAX_LEN)
		return -EMSGSIZE;
	return 0;
}

/*
 * The first packet's DCID selects the connection, and its header length
 * where the copy is placed (quic_txbuf_reserve()).  This early read only
 * picks the keys: each packet is checked again on the copy that is
 * encrypted.
 *
 * Return: 0; 1 if the first datagram starts with long-header packets,
 * so that its short header is found on the copy; or -EFAULT.
 */
static int quic_tx_peek_dcid(const struct msghdr *msg, u8 cid_len,
			     struct quic_tx_batch *b)
{
	struct iov_iter it = msg->msg_iter;
	struct quic_cid *dcid = &b->dcid;
	u8 first;

	memset(dcid, 0, sizeof(*dcid));
	dcid->len = cid_len;
	b->head = 0;
	if (!copy_from_iter_full(&first, sizeof(first), &it))
		return -EFAULT;
	if (first & QUIC_HDR_FORM_LONG)
		return 1;
	if (!copy_from_iter_full(dcid->id, cid_len, &it))
		return -EFAULT;
	b->head = 1 + cid_len + quic_pn_len(first);
	return 0;
}

/*
 * Run the guard over the first @len bytes of @sg, the kernel's copy, a
 * mapping at a time: to @check them (a plain send), or to find the first
 * short-header packet.  Return: where the guard stopped, @len if it did
 * not.
 */
static size_t quic_tx_guard_walk(struct quic_guard *g, struct scatterlist *sg,
				 unsigned int nents, size_t len, bool check)
{
	struct sg_mapping_iter miter;
	size_t off = 0;

	sg_miter_start(&miter, sg, nents, SG_MITER_FROM_SG);
	while (off < len && sg_miter_next(&miter)) {
		size_t chunk = min(miter.length, len - off);
		size_t n;

		if (check)
			n = quic_guard_scan(g, miter.addr, chunk) ? 0 : chunk;
		else
			n = quic_guard_find(g, miter.addr, chunk);
		off += n;
		if (n < chunk)
			break;
	}
	sg_miter_stop(&miter);
	return min(off, len);
}

/*
 * A datagram may start with long-header packets that userspace protected
 * (RFC 9000 12.2, a server's Handshake before its first 1-RTT packet):
 * the offset of the short-header packet behind them, or @len if there is
 * none.
 */
static size_t quic_tx_short_offset(struct scatterlist *sg, unsigned int nents,
				   size_t len)
{
	struct quic_guard g;

	quic_guard_start(&g, 0);
	return quic_tx_guard_walk(&g, sg, nents, len, false);
}

/* The DCID of the first datagram's short header, read on the copy. */
static int quic_tx_copied_dcid(struct quic_tx_work *w,
			       const struct quic_tx_batch *b,
			       struct quic_cid *dcid)
{
	unsigned int len = min_t(size_t, b->len, b->stride);
	int nents = quic_txbuf_next(&w->buf, w->sg, len + QUIC_TAG_SIZE, 0,
				    NULL);
	size_t off;

	quic_txbuf_rewind(&w->buf);
	if (nents < 0)
		return nents;
	off = quic_tx_short_offset(w->sg, nents, len);
	if (len - off < 1 + dcid->len)
		return -EINVAL;
	scatterwalk_map_and_copy(dcid->id, w->sg, off + 1, dcid->len, 0);
	return 0;
}

/* Without the socket lock: see quic_tx_conns_rcu(). */
static struct quic_conn *quic_tx_find_conn(struct sock *sk,
					   const struct quic_cid *dcid)
{
	struct quic_conn_table *conns;
	struct quic_conn *conn;

	rcu_read_lock();
	conns = quic_tx_conns_rcu(sk);
	conn = conns ? quic_conn_get(conns, dcid) : NULL;
	rcu_read_unlock();
	return conn;
}

static unsigned int quic_tx_req_size(struct sock *sk)
{
	struct quic_conn_table *conns;
	unsigned int size;

	rcu_read_lock();
	conns = quic_tx_conns_rcu(sk);
	size = conns ? quic_conn_table_req_size(conns) : 0;
	rcu_read_unlock();
	return size;
}

static size_t quic_tx_layout(size_t *size, size_t align, size_t len)
{
	size_t off = ALIGN(*size, align);

	*size = off + len;
	return off;
}

/*
 * The socket's kept work area if @size fits in one and no other call of
 * the socket has it, else a new one.
 */
static struct quic_tx_work *quic_tx_work_get(struct sock *sk, size_t size)
{
	struct quic_sock *qsk = quic_sk_sender(sk);
	struct quic_tx_work *w;

	if (size > QUIC_TX_WORK_KEPT) {
		w = kmalloc(size, sk->sk_allocation);
		if (w)
			w->keeper = NULL;
		return w;
	}
	w = xchg(&qsk->tx_work, NULL);
	if (w)
		return w;
	/* Charged: it outlives the call. */
	w = kmalloc(QUIC_TX_WORK_KEPT, sk->sk_allocation | __GFP_ACCOUNT);
	if (w)
		w->keeper = qsk;
	return w;
}

/*
 * @packets to protect, each with its header protection sample; 0 for a
 * call that sends the data as given.
 */
static struct quic_tx_work *quic_tx_work_alloc(struct sock *sk,
					       unsigned int req_size,
					       unsigned int packets,
					       size_t wire_len, size_t udp_len)
{
	unsigned int frags = quic_txbuf_max_frags(wire_len);
	size_t size = sizeof(struct quic_tx_work);
	size_t req, bvec, sg, cmsgs, hp, blocks;
	struct quic_tx_work *w;

	req = quic_tx_layout(&size, CRYPTO_MINALIGN, req_size);
	hp = quic_tx_layout(&size, __alignof__(struct quic_tx_hp),
			    packets * sizeof(struct quic_tx_hp));
	/* Aligned, so that no sample crosses a page (kmalloc() aligns). */
	blocks = quic_tx_layout(&size, QUIC_HP_SAMPLE_SIZE,
				packets * QUIC_HP_SAMPLE_SIZE);
	bvec = quic_tx_layout(&size, __alignof__(struct bio_vec),
			      frags * sizeof(struct bio_vec));
	sg = quic_tx_layout(&size, __alignof__(struct scatterlist),
			    frags * sizeof(struct scatterlist));
	cmsgs = quic_tx_layout(&size, __alignof__(struct cmsghdr), udp_len);

	w = quic_tx_work_get(sk, size);
	if (!w)
		return NULL;
	w->req_inline = (u8 *)w + req;
	w->req_inline_size = req_size;
	w->req_size = req_size;
	w->req_extra = NULL;
	w->pool = NULL;
	w->pool_len = 0;
	w->nents = 0;
	/* Calls that encrypt nothing have none. */
	if (req_size)
		quic_crypto_req_init(&w->slot.crypto, w->req_inline);
	quic_crypto_batch_init(&w->batch);
	quic_txbuf_init(&w->buf, (struct bio_vec *)((u8 *)w + bvec), frags);
	w->sg = (struct scatterlist *)((u8 *)w + sg);
	w->slot.sg = w->sg;
	w->udp_cmsgs = udp_len ? (u8 *)w + cmsgs : NULL;
	w->hp = (struct quic_tx_hp *)((u8 *)w + hp);
	w->hp_blocks = (u8 *)w + blocks;
	w->packets = packets;
	return w;
}

static void quic_tx_work_free(struct quic_tx_work *w)
{
	quic_txbuf_release(&w->buf);
	/* The request contexts held per-packet AEAD state. */
	kfree_sensitive(w->pool);
	kfree_sensitive(w->req_extra);
	if (w->keeper) {
		/*
		 * What the keys left: AEAD state, the last nonce (the IV
		 * XORed with a packet number), masks, packet numbers
		 */
		memzero_explicit(w->req_inline, w->req_inline_size);
		memzero_explicit(w->slot.crypto.iv, sizeof(w->slot.crypto.iv));
		memzero_explicit(w->hp, w->packets * sizeof(*w->hp));
		memzero_explicit(w->hp_blocks,
				 w->packets * QUIC_HP_SAMPLE_SIZE);
		if (!cmpxchg(&w->keeper->tx_work, NULL, w))
			return;
	}
	kfree_sensitive(w);
}

/**
 * quic_tx_sock_release() - free what a socket kept for its next call
 * @qsk: state of a socket no call can send on any more
 */
void quic_tx_sock_release(struct quic_sock *qsk)
{
	kfree_sensitive(qsk->tx_work);
	qsk->tx_work = NULL;
}

/*
 * A key update between the allocation and the lookup may have brought an
 * AEAD implementation with a larger request.  Rare enough for an atomic
 * allocation: the connection is held and must not wait for memory.
 */
static int quic_tx_req_fit(struct quic_tx_work *w,
			   const struct quic_crypto_keys *keys)
{
	unsigned int size = quic_crypto_req_size(keys);

	if (size <= w->req_size)
		return 0;
	kfree_sensitive(w->req_extra);
	w->req_extra = kmalloc(size, GFP_ATOMIC | __GFP_NOWARN);
	if (!w->req_extra) {
		w->req_size = 0;
		return -ENOMEM;
	}
	w->req_size = size;
	quic_crypto_req_init(&w->slot.crypto, w->req_extra);
	return 0;
}

/* Copy the batch's packets into the fragments, leaving room for tags. */
static int quic_tx_copy_batch(struct sock *sk, struct msghdr *msg,
			      struct quic_tx_work *w,
			      const struct quic_tx_batch *b,
			      enum quic_stat *reason)
{
	size_t left = b->len;
	int err;

	err = quic_txbuf_reserve(&w->buf, sk, b->wire_len, b->head);
	if (err) {
		*reason = QUIC_STAT_ERR_NOMEM;
		return err;
	}
	while (left) {
		unsigned int len = min_t(size_t, left, b->stride);

		err = quic_txbuf_next(&w->buf, NULL, len + QUIC_TAG_SIZE, len,
				      &msg->msg_iter);
		if (err < 0) {
			*reason = err == -EFAULT ? QUIC_STAT_ERR_FAULT :
						   QUIC_STAT_ERR_NOMEM;
			return err;
		}
		left -= len;
	}
	quic_txbuf_rewind(&w->buf);
	return 0;
}

/*
 * More slots, once the AEAD went asynchronous, for as many of the @left
 * packets still to submit as QUIC_TX_SLOTS allows, each with a request
 * for @keys and a table for a packet of up to @max_len bytes.  Without
 * waiting for memory: the connection is held.  Return: slots added.
 */
static unsigned int quic_tx_pool_alloc(struct quic_tx_work *w,
				       const struct quic_crypto_keys *keys,
				       unsigned int left, unsigned int max_len)
{
	unsigned int n = min(left, QUIC_TX_SLOTS - 1);
	unsigned int ents = quic_txbuf_max_frags(max_len);
	unsigned int req_size = quic_crypto_req_size(keys);
	size_t size = 0, slots, reqs, sgs;
	unsigned int i;
	u8 *mem;

	slots = quic_tx_layout(&size, __alignof__(struct quic_tx_slot),
			       n * sizeof(struct quic_tx_slot));
	reqs = quic_tx_layout(&size, CRYPTO_MINALIGN,
			      n * ALIGN(req_size, CRYPTO_MINALIGN));
	sgs = quic_tx_layout(&size, __alignof__(struct scatterlist),
			     n * ents * sizeof(struct scatterlist));
	mem = kmalloc(size, GFP_ATOMIC | __GFP_NOWARN);
	if (!mem)
		return 0;
	w->pool = (struct quic_tx_slot *)(mem + slots);
	for (i = 0; i < n; i++) {
		quic_crypto_req_init(&w->pool[i].crypto, mem + reqs +
				     i * ALIGN(req_size, CRYPTO_MINALIGN));
		w->pool[i].sg = (struct scatterlist *)(mem + sgs) + i * ents;
	}
	w->pool_len = n;
	return n;
}

/*
 * The slot for the next packet: the first one not in flight.  When all
 * are, and no more can be had, wait for them.
 */
static struct quic_tx_slot *quic_tx_slot_get(struct quic_tx_work *w,
					     const struct quic_crypto_keys *keys,
					     unsigned int left,
					     unsigned int max_len, int *err)
{
	if (w->busy && !w->pool)
		quic_tx_pool_alloc(w, keys, left, max_len);
	if (w->busy && w->busy <= w->pool_len)
		return &w->pool[w->busy - 1];
	if (w->busy) {
		w->busy = 0;
		*err = quic_crypto_batch_wait(&w->batch);
		if (*err)
			return NULL;
	}
	return &w->slot;
}

/*
 * The page holding the first @len bytes of @sg, and their offset in it,
 * if one page does, as nearly always: a header is then read and written
 * there directly, for a fraction of what a walk of the fragments costs.
 */
static struct page *quic_tx_sg_page(struct scatterlist *sg, unsigned int len,
				    unsigned int *off)
{
	*off = offset_in_page(sg->offset);
	if (sg->length < len || *off + len > PAGE_SIZE)
		return NULL;
	return nth_page(sg_page(sg), sg->offset >> PAGE_SHIFT);
}

static void quic_tx_sg_head(struct scatterlist *sg, u8 *to, unsigned int len)
{
	unsigned int off;
	struct page *page = quic_tx_sg_page(sg, len, &off);

	if (page)
		memcpy_from_page(to, page, off, len);
	else
		scatterwalk_map_and_copy(to, sg, 0, len, 0);
}

/* The header of a packet in @sg, behind long-header packets or not. */
static struct scatterlist *quic_tx_short_hdr(struct quic_tx_slot *slot,
					     int nents, unsigned int *len,
					     u8 *hdr, unsigned int min_len,
					     size_t *off)
{
	struct scatterlist *sg = slot->sg;

	*off = 0;
	/* quic_tx_plan() made sure every datagram holds this much. */
	quic_tx_sg_head(sg, hdr, min_len);
	if (!(hdr[0] & QUIC_HDR_FORM_LONG))
		return sg;
	*off = quic_tx_short_offset(sg, nents, *len);
	if (*len - *off < min_len)
		return NULL;
	sg = scatterwalk_ffwd(slot->ffwd, sg, *off);
	quic_tx_sg_head(sg, hdr, min_len);
	*len -= *off;
	return sg;
}

/*
 * Check and encrypt packet @idx of the batch, already in the fragments at
 * stream offset @pos.  Packet numbers only grow: within the call, and
 * from the connection's previous calls.  Header protection waits for the
 * end of the batch, see quic_tx_hp_batch().
 */
static int quic_tx_protect_one(struct quic_tx_work *w, struct quic_conn *conn,
			       const struct quic_crypto_keys *keys,
			       struct quic_tx_slot *slot, unsigned int idx,
			       size_t pos, unsigned int len, u64 *expected,
			       struct quic_tx_pns *pns, enum quic_stat *reason)
{
	unsigned int cid_len = conn->dcid.len;
	unsigned int min_len = 1 + cid_len + QUIC_PN_MAX_LEN;
	unsigned int pn_len, hdr_len;
	struct quic_tx_hp *hp = &w->hp[idx];
	struct scatterlist *sg;
	u8 hdr[QUIC_SHORT_HDR_MAX];
	int nents, err;
	size_t off;
	u64 pn;

	nents = quic_txbuf_next(&w->buf, slot->sg, len + QUIC_TAG_SIZE, 0,
				NULL);
	if (nents < 0) {
		*reason = QUIC_STAT_ERR_NOMEM;
		return nents;
	}

	*reason = QUIC_STAT_ERR_BAD_PACKET;
	sg = quic_tx_short_hdr(slot, nents, &len, hdr, min_len, &off);
	if (!sg || memcmp(hdr + 1, conn->dcid.id, cid_len))
		return -EINVAL;
	if (off) {
		pns->coalesced++;
		pns->passed += off;
	}

	pn_len = quic_pn_len(hdr[0]);
	hdr_len = 1 + cid_len + pn_len;
	/* The rule a device decodes by, so both agree on every packet */
	pn = quic_dev_pn_decode(*expected,
				quic_dev_pn_read(hdr + 1 + cid_len, pn_len),
				pn_len);
	if (pn > QUIC_PN_MAX)
		return -EINVAL;
	/* Checked again when the numbers are claimed, after encryption. */
	if (!idx ? pn < (u64)atomic64_read(&conn->next_pn) : pn < *expected) {
		*reason = QUIC_STAT_ERR_PACKET_NUMBER;
		return -ERANGE;
	}

	err = quic_packet_seal(keys, &slot->crypto, sg, hdr, hdr_len,
			       len - hdr_len, pn, &w->batch);
	if (err == -EINPROGRESS) {
		w->busy++;
		pns->async++;
		err = 0;
	}
	if (err) {
		*reason = err == -ENOKEY ? QUIC_STAT_ERR_NO_KEY :
					   QUIC_STAT_ERR_CRYPTO;
		return err;
	}
	if (!idx)
		pns->first = pn;
	pns->last = pn;
	/* The next packet is expected to follow this one. */
	*expected = pn + 1;

	hp->hdr_off = pos + off;
	hp->pn_off = 1 + cid_len;
	hp->page = quic_tx_sg_page(sg, hp->pn_off + QUIC_PN_MAX_LEN +
				   QUIC_HP_SAMPLE_SIZE, &hp->page_off);
	hp->bytes[0] = hdr[0];
	memcpy(hp->bytes + 1, hdr + hp->pn_off, pn_len);
	return 0;
}

/*
 * Header protection of the @packets of the batch, all encrypted: their
 * samples, one request for all their masks, then their headers.  The
 * packets were checked by quic_tx_protect_one(), so a read or write that
 * misses its packet cannot happen; if it did, the call fails rather than
 * send a header unprotected.
 */
static int quic_tx_hp_batch(struct quic_tx_work *w,
			    const struct quic_crypto_keys *keys,
			    unsigned int packets)
{
	unsigned int i;
	int err = 0;

	for (i = 0; !err && i < packets; i++) {
		const struct quic_tx_hp *hp = &w->hp[i];
		unsigned int at = hp->pn_off + QUIC_PN_MAX_LEN;
		u8 *sample = w->hp_blocks + i * QUIC_HP_SAMPLE_SIZE;

		if (hp->page)
			memcpy_from_page(sample, hp->page, hp->page_off + at,
					 QUIC_HP_SAMPLE_SIZE);
		else
			err = quic_txbuf_read(&w->buf, hp->hdr_off + at, sample,
					      QUIC_HP_SAMPLE_SIZE);
	}
	if (!err)
		err = quic_hp_masks(keys, w->hp_blocks, packets);

	for (i = 0; !err && i < packets; i++) {
		struct quic_tx_hp *hp = &w->hp[i];
		unsigned int pn_len = quic_pn_len(hp->bytes[0]);
		u8 *hdr;

		quic_hp_apply(hp->bytes, w->hp_blocks + i * QUIC_HP_SAMPLE_SIZE);
		if (hp->page) {
			hdr = kmap_local_page(hp->page) + hp->page_off;
			hdr[0] = hp->bytes[0];
			memcpy(hdr + hp->pn_off, hp->bytes + 1, pn_len);
			kunmap_local(hdr);
			continue;
		}
		err = quic_txbuf_write(&w->buf, hp->hdr_off, hp->bytes, 1);
		if (!err)
			err = quic_txbuf_write(&w->buf,
					       hp->hdr_off + hp->pn_off,
					       hp->bytes + 1, pn_len);
	}
	return err;
}

static int quic_tx_protect_batch(struct quic_tx_work *w,
				 struct quic_conn *conn,
				 const struct quic_tx_batch *b, u64 expected,
				 struct quic_tx_pns *pns,
				 enum quic_stat *reason)
{
	struct quic_conn_keys *keys = quic_conn_keys_get(conn);
	unsigned int packets = DIV_ROUND_UP(b->len, b->stride);
	struct quic_tx_slot *slot;
	size_t left = b->len;
	unsigned int i;
	int err, done;

	pns->coalesced = 0;
	pns->passed = 0;
	pns->async = 0;
	w->busy = 0;
	err = quic_tx_req_fit(w, &keys->tx);
	if (err)
		*reason = QUIC_STAT_ERR_NOMEM;

	for (i = 0; !err && left; i++) {
		unsigned int len = min_t(size_t, left, b->stride);

		*reason = QUIC_STAT_ERR_CRYPTO;
		slot = quic_tx_slot_get(w, &keys->tx, packets - i,
					b->stride + QUIC_TAG_SIZE, &err);
		if (!slot)
			break;
		err = quic_tx_protect_one(w, conn, &keys->tx, slot, i,
					  b->len - left + i * QUIC_TAG_SIZE,
					  len, &expected, pns, reason);
		left -= len;
	}
	/* Requests in flight own their memory and the keys until done. */
	done = w->busy ? quic_crypto_batch_wait(&w->batch) : 0;
	if (!err && done) {
		err = done;
		*reason = QUIC_STAT_ERR_CRYPTO;
	}
	if (!err) {
		err = quic_tx_hp_batch(w, &keys->tx, packets);
		if (err)
			*reason = QUIC_STAT_ERR_CRYPTO;
	}
	quic_conn_keys_put(keys);
	if (err)
		return err;

	err = quic_conn_pn_claim(conn, pns->first, pns->last, &pns->prev);
	if (err)
		*reason = QUIC_STAT_ERR_PACKET_NUMBER;
	return err;
}

#if IS_ENABLED(CONFIG_QUIC_DEVICE)
/* Whether @keys have a key for the packet whose first byte is @first */
static bool quic_tx_key_usable(const struct quic_crypto_keys *keys, u8 first)
{
	if (!keys->phased)
		return keys->aead[0];
	return keys->aead[!!(first & QUIC_HDR_KEY_PHASE)];
}

/*
 * Check packet @idx of a batch for a device as quic_tx_protect_one()
 * does before it seals, and zero its tag room: a device never sees what
 * an earlier user left in the fragments. Return: 0, a negative errno as
 * the software path would fail the call with, or 1 if the device cannot
 * number the packet (a gap since the previous one).
 */
static int quic_tx_check_one(struct quic_tx_work *w, struct quic_conn *conn,
			     const struct quic_crypto_keys *keys,
			     unsigned int idx, unsigned int len, u64 *expected,
			     struct quic_dev_call *call, enum quic_stat *reason)
{
	static const u8 zero_tag[QUIC_TAG_SIZE];
	unsigned int cid_len = conn->dcid.len;
	u8 hdr[QUIC_SHORT_HDR_MAX];
	unsigned int pn_len;
	u32 truncated;
	int nents;
	u64 pn;

	nents = quic_txbuf_next(&w->buf, w->sg, len + QUIC_TAG_SIZE, 0, NULL);
	if (nents < 0) {
		*reason = QUIC_STAT_ERR_NOMEM;
		return nents;
	}
	*reason = QUIC_STAT_ERR_BAD_PACKET;
	quic_tx_sg_head(w->sg, hdr, 1 + cid_len + QUIC_PN_MAX_LEN);
	if (hdr[0] & QUIC_HDR_FORM_LONG || memcmp(hdr + 1, conn->dcid.id, cid_len))
		return -EINVAL;

	pn_len = quic_pn_len(hdr[0]);
	truncated = quic_dev_pn_read(hdr + 1 + cid_len, pn_len);
	pn = quic_dev_pn_decode(*expected, truncated, pn_len);
	if (pn > QUIC_PN_MAX)
		return -EINVAL;
	if (!idx ? pn < (u64)atomic64_read(&conn->next_pn) : pn < *expected) {
		*reason = QUIC_STAT_ERR_PACKET_NUMBER;
		return -ERANGE;
	}
	if (!quic_tx_key_usable(keys, hdr[0])) {
		*reason = QUIC_STAT_ERR_NO_KEY;
		return -ENOKEY;
	}
	if (!idx)
		call->base_pn = pn;
	else if (pn != *expected ||
		 quic_dev_pn_decode(call->base_pn, truncated, pn_len) != pn)
		return 1;
	call->phases |= BIT(!!(hdr[0] & QUIC_HDR_KEY_PHASE));
	scatterwalk_map_and_copy((void *)zero_tag, w->sg, len, QUIC_TAG_SIZE,
				 1);
	*expected = pn + 1;
	return 0;
}

/*
 * A call for the device that holds the connection's keys: its packets
 * are checked and numbered as on the software path, not sealed. Return:
 * 0, a negative errno, or 1 for a call to seal in software (no device,
 * packets behind long headers, a packet number gap, fragments that UDP
 * copies), whose fragments are then as they were.
 */
static int quic_tx_device_batch(struct quic_tx_work *w, struct quic_conn *conn,
				const struct quic_tx_batch *b, int coalesced,
				u64 expected, struct quic_tx_pns *pns,
				struct quic_dev_call *call,
				enum quic_stat *reason)
{
	struct quic_conn_keys *keys;
	size_t left = b->len;
	unsigned int i;
	int err = 0;

	if (coalesced || !quic_txbuf_spliceable(&w->buf) ||
	    !quic_dev_call_wanted(conn, call))
		return 1;

	memset(pns, 0, sizeof(*pns));
	call->phases = 0;
	keys = quic_conn_keys_get(conn);
	for (i = 0; !err && left; i++) {
		unsigned int len = min_t(size_t, left, b->stride);

		err = quic_tx_check_one(w, conn, &keys->tx, i, len, &expected,
					call, reason);
		left -= len;
	}
	memcpy(call->key_id, keys->key_id, sizeof(call->key_id));
	quic_conn_keys_put(keys);
	if (err) {
		quic_txbuf_rewind(&w->buf);
		call->device = false;
		return err;
	}

	call->packets = i;
	pns->first = call->base_pn;
	pns->last = expected - 1;
	err = quic_conn_pn_claim(conn, pns->first, pns->last, &pns->prev);
	if (err)
		*reason = QUIC_STAT_ERR_PACKET_NUMBER;
	return err;
}
#else
static int quic_tx_device_batch(struct quic_tx_work *w, struct quic_conn *conn,
				const struct quic_tx_batch *b, int coalesced,
				u64 expected, struct quic_tx_pns *pns,
				struct quic_dev_call *call,
				enum quic_stat *reason)
{
	return 1;
}
#endif

/*
 * What UDP sends for the call: the caller's address and other cmsgs, and
 * the kernel's copy of the data, whose fragments are never written again.
 * UDP splices them into its skb if @splice and they are not too many, or
 * copies them.
 */
static void quic_tx_wire_init(struct msghdr *wire, const struct msghdr *msg,
			      struct quic_tx_work *w, size_t wire_len,
			      size_t udp_len, bool splice)
{
	*wire = (struct msghdr) {
		.msg_name	= msg->msg_name,
		.msg_namelen	= msg->msg_namelen,
		.msg_control	= w->udp_cmsgs,
		.msg_controllen	= udp_len,
		.msg_flags	= msg->msg_flags & ~(MSG_INTERNAL_SENDMSG_FLAGS |
						     MSG_ZEROCOPY),
	};
	if (splice && quic_txbuf_spliceable(&w->buf))
		wire->msg_flags |= MSG_SPLICE_PAGES | MSG_NO_SHARED_FRAGS;
	quic_txbuf_iter(&w->buf, &wire->msg_iter, wire_len);
}

/* What the UDP hook is to know of the call whose datagram UDP builds */
static void quic_tx_set_call(struct quic_sock *qsk, struct quic_dev_call *call)
{
#if IS_ENABLED(CONFIG_QUIC_DEVICE)
	WRITE_ONCE(qsk->dev_call, call);
#endif
}

/*
 * Hand whole datagrams to UDP, never merged with corked data. @call is
 * the encrypting call, NULL for one that sends its data as given.
 */
static int quic_tx_send_wire(struct sock *sk, const struct msghdr *msg,
			     struct quic_tx_work *w, size_t wire_len,
			     size_t udp_len, struct quic_dev_call *call,
			     enum quic_stat *reason)
{
	struct quic_sock *qsk = quic_sk_sender(sk);
	struct msghdr wire;
	int err;

	/* The device path seals, or hands over, the spliced fragments. */
	quic_tx_wire_init(&wire, msg, w, wire_len, udp_len,
			  wire_len >= QUIC_TX_SPLICE_MIN ||
			  (call && call->device));
	/*
	 * Every call that corks or uncorks holds the cork lock (plain sends,
	 * UDP_CORK, splice's end of data), so once checked under it the cork
	 * stays off: UDP then sends the datagrams alone and no other call's
	 * data joins them.  Not the socket lock: UDP takes that itself to
	 * run a cgroup's sendmsg program.  No connection is held here.
	 */
	*reason = QUIC_STAT_ERR_SEND;
	if (mutex_lock_killable(&qsk->cork_lock))
		return -EINTR;
	if (udp_test_bit(CORK, sk) || udp_sk(sk)->pending) {
		*reason = QUIC_STAT_ERR_UNSUPPORTED;
		err = -EOPNOTSUPP;
	} else {
		quic_tx_set_call(qsk, call);
		err = quic_base_proto(sk)->sendmsg(sk, &wire, wire_len);
		quic_tx_set_call(qsk, NULL);
	}
	mutex_unlock(&qsk->cork_lock);
	return err;
}

/*
 * Whether UDP refused the whole call before any of it could leave, so
 * that the packet numbers can serve a retry of the same packets.
 */
static bool quic_tx_unsent(int err)
{
	return err == -EAGAIN || err == -EMSGSIZE || err == -EINVAL ||
	       err == -ENOMEM || err == -EFAULT || err == -EOPNOTSUPP ||
	       err == -EINTR;
}

static int quic_tx_encrypt(struct sock *sk, struct msghdr *msg, size_t len,
			   const struct quic_tx_cmsgs *tc)
{
	size_t unread = iov_iter_count(&msg->msg_iter);
	enum quic_stat reason = QUIC_STAT_ERR_BAD_PACKET;
	struct quic_dev_call call = {};
	struct quic_tx_batch b;
	struct quic_tx_work *w;
	struct quic_conn *conn;
	struct quic_tx_pns pns;
	unsigned int req_size;
	int coalesced, err;

	err = quic_tx_plan(&b, len, tc);
	if (err)
		return quic_tx_error(sk, err, reason);
	err = quic_tx_fits(sk, msg, b.wire_len, tc);
	if (!err)
		err = quic_tx_sndbuf_full(sk, msg);
	if (err)
		return quic_tx_error(sk, err, QUIC_STAT_ERR_SEND);
	coalesced = quic_tx_peek_dcid(msg, tc->anc.conn_id_length, &b);
	if (coalesced < 0)
		return quic_tx_error(sk, coalesced, QUIC_STAT_ERR_FAULT);

	/* Spare the copy of a call on a socket that has no connection. */
	req_size = quic_tx_req_size(sk);
	if (!req_size)
		return quic_tx_error(sk, -ENOKEY, QUIC_STAT_ERR_NO_CONNECTION);

	w = quic_tx_work_alloc(sk, req_size, DIV_ROUND_UP(b.len, b.stride),
			       b.wire_len, tc->udp_len);
	if (!w)
		return quic_tx_error(sk, -ENOMEM, QUIC_STAT_ERR_NOMEM);
	quic_tx_copy_udp_cmsgs(msg, w->udp_cmsgs, tc);

	err = quic_tx_copy_batch(sk, msg, w, &b, &reason);
	/* Behind long headers, the DCID is read on the copy. */
	if (!err && coalesced) {
		reason = QUIC_STAT_ERR_BAD_PACKET;
		err = quic_tx_copied_dcid(w, &b, &b.dcid);
	}
	if (err)
		goto out;

	conn = quic_tx_find_conn(sk, &b.dcid);
	if (!conn) {
		err = -ENOKEY;
		reason = QUIC_STAT_ERR_NO_CONNECTION;
		goto out;
	}
	call.task = current;
	call.conn = conn;
	err = quic_tx_device_batch(w, conn, &b, coalesced, tc->anc.next_pkt_num,
				   &pns, &call, &reason);
	if (err > 0)
		err = quic_tx_protect_batch(w, conn, &b, tc->anc.next_pkt_num,
					    &pns, &reason);
	/* Before UDP, which may take the lock a DEL waits under. */
	quic_conn_idle(conn);
	if (!err) {
		err = quic_tx_send_wire(sk, msg, w, b.wire_len, tc->udp_len,
					&call, &reason);
		/* A probe (MSG_PROBE) sends nothing either. */
		if (err < 0 ? quic_tx_unsent(err) : msg->msg_flags & MSG_PROBE)
			quic_conn_pn_unclaim(conn, pns.last, pns.prev);
	}
	quic_conn_put(conn);
out:
	quic_tx_work_free(w);
	if (err < 0) {
		/* Leave the caller's iterator as found, e.g. for a retry. */
		iov_iter_revert(&msg->msg_iter,
				unread - iov_iter_count(&msg->msg_iter));
		return quic_tx_error(sk, err, reason);
	}
	if (msg->msg_flags & MSG_PROBE)
		return b.len;
	quic_stat_add(sock_net(sk), QUIC_STAT_TX_PACKETS,
		      DIV_ROUND_UP(b.len, b.stride));
	quic_stat_add(sock_net(sk), QUIC_STAT_TX_BYTES, b.len - pns.passed);
	if (pns.coalesced)
		quic_stat_add(sock_net(sk), QUIC_STAT_TX_COALESCED,
			      pns.coalesced);
	if (pns.async)
		quic_stat_add(sock_net(sk), QUIC_STAT_TX_ASYNC_CRYPTO,
			      pns.async);
	return b.len;
}

/*
 * Calls that send the data as given are copied first, as the encrypting
 * ones are: the guard then reads the bytes UDP sends, which another
 * thread, vmsplice()d pages or zero-copy can no longer change.
 */
static struct quic_tx_work *quic_tx_copy_call(struct sock *sk,
					      struct msghdr *msg, size_t len,
					      const struct quic_tx_cmsgs *tc,
					      enum quic_stat *reason)
{
	size_t unread = iov_iter_count(&msg->msg_iter);
	struct quic_tx_work *w;
	int err = -ENOMEM;

	*reason = QUIC_STAT_ERR_NOMEM;
	w = quic_tx_work_alloc(sk, 0, 0, len, tc->udp_len);
	if (!w)
		return ERR_PTR(-ENOMEM);
	quic_tx_copy_udp_cmsgs(msg, w->udp_cmsgs, tc);
	if (!len)
		return w;

	if (!quic_txbuf_reserve(&w->buf, sk, len, 0))
		err = quic_txbuf_next(&w->buf, w->sg, len, len,
				      &msg->msg_iter);
	if (err >= 0) {
		w->nents = err;
		return w;
	}
	if (err == -EFAULT)
		*reason = QUIC_STAT_ERR_FAULT;
	quic_tx_work_free(w);
	/* What was read before the fault stays to be read by a retry. */
	iov_iter_revert(&msg->msg_iter, unread - iov_iter_count(&msg->msg_iter));
	return ERR_PTR(err);
}

/*
 * The guard's position in a corked datagram is only true while nothing
 * else adds to the datagram or ends it, so the check and UDP's append
 * happen under the cork lock, which every such call takes.  UDP takes
 * the socket lock itself to cork, so it cannot be that lock.
 *
 * Data that joins a corked datagram is copied, not spliced: splicing
 * counts the datagram's fragments against net.core.max_skb_frags and
 * would fail with EMSGSIZE an append that UDP alone accepts.
 */
static int quic_tx_send_plain(struct sock *sk, const struct msghdr *msg,
			      struct quic_tx_work *w, size_t len,
			      const struct quic_tx_cmsgs *tc)
{
	struct quic_sock *qsk = quic_sk_sender(sk);
	struct quic_guard guard;
	struct msghdr wire;
	bool pending;
	int ret;

	quic_tx_wire_init(&wire, msg, w, len, tc->udp_len,
			  len >= QUIC_TX_SPLICE_MIN);
	if (mutex_lock_killable(&qsk->cork_lock))
		return -EINTR;
	pending = READ_ONCE(udp_sk(sk)->pending);
	if (!pending)
		quic_guard_start(&qsk->guard, tc->gso_size);
	if (pending || msg->msg_flags & MSG_MORE || udp_test_bit(CORK, sk))
		wire.msg_flags &= ~(MSG_SPLICE_PAGES | MSG_NO_SHARED_FRAGS);
	guard = qsk->guard;
	if (quic_tx_guard_walk(&guard, w->sg, w->nents, len, true) < len) {
		ret = quic_tx_error(sk, -EINVAL, QUIC_STAT_ERR_NO_CMSG);
	} else {
		/* UDP's own errors on plain data are not counted here. */
		ret = quic_base_proto(sk)->sendmsg(sk, &wire, len);
		/* A probe adds nothing to a corked datagram. */
		if (ret >= 0 && !(msg->msg_flags & MSG_PROBE))
			qsk->guard = guard;
	}
	mutex_unlock(&qsk->cork_lock);
	return ret;
}

static int quic_tx_plain(struct sock *sk, struct msghdr *msg, size_t len,
			 const struct quic_tx_cmsgs *tc)
{
	size_t unread = iov_iter_count(&msg->msg_iter);
	enum quic_stat reason;
	struct quic_tx_work *w;
	int ret;

	if (quic_tx_zerocopy(sk, msg))
		return quic_tx_error(sk, -EOPNOTSUPP,
				     QUIC_STAT_ERR_UNSUPPORTED);
	/* UDP's own first refusal, before anything is copied */
	if (len > QUIC_TX_MAX_LEN)
		return -EMSGSIZE;

	w = quic_tx_copy_call(sk, msg, len, tc, &reason);
	if (IS_ERR(w))
		return quic_tx_error(sk, PTR_ERR(w), reason);
	ret = quic_tx_send_plain(sk, msg, w, len, tc);
	quic_tx_work_free(w);
	if (ret < 0)
		iov_iter_revert(&msg->msg_iter,
				unread - iov_iter_count(&msg->msg_iter));
	return ret;
}

static int quic_tx_bypass(struct sock *sk, struct msghdr *msg, size_t len,
			  const struct quic_tx_cmsgs *tc)
{
	unsigned int packets = len && tc->gso_size ?
			       DIV_ROUND_UP(len, tc->gso_size) : 1;
	size_t unread = iov_iter_count(&msg->msg_iter);
	enum quic_stat reason;
	struct quic_tx_work *w;
	int ret;

	ret = quic_tx_fits(sk, msg, len, tc);
	if (!ret)
		ret = quic_tx_sndbuf_full(sk, msg);
	if (ret)
		return quic_tx_error(sk, ret, QUIC_STAT_ERR_SEND);
	w = quic_tx_copy_call(sk, msg, len, tc, &reason);
	if (IS_ERR(w))
		return quic_tx_error(sk, PTR_ERR(w), reason);
	ret = quic_tx_send_wire(sk, msg, w, len, tc->udp_len, NULL, &reason);
	quic_tx_work_free(w);
	if (ret < 0) {
		iov_iter_revert(&msg->msg_iter,
				unread - iov_iter_count(&msg->msg_iter));
		return quic_tx_error(sk, ret, reason);
	}
	if (!(msg->msg_flags & MSG_PROBE))
		quic_stat_add(sock_net(sk), QUIC_STAT_TX_BYPASS_PACKETS,
			      packets);
	return ret;
}

/**
 * quic_sendmsg() - sendmsg() of a socket with QUIC Tx offload attached
 * @sk: the socket
 * @msg: the caller's message
 * @len: bytes to send
 *
 * Return: bytes consumed (the plaintext length when encrypting), or a
 * negative errno as listed in Documentation/networking/quic.rst.
 */
int quic_sendmsg(struct sock *sk, struct msghdr *msg, size_t len)
{
	struct quic_tx_cmsgs tc;
	int err;

	err = quic_tx_parse_cmsgs(sk, msg, &tc);
	if (err)
		return quic_tx_error(sk, err, QUIC_STAT_ERR_CMSG);
	if (!tc.offload)
		return quic_tx_plain(sk, msg, len, &tc);
	if (quic_tx_unsupported(sk, msg))
		return quic_tx_error(sk, -EOPNOTSUPP,
				     QUIC_STAT_ERR_UNSUPPORTED);
	if (tc.anc.flags & QUIC_BYPASS_ENCRYPTION)
		return quic_tx_bypass(sk, msg, len, &tc);
	return quic_tx_encrypt(sk, msg, len, &tc);
}
