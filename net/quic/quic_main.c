// SPDX-License-Identifier: GPL-2.0
/*
 * QUIC 1-RTT Tx crypto offload: the "quic-crypto" UDP upper layer protocol.
 *
 * Attaching moves the socket to a copy of its UDP proto whose sendmsg,
 * setsockopt and getsockopt come from this module; everything else stays
 * UDP's.  The copy refuses BPF sockmap, whose proto swap would bypass the
 * encryption.  Release puts the UDP proto back and frees every connection.
 */

#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/sockptr.h>
#include <linux/udp.h>
#include <net/sock.h>
#include <net/udp_ulp.h>

#include "quic_device.h"
#include "quic_sock.h"
#include "quic_stats.h"

enum {
	QUIC_PROTO_IPV4,
	QUIC_PROTO_IPV6,
	QUIC_PROTO_NUM,
};

/* Built on first use: IPv6 may come from a module loaded after us. */
static struct quic_proto quic_protos[QUIC_PROTO_NUM];
static DEFINE_MUTEX(quic_protos_lock);

/* The state outlives any call made through the socket; the lock is held. */
static struct quic_sock *quic_sk(struct sock *sk)
{
	return udp_ulp_data(sk);
}

/* Without the lock, as quic_sendmsg(): see quic_tx_conns_rcu(). */
static bool quic_has_conn(struct sock *sk, const struct quic_cid *cid)
{
	struct quic_conn_table *conns;
	bool found;

	rcu_read_lock();
	conns = quic_tx_conns_rcu(sk);
	found = conns && quic_conn_exists(conns, cid);
	rcu_read_unlock();
	return found;
}

static int quic_sockopt_error(struct sock *sk, int err)
{
	quic_stat_error(sock_net(sk), QUIC_STAT_ERR_SOCKOPT);
	return err;
}

/*
 * An option's struct may grow: a longer optlen is accepted if the bytes
 * this kernel does not know are zero, as copy_struct_from_user() does.
 */
static int quic_copy_opt(void *dst, size_t size, sockptr_t optval,
			 unsigned int optlen)
{
	int zeroed;

	if (optlen < size)
		return -EINVAL;
	if (optlen > size) {
		zeroed = check_zeroed_sockptr(optval, size, optlen - size);
		if (zeroed <= 0)
			return zeroed ?: -E2BIG;
	}
	if (copy_from_sockptr(dst, optval, size)) {
		/* What was copied before the fault may be part of a key. */
		memzero_explicit(dst, size);
		return -EFAULT;
	}
	return 0;
}

/* Allocates the transforms before the socket lock; only the insert needs it. */
static int quic_add_tx_connection(struct sock *sk, sockptr_t optval,
				  unsigned int optlen)
{
	struct quic_connection_info info;
	struct quic_conn *conn;
	struct quic_cid cid;
	int err;

	err = quic_copy_opt(&info, sizeof(info), optval, optlen);
	if (err)
		return quic_sockopt_error(sk, err);
	/* Refused in the documented order, before any allocation. */
	err = quic_conn_info_check(&info, &cid);
	if (!err && quic_has_conn(sk, &cid))
		err = -EEXIST;
	if (err) {
		memzero_explicit(&info, sizeof(info));
		return quic_sockopt_error(sk, err);
	}
	conn = quic_conn_create(&info);
	memzero_explicit(&info, sizeof(info));
	if (IS_ERR(conn))
		return quic_sockopt_error(sk, PTR_ERR(conn));

	lock_sock(sk);
	err = quic_conn_insert(&quic_sk(sk)->tx_conns, conn);
	release_sock(sk);
	if (err) {
		/* Never published: no sender can hold it. */
		quic_conn_destroy(conn);
		return quic_sockopt_error(sk, err);
	}

	quic_stat_inc(sock_net(sk), QUIC_STAT_TX_SW);
	quic_stat_inc(sock_net(sk), QUIC_STAT_CURR_TX_SW);
	return 0;
}

static int quic_del_tx_connection(struct sock *sk, sockptr_t optval,
				  unsigned int optlen)
{
	struct quic_connection_info info;
	int err;

	err = quic_copy_opt(&info, sizeof(info), optval, optlen);
	if (!err) {
		lock_sock(sk);
		err = quic_conn_del(&quic_sk(sk)->tx_conns, &info.key);
		release_sock(sk);
	}
	memzero_explicit(&info, sizeof(info));
	if (err)
		return quic_sockopt_error(sk, err);

	quic_stat_dec(sock_net(sk), QUIC_STAT_CURR_TX_SW);
	return 0;
}

static int quic_set_tx_key_phase(struct sock *sk, sockptr_t optval,
				 unsigned int optlen)
{
	struct quic_tx_key_phase_info info;
	enum quic_stat stat;
	int err;

	err = quic_copy_opt(&info, sizeof(info), optval, optlen);
	if (err)
		return quic_sockopt_error(sk, err);

	lock_sock(sk);
	err = quic_conn_set_key_phase(&quic_sk(sk)->tx_conns, &info);
	release_sock(sk);
	stat = info.op == QUIC_KEY_PHASE_INSTALL ? QUIC_STAT_TX_KEY_UPDATE :
						   QUIC_STAT_TX_KEY_RETIRE;
	memzero_explicit(&info, sizeof(info));
	if (err)
		return quic_sockopt_error(sk, err);

	quic_stat_inc(sock_net(sk), stat);
	return 0;
}

static bool quic_is_sockopt(int level, int optname)
{
	return level == SOL_UDP && (optname == UDP_QUIC_ADD_TX_CONNECTION ||
				    optname == UDP_QUIC_DEL_TX_CONNECTION ||
				    optname == UDP_QUIC_SET_TX_KEY_PHASE);
}

/*
 * UDP sets the cork without any lock.  Here corking and uncorking hold
 * the cork lock, as every send that may cork does, so that an encrypting
 * call that found the socket uncorked under it sends its datagrams alone,
 * and the plaintext guard's view of a corked datagram holds for the
 * plain send that checked it.
 */
static int quic_set_cork(struct sock *sk, sockptr_t optval,
			 unsigned int optlen)
{
	struct quic_sock *qsk = quic_sk_sender(sk);
	int val, err;

	if (optlen < sizeof(int))
		return -EINVAL;
	if (copy_from_sockptr(&val, optval, sizeof(val)))
		return -EFAULT;
	optval = KERNEL_SOCKPTR(&val);

	if (mutex_lock_killable(&qsk->cork_lock))
		return -EINTR;
	err = quic_base_proto(sk)->setsockopt(sk, SOL_UDP, UDP_CORK, optval,
					      sizeof(val));
	mutex_unlock(&qsk->cork_lock);
	return err;
}

/* splice() ends its data by pushing what it corked: see quic_set_cork(). */
static void quic_splice_eof(struct socket *sock)
{
	struct sock *sk = sock->sk;
	struct quic_sock *qsk = quic_sk_sender(sk);

	mutex_lock(&qsk->cork_lock);
	quic_base_proto(sk)->splice_eof(sock);
	mutex_unlock(&qsk->cork_lock);
}

static int quic_setsockopt(struct sock *sk, int level, int optname,
			   sockptr_t optval, unsigned int optlen)
{
	if (level == SOL_UDP && optname == UDP_CORK)
		return quic_set_cork(sk, optval, optlen);
	if (level == SOL_UDP && optname == UDP_QUIC_ADD_TX_CONNECTION)
		return quic_add_tx_connection(sk, optval, optlen);
	if (level == SOL_UDP && optname == UDP_QUIC_DEL_TX_CONNECTION)
		return quic_del_tx_connection(sk, optval, optlen);
	if (level == SOL_UDP && optname == UDP_QUIC_SET_TX_KEY_PHASE)
		return quic_set_tx_key_phase(sk, optval, optlen);
	return quic_base_proto(sk)->setsockopt(sk, level, optname, optval,
					       optlen);
}

static int quic_getsockopt(struct sock *sk, int level, int optname,
			   char __user *optval, int __user *optlen)
{
	/* Keys go in only. */
	if (quic_is_sockopt(level, optname))
		return -ENOPROTOOPT;
	return quic_base_proto(sk)->getsockopt(sk, level, optname, optval,
					       optlen);
}

/*
 * The copy for a family is built from the first socket attached.  The ULP
 * core only attaches sockets still on the proto they were created with,
 * so every later socket of the family has the same base.
 */
static struct proto *quic_proto_get(struct sock *sk)
{
	struct quic_proto *qp = &quic_protos[sk->sk_family == AF_INET6 ?
					     QUIC_PROTO_IPV6 : QUIC_PROTO_IPV4];
	struct proto *base = sk->sk_prot;

	/* Pairs with smp_store_release(): a visible base means a full copy. */
	if (smp_load_acquire(&qp->base) == base)
		return &qp->prot;

	mutex_lock(&quic_protos_lock);
	if (!qp->base) {
		qp->prot = *base;
		qp->prot.sendmsg = quic_sendmsg;
		qp->prot.setsockopt = quic_setsockopt;
		qp->prot.getsockopt = quic_getsockopt;
		if (base->splice_eof)
			qp->prot.splice_eof = quic_splice_eof;
#ifdef CONFIG_BPF_SYSCALL
		/* No sockmap: its proto would replace ours. */
		qp->prot.psock_update_sk_prot = NULL;
#endif
		/* Publish the copy only once it is complete. */
		smp_store_release(&qp->base, base);
	}
	mutex_unlock(&quic_protos_lock);
	return qp->base == base ? &qp->prot : NULL;
}

static int quic_ulp_init(struct sock *sk)
{
	struct quic_sock *qsk;
	struct proto *prot;
	int err;

	if (sk->sk_family != AF_INET && sk->sk_family != AF_INET6)
		return -EOPNOTSUPP;
	/* The plaintext guard must see every corked datagram from its start. */
	if (udp_test_bit(CORK, sk) || READ_ONCE(udp_sk(sk)->pending))
		return -EBUSY;
	prot = quic_proto_get(sk);
	if (!prot)
		return -EOPNOTSUPP;

	qsk = kzalloc(sizeof(*qsk), QUIC_GFP_STATE);
	if (!qsk)
		return -ENOMEM;
	err = quic_conn_table_init(&qsk->tx_conns, sk);
	if (err) {
		kfree(qsk);
		return err;
	}
	mutex_init(&qsk->cork_lock);

	udp_ulp_set_data(sk, qsk);
	/*
	 * Lockless senders reach quic_sendmsg() through sk_prot: publish
	 * the state first.  They still cope with not seeing it.
	 */
	smp_wmb();
	sock_replace_proto(sk, prot);
	return 0;
}

static void quic_ulp_release(struct sock *sk)
{
	struct quic_sock *qsk = quic_sk(sk);
	unsigned int removed;

	WRITE_ONCE(sk->sk_prot, quic_base_proto(sk));
	removed = quic_conn_table_destroy(&qsk->tx_conns);
	quic_stat_add(sock_net(sk), QUIC_STAT_CURR_TX_SW, -(s64)removed);
	quic_dev_sock_release(sk);
	quic_tx_sock_release(qsk);
	mutex_destroy(&qsk->cork_lock);
	kfree_rcu(qsk, rcu);
}

static struct udp_ulp_ops quic_ulp_ops = {
	.name		= "quic-crypto",
	.owner		= THIS_MODULE,
	.init		= quic_ulp_init,
	.release	= quic_ulp_release,
#if IS_ENABLED(CONFIG_QUIC_DEVICE)
	.send_skb	= quic_dev_send_skb,
#endif
};

static int __init quic_init(void)
{
	int err;

	err = quic_stats_init();
	if (err)
		return err;
	err = quic_dev_init();
	if (err)
		goto err_stats;
	err = udp_register_ulp(&quic_ulp_ops);
	if (err)
		goto err_dev;
	return 0;

err_dev:
	quic_dev_exit();
err_stats:
	quic_stats_exit();
	return err;
}

static void __exit quic_exit(void)
{
	udp_unregister_ulp(&quic_ulp_ops);
	quic_dev_exit();
	/* Connections of the last sockets may still wait for a grace period. */
	rcu_barrier();
	quic_stats_exit();
}

module_init(quic_init);
module_exit(quic_exit);

MODULE_DESCRIPTION("QUIC 1-RTT Tx crypto offload for UDP sockets");
MODULE_LICENSE("GPL");
MODULE_ALIAS_UDP_ULP("quic-crypto");
