/* SPDX-License-Identifier: GPL-2.0 */
/*
 * State of a UDP socket with the "quic-crypto" ULP attached.
 */

#ifndef _NET_QUIC_SOCK_H
#define _NET_QUIC_SOCK_H

#include <linux/mutex.h>
#include <linux/rcupdate.h>
#include <net/sock.h>
#include <net/udp_ulp.h>

#include "quic_conn.h"
#include "quic_guard.h"

struct quic_tx_work;
struct quic_dev_call;

/**
 * struct quic_sock - per-socket state, published as the socket's ULP data
 * @tx_conns: connections whose packets this socket encrypts
 * @cork_lock: held by every call that adds to a corked datagram or ends
 *	it through this module (sends without UDP_QUIC_ENCRYPT, UDP_CORK,
 *	splice's end of data), and by encrypting calls from their check of
 *	the cork to the end of their send
 * @guard: where the corked datagram's next packet starts, under @cork_lock
 * @tx_work: working memory of a small call, kept for the next one; taken
 *	and given back with atomic exchanges, NULL while a call uses it
 * @dev_call: the encrypting call whose datagram UDP is building, for
 *	the UDP hook; set and cleared under @cork_lock
 * @rcu: deferred free, as ULP data may be read under RCU
 */
struct quic_sock {
	struct quic_conn_table tx_conns;
	struct mutex cork_lock;	/* orders sends and (un)corking */
	struct quic_guard guard;
	struct quic_tx_work *tx_work;
#if IS_ENABLED(CONFIG_QUIC_DEVICE)
	struct quic_dev_call *dev_call;
#endif
	struct rcu_head rcu;
};

/**
 * struct quic_proto - the proto a socket uses while QUIC offload is attached
 * @prot: copy of @base with the QUIC entry points
 * @base: the UDP proto of the family, restored on release and called for
 *	everything QUIC does not handle itself
 */
struct quic_proto {
	struct proto prot;
	struct proto *base;
};

/* Only valid on a socket whose sk_prot is a struct quic_proto. */
static inline struct proto *quic_base_proto(const struct sock *sk)
{
	return container_of(READ_ONCE(sk->sk_prot), struct quic_proto,
			    prot)->base;
}

/*
 * The socket's connections, for a caller under rcu_read_lock() without the
 * socket lock: NULL while the state is not visible yet, as a lockless
 * caller on a weakly ordered CPU may reach the proto before the state it
 * was published after.
 */
static inline struct quic_conn_table *quic_tx_conns_rcu(const struct sock *sk)
{
	struct quic_sock *qsk = udp_ulp_data(sk);

	return qsk ? &qsk->tx_conns : NULL;
}

/*
 * The state, for a caller that reached the socket through the QUIC proto
 * without the socket lock.  It lives as long as the socket does.
 */
static inline struct quic_sock *quic_sk_sender(const struct sock *sk)
{
	struct quic_sock *qsk;

	/* Pairs with smp_wmb() in quic_ulp_init(): sk_prot was read first. */
	smp_rmb();
	rcu_read_lock();
	qsk = udp_ulp_data(sk);
	rcu_read_unlock();
	return qsk;
}

int quic_sendmsg(struct sock *sk, struct msghdr *msg, size_t len);
void quic_tx_sock_release(struct quic_sock *qsk);

#endif /* _NET_QUIC_SOCK_H */
