// SPDX-License-Identifier: GPL-2.0
/*
 * Upper layer protocols for UDP sockets (SOL_UDP, UDP_ULP). The core finds
 * a ULP by name, pins its module while a socket uses it and has the ULP let
 * go of the socket exactly once, when the socket is destroyed.
 */

#include <linux/capability.h>
#include <linux/kmod.h>
#include <linux/memcontrol.h>
#include <linux/rculist.h>
#include <linux/uaccess.h>
#include <net/udp_ulp.h>

/* Registration is rare and serialised by the lock; lookups only need RCU. */
static DEFINE_SPINLOCK(udp_ulp_lock);
static LIST_HEAD(udp_ulp_list);

static struct udp_ulp_ops *udp_ulp_find(const char *name)
{
	struct udp_ulp_ops *ops;

	list_for_each_entry_rcu(ops, &udp_ulp_list, list,
				lockdep_is_held(&udp_ulp_lock)) {
		if (!strcmp(ops->name, name))
			return ops;
	}
	return NULL;
}

/* On success the caller owns a reference on the module behind the ops. */
static const struct udp_ulp_ops *udp_ulp_get(const char *name)
{
	const struct udp_ulp_ops *ops;

	rcu_read_lock();
	ops = udp_ulp_find(name);
	/* Same policy as TCP ULPs: only an admin may pull in a module. */
	if (!ops && IS_ENABLED(CONFIG_MODULES) && capable(CAP_NET_ADMIN)) {
		rcu_read_unlock();
		request_module("udp-ulp-%s", name);
		rcu_read_lock();
		ops = udp_ulp_find(name);
	}
	/* Fails while the module is going away: treat it as not there. */
	if (ops && !try_module_get(ops->owner))
		ops = NULL;
	rcu_read_unlock();
	return ops;
}

/**
 * udp_register_ulp() - make an upper layer protocol available to UDP_ULP
 * @ops: the protocol, with a unique name and both @init and @release set
 *
 * Context: process context.
 * Return: 0, -EEXIST if the name is taken, -EINVAL if @ops is incomplete.
 */
int udp_register_ulp(struct udp_ulp_ops *ops)
{
	size_t len = strnlen(ops->name, UDP_ULP_NAME_MAX);
	int err = 0;

	if (WARN_ON(!ops->init || !ops->release || !len ||
		    len == UDP_ULP_NAME_MAX))
		return -EINVAL;

	spin_lock(&udp_ulp_lock);
	if (udp_ulp_find(ops->name))
		err = -EEXIST;
	else
		list_add_tail_rcu(&ops->list, &udp_ulp_list);
	spin_unlock(&udp_ulp_lock);
	return err;
}
EXPORT_SYMBOL_GPL(udp_register_ulp);

/**
 * udp_unregister_ulp() - withdraw an upper layer protocol
 * @ops: the protocol, previously registered
 *
 * Sockets using @ops pin its module, so none is left when this is called
 * from the module's exit. Context: process context, may sleep.
 */
void udp_unregister_ulp(struct udp_ulp_ops *ops)
{
	spin_lock(&udp_ulp_lock);
	list_del_rcu(&ops->list);
	spin_unlock(&udp_ulp_lock);
	/* A lookup may still hold @ops without a module reference yet. */
	synchronize_rcu();
}
EXPORT_SYMBOL_GPL(udp_unregister_ulp);

/**
 * udp_set_ulp() - attach an upper layer protocol to a socket
 * @sk: UDP socket, locked by the caller
 * @name: name of the protocol, whose module is loaded if needed and allowed
 *
 * Return: 0, -EEXIST if a ULP is already attached, -EOPNOTSUPP on UDP-Lite,
 * -EBUSY on an encapsulation socket or one whose proto was replaced (BPF
 * sockmap, IPV6_ADDRFORM), -ENOENT if no such ULP, or the ULP's init error.
 */
int udp_set_ulp(struct sock *sk, const char *name)
{
	struct udp_sock *up = udp_sk(sk);
	const struct udp_ulp_ops *ops;
	int err;

	sock_owned_by_me(sk);

	if (up->ulp_ops)
		return -EEXIST;
	/* No ULP knows UDP-Lite's partial checksum coverage. */
	if (sk->sk_protocol != IPPROTO_UDP)
		return -EOPNOTSUPP;
	/* Someone else owns the datapath: one of us would bypass the other */
	if (READ_ONCE(up->encap_type) || sk->sk_prot != sk->sk_prot_creator)
		return -EBUSY;

	ops = udp_ulp_get(name);
	if (!ops)
		return -ENOENT;

	err = ops->init(sk);
	if (err) {
		module_put(ops->owner);
		return err;
	}
	WRITE_ONCE(up->ulp_ops, ops);
	return 0;
}

/**
 * udp_ulp_release() - detach the upper layer protocol of a dying socket
 * @sk: UDP socket being destroyed, not locked by the caller
 *
 * Safe on sockets that never had a ULP, and a second call does nothing.
 */
void udp_ulp_release(struct sock *sk)
{
	struct udp_sock *up = udp_sk(sk);
	const struct udp_ulp_ops *ops = READ_ONCE(up->ulp_ops);

	if (likely(!ops))
		return;

	lock_sock(sk);
	WRITE_ONCE(up->ulp_ops, NULL);
	ops->release(sk);
	RCU_INIT_POINTER(up->ulp_data, NULL);
	release_sock(sk);
	/* Not earlier: release_sock() may still call into the ULP's proto. */
	module_put(ops->owner);
}
EXPORT_SYMBOL_GPL(udp_ulp_release);

/**
 * udp_ulp_charge_memcg() - charge state a ULP holds for a socket
 * @sk: UDP socket
 * @nr_pages: pages to charge
 *
 * For memory the ULP cannot allocate with __GFP_ACCOUNT itself, such as
 * the crypto API's transforms.  The memory cgroup of the socket (that of
 * the task that created it) pays for it as socket memory and refuses it
 * past its limit once reclaim fails, without OOM-killing the caller.  A
 * socket outside any memory cgroup is not charged.
 *
 * Context: process context, may sleep.
 * Return: true if charged, false if the cgroup is at its limit.
 */
bool udp_ulp_charge_memcg(struct sock *sk, unsigned int nr_pages)
{
	if (!mem_cgroup_sockets_enabled || !sk->sk_memcg)
		return true;
	return mem_cgroup_charge_skmem(sk->sk_memcg, nr_pages,
				       GFP_KERNEL | __GFP_RETRY_MAYFAIL);
}
EXPORT_SYMBOL_GPL(udp_ulp_charge_memcg);

/**
 * udp_ulp_uncharge_memcg() - give back what udp_ulp_charge_memcg() charged
 * @sk: UDP socket, not yet freed
 * @nr_pages: pages to give back
 */
void udp_ulp_uncharge_memcg(struct sock *sk, unsigned int nr_pages)
{
	if (mem_cgroup_sockets_enabled && sk->sk_memcg)
		mem_cgroup_uncharge_skmem(sk->sk_memcg, nr_pages);
}
EXPORT_SYMBOL_GPL(udp_ulp_uncharge_memcg);

int udp_ulp_setsockopt(struct sock *sk, sockptr_t optval, unsigned int optlen)
{
	char name[UDP_ULP_NAME_MAX];
	unsigned int len;
	int err;

	if (!optlen)
		return -EINVAL;

	/* The name ends at the first NUL or at optlen, whichever comes first */
	len = min_t(unsigned int, optlen, sizeof(name));
	if (copy_from_sockptr(name, optval, len))
		return -EFAULT;
	len = strnlen(name, len);
	if (!len || len == sizeof(name))
		return -EINVAL;
	name[len] = '\0';

	lock_sock(sk);
	err = udp_set_ulp(sk, name);
	release_sock(sk);
	return err;
}

int udp_ulp_getsockopt(struct sock *sk, char __user *optval,
		       int __user *optlen)
{
	const struct udp_ulp_ops *ops = READ_ONCE(udp_sk(sk)->ulp_ops);
	int len;

	if (get_user(len, optlen))
		return -EFAULT;
	if (len < 0)
		return -EINVAL;

	/* As TCP_ULP: no ULP is an empty answer, not an error. */
	len = ops ? min_t(int, len, UDP_ULP_NAME_MAX) : 0;
	if (put_user(len, optlen))
		return -EFAULT;
	if (len && copy_to_user(optval, ops->name, len))
		return -EFAULT;
	return 0;
}
