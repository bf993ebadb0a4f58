/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Upper layer protocols stacked on UDP sockets (SOL_UDP, UDP_ULP).
 */
#ifndef _NET_UDP_ULP_H
#define _NET_UDP_ULP_H

#include <linux/compiler.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/rcupdate.h>
#include <linux/sockptr.h>
#include <linux/udp.h>
#include <net/sock.h>

/* Longest name, terminating NUL included */
#define UDP_ULP_NAME_MAX	16

/**
 * struct udp_ulp_ops - an upper layer protocol that UDP sockets can use
 * @list: registry linkage, owned by the UDP ULP core
 * @init: take over @sk. Runs with the socket locked, on a plain UDP socket
 *	(sk->sk_prot is the proto it was created with). It may switch @sk to
 *	a modified copy of that proto with sock_replace_proto(), which also
 *	withdraws zero-copy support; per-socket state must be published with
 *	udp_ulp_set_data() before the new proto is. Returns 0 or a negative
 *	errno; on error @sk must be left as it was found.
 * @release: let go of @sk. Called exactly once, from the socket's ->destroy
 *	(IPv4 and IPv6), with the socket locked and SOCK_DEAD set. It must put
 *	back the proto that @init found and free the per-socket state.
 * @send_skb: optional; sees each datagram of @sk after UDP wrote its header
 *	and before UDP checksums it and hands it to IP, once per skb: a GSO
 *	batch (UDP_SEGMENT) is one call, with its gso_size set. Process
 *	context; the socket is locked only for a corked send. It may rewrite
 *	the payload in place, keeping skb->csum right unless the skb is
 *	CHECKSUM_PARTIAL, and attach metadata, but must not free @skb or change
 *	its length. A negative errno drops the datagram: UDP frees it and the
 *	send fails with that errno.
 * @name: what userspace passes to UDP_ULP
 * @owner: the module providing the ops, pinned while a socket uses them
 */
struct udp_ulp_ops {
	struct list_head	list;
	int			(*init)(struct sock *sk);
	void			(*release)(struct sock *sk);
	int			(*send_skb)(struct sock *sk, struct sk_buff *skb);
	char			name[UDP_ULP_NAME_MAX];
	struct module		*owner;
};

int udp_register_ulp(struct udp_ulp_ops *ops);
void udp_unregister_ulp(struct udp_ulp_ops *ops);
int udp_set_ulp(struct sock *sk, const char *name);
void udp_ulp_release(struct sock *sk);
bool udp_ulp_charge_memcg(struct sock *sk, unsigned int nr_pages);
void udp_ulp_uncharge_memcg(struct sock *sk, unsigned int nr_pages);
int udp_ulp_setsockopt(struct sock *sk, sockptr_t optval, unsigned int optlen);
int udp_ulp_getsockopt(struct sock *sk, char __user *optval,
		       int __user *optlen);

/**
 * udp_has_ulp() - tell whether an upper layer protocol owns a socket
 * @sk: UDP socket
 *
 * Return: true once a ULP is attached; it stays so until the socket dies.
 */
static inline bool udp_has_ulp(const struct sock *sk)
{
	return READ_ONCE(udp_sk(sk)->ulp_ops);
}

/**
 * udp_ulp_data() - per-socket state of the attached upper layer protocol
 * @sk: UDP socket
 *
 * Context: RCU read side, or socket lock held.
 * Return: what the ULP stored with udp_ulp_set_data(), or NULL.
 */
static inline void *udp_ulp_data(const struct sock *sk)
{
	return rcu_dereference_check(udp_sk(sk)->ulp_data,
				     lockdep_sock_is_held(sk));
}

/**
 * udp_ulp_set_data() - publish per-socket state of an upper layer protocol
 * @sk: UDP socket, locked
 * @data: the state; readers may see it as soon as this returns
 */
static inline void udp_ulp_set_data(struct sock *sk, void *data)
{
	rcu_assign_pointer(udp_sk(sk)->ulp_data, data);
}

/**
 * udp_ulp_send_skb() - show a datagram to the ULP of its socket
 * @sk: UDP socket sending @skb
 * @skb: the datagram, UDP header written, not yet checksummed
 *
 * Sockets without a ULP, or whose ULP has no @send_skb, pay one load.
 *
 * Return: 0 to send @skb, or a negative errno: the caller frees @skb and
 * fails the send with it.
 */
static inline int udp_ulp_send_skb(struct sock *sk, struct sk_buff *skb)
{
	const struct udp_ulp_ops *ops = READ_ONCE(udp_sk(sk)->ulp_ops);

	if (likely(!ops) || !ops->send_skb)
		return 0;
	return ops->send_skb(sk, skb);
}

/* Lets request_module("udp-ulp-<name>") find the module providing <name> */
#define MODULE_ALIAS_UDP_ULP(name)	MODULE_ALIAS("udp-ulp-" name)

#endif /* _NET_UDP_ULP_H */
