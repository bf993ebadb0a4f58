// SPDX-License-Identifier: GPL-2.0
/*
 * A UDP upper layer protocol that exists only to test the UDP ULP core.
 *
 * Attaching "test" moves the socket to a copy of its UDP proto whose
 * sendmsg counts calls before passing them on, which is what a real ULP
 * does to get in front of UDP; release moves the socket back. Its send_skb
 * op counts the datagrams UDP is about to send. "test_nohook" is the same
 * without send_skb, for the sockets UDP must not call. Module parameters
 * let the selftest watch both sides and make send_skb fail:
 *
 *   attached          sockets using either ULP right now
 *   sendmsg_calls     sendmsg calls that went through the copied proto
 *   send_skb_calls    datagrams (GSO batches count once) seen by send_skb
 *   send_skb_bytes    their UDP payload, as their UDP headers give it
 *   send_skb_gso_size gso_size of the last one, 0 if it was no GSO batch
 *   send_skb_errno    writable: send_skb fails with it when not 0
 */

#include <linux/atomic.h>
#include <linux/err.h>
#include <linux/kstrtox.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/sysfs.h>
#include <linux/skbuff.h>
#include <linux/udp.h>
#include <net/sock.h>
#include <net/udp_ulp.h>

struct udp_ulp_test_ctx {
	struct proto	*orig_prot;
	struct rcu_head	rcu;
};

enum {
	UDP_ULP_TEST_V4,
	UDP_ULP_TEST_V6,
	UDP_ULP_TEST_NPROTS,
};

static struct proto udp_ulp_test_prots[UDP_ULP_TEST_NPROTS];
static struct proto *udp_ulp_test_bases[UDP_ULP_TEST_NPROTS];
static DEFINE_MUTEX(udp_ulp_test_prot_lock);

static atomic_long_t udp_ulp_test_attached = ATOMIC_LONG_INIT(0);
static atomic_long_t udp_ulp_test_sendmsg_calls = ATOMIC_LONG_INIT(0);
static atomic_long_t udp_ulp_test_send_skb_calls = ATOMIC_LONG_INIT(0);
static atomic_long_t udp_ulp_test_send_skb_bytes = ATOMIC_LONG_INIT(0);
static atomic_long_t udp_ulp_test_send_skb_gso_size = ATOMIC_LONG_INIT(0);
static unsigned int udp_ulp_test_send_skb_errno;

static int udp_ulp_test_param_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%ld\n", atomic_long_read(kp->arg));
}

/* Without a ->set, "modprobe udp_ulp_test attached=1" would crash. */
static int udp_ulp_test_param_set(const char *val,
				  const struct kernel_param *kp)
{
	return -EPERM;
}

static const struct kernel_param_ops udp_ulp_test_param_ops = {
	.get	= udp_ulp_test_param_get,
	.set	= udp_ulp_test_param_set,
};

module_param_cb(attached, &udp_ulp_test_param_ops,
		&udp_ulp_test_attached, 0444);
MODULE_PARM_DESC(attached, "Sockets using the test ULP right now");
module_param_cb(sendmsg_calls, &udp_ulp_test_param_ops,
		&udp_ulp_test_sendmsg_calls, 0444);
MODULE_PARM_DESC(sendmsg_calls, "sendmsg calls seen by the test ULP");
module_param_cb(send_skb_calls, &udp_ulp_test_param_ops,
		&udp_ulp_test_send_skb_calls, 0444);
MODULE_PARM_DESC(send_skb_calls, "Datagrams seen by the test ULP's send_skb");
module_param_cb(send_skb_bytes, &udp_ulp_test_param_ops,
		&udp_ulp_test_send_skb_bytes, 0444);
MODULE_PARM_DESC(send_skb_bytes, "UDP payload bytes seen by send_skb");
module_param_cb(send_skb_gso_size, &udp_ulp_test_param_ops,
		&udp_ulp_test_send_skb_gso_size, 0444);
MODULE_PARM_DESC(send_skb_gso_size, "gso_size of the last datagram seen");

static int udp_ulp_test_errno_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%u\n", READ_ONCE(*(unsigned int *)kp->arg));
}

/* A value send_skb can return as a negative errno, or 0 for none */
static int udp_ulp_test_errno_set(const char *val,
				  const struct kernel_param *kp)
{
	unsigned int err;
	int ret;

	ret = kstrtouint(val, 0, &err);
	if (ret)
		return ret;
	if (err > MAX_ERRNO)
		return -ERANGE;
	WRITE_ONCE(*(unsigned int *)kp->arg, err);
	return 0;
}

static const struct kernel_param_ops udp_ulp_test_errno_ops = {
	.get	= udp_ulp_test_errno_get,
	.set	= udp_ulp_test_errno_set,
};

module_param_cb(send_skb_errno, &udp_ulp_test_errno_ops,
		&udp_ulp_test_send_skb_errno, 0644);
MODULE_PARM_DESC(send_skb_errno, "errno send_skb fails with, 0: none");

static int udp_ulp_test_sendmsg(struct sock *sk, struct msghdr *msg,
				size_t len)
{
	const struct proto *prot = READ_ONCE(sk->sk_prot);
	struct proto *orig;

	/*
	 * The copy that led here names the proto it wraps.  A lockless
	 * sender on a weakly ordered CPU may not see the context yet, but
	 * what it reads through the proto pointer is ordered after it.
	 */
	orig = udp_ulp_test_bases[prot - udp_ulp_test_prots];

	atomic_long_inc(&udp_ulp_test_sendmsg_calls);
	return orig->sendmsg(sk, msg, len);
}

/* The header's length, not skb->len, shows UDP wrote it before the call. */
static int udp_ulp_test_send_skb(struct sock *sk, struct sk_buff *skb)
{
	unsigned int len = ntohs(udp_hdr(skb)->len) - sizeof(struct udphdr);

	atomic_long_inc(&udp_ulp_test_send_skb_calls);
	atomic_long_add(len, &udp_ulp_test_send_skb_bytes);
	atomic_long_set(&udp_ulp_test_send_skb_gso_size,
			skb_shinfo(skb)->gso_size);
	return -(int)READ_ONCE(udp_ulp_test_send_skb_errno);
}

static int udp_ulp_test_idx(const struct sock *sk)
{
	return sk->sk_family == AF_INET6 ? UDP_ULP_TEST_V6 : UDP_ULP_TEST_V4;
}

/* The core hands us only sockets still on the proto they were created
 * with, so each family always starts from the same UDP proto and a single
 * copy per family serves every socket.
 */
static struct proto *udp_ulp_test_get_prot(struct sock *sk)
{
	int i = udp_ulp_test_idx(sk);
	struct proto *prot = NULL;

	mutex_lock(&udp_ulp_test_prot_lock);
	if (!udp_ulp_test_bases[i]) {
		udp_ulp_test_prots[i] = *sk->sk_prot;
		udp_ulp_test_prots[i].sendmsg = udp_ulp_test_sendmsg;
		udp_ulp_test_bases[i] = sk->sk_prot;
	}
	if (udp_ulp_test_bases[i] == sk->sk_prot)
		prot = &udp_ulp_test_prots[i];
	mutex_unlock(&udp_ulp_test_prot_lock);
	return prot;
}

static int udp_ulp_test_init(struct sock *sk)
{
	struct udp_ulp_test_ctx *ctx;
	struct proto *prot;

	prot = udp_ulp_test_get_prot(sk);
	if (WARN_ON_ONCE(!prot))
		return -EOPNOTSUPP;

	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);
	if (!ctx)
		return -ENOMEM;
	ctx->orig_prot = sk->sk_prot;

	udp_ulp_set_data(sk, ctx);
	/* Publish the context before the proto that reaches it. */
	smp_wmb();
	sock_replace_proto(sk, prot);
	atomic_long_inc(&udp_ulp_test_attached);
	return 0;
}

static void udp_ulp_test_release(struct sock *sk)
{
	struct udp_ulp_test_ctx *ctx = udp_ulp_data(sk);

	/* Anyone replacing our proto behind the core's back would have
	 * bypassed the ULP; make that loud.
	 */
	WARN_ON_ONCE(sk->sk_prot != &udp_ulp_test_prots[udp_ulp_test_idx(sk)]);

	sock_replace_proto(sk, ctx->orig_prot);
	udp_ulp_set_data(sk, NULL);
	kfree_rcu(ctx, rcu);
	atomic_long_dec(&udp_ulp_test_attached);
}

static struct udp_ulp_ops udp_ulp_test_ops = {
	.name		= "test",
	.owner		= THIS_MODULE,
	.init		= udp_ulp_test_init,
	.release	= udp_ulp_test_release,
	.send_skb	= udp_ulp_test_send_skb,
};

static struct udp_ulp_ops udp_ulp_test_nohook_ops = {
	.name		= "test_nohook",
	.owner		= THIS_MODULE,
	.init		= udp_ulp_test_init,
	.release	= udp_ulp_test_release,
};

static int __init udp_ulp_test_module_init(void)
{
	int err;

	err = udp_register_ulp(&udp_ulp_test_ops);
	if (err)
		return err;
	err = udp_register_ulp(&udp_ulp_test_nohook_ops);
	if (err)
		udp_unregister_ulp(&udp_ulp_test_ops);
	return err;
}

static void __exit udp_ulp_test_module_exit(void)
{
	udp_unregister_ulp(&udp_ulp_test_nohook_ops);
	udp_unregister_ulp(&udp_ulp_test_ops);
}

module_init(udp_ulp_test_module_init);
module_exit(udp_ulp_test_module_exit);

MODULE_DESCRIPTION("UDP upper layer protocol for testing the ULP core");
MODULE_LICENSE("GPL");
MODULE_ALIAS_UDP_ULP("test");
MODULE_ALIAS_UDP_ULP("test_nohook");
