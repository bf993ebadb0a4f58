// SPDX-License-Identifier: GPL-2.0
/*
 * QUIC connections on network devices that encrypt on transmit.
 *
 * A connection whose datagrams leave through a device with
 * NETIF_F_HW_QUIC_TX is programmed into it (quicdev_ops.quic_conn_add)
 * by a work item, the first time the UDP hook sees one of its calls go
 * there. Later calls to that device are checked and numbered as in
 * software but not sealed: the hook marks their skb (skb->decrypted and
 * SKB_EXT_QUIC) and the device seals it. Whatever happens to a marked
 * skb between UDP and the device (another route, the feature turned off,
 * the device gone, a key update), sk_validate_xmit_skb() sees it last and
 * either passes it to the device that holds its keys, encrypts it in
 * software, or drops it when its keys are gone: never is a marked skb
 * sent in clear.
 *
 * Locks: the socket lock, then quic_dev_mutex; rtnl, then quic_dev_mutex.
 * The mutex serialises the device operations and the list of attached
 * connections; the socket lock is never taken under it. Only device
 * events, under rtnl anyway, wait for a grace period under the mutex:
 * a DEL, a close or a key update waits for its own without it, and a
 * close waits once for all its connections.
 */

#include <linux/bitops.h>
#include <linux/jiffies.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/netdevice.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/udp.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <net/dst.h>
#include <net/gso.h>
#include <net/ip.h>
#include <net/ipv6.h>
#include <net/route.h>
#include <net/quic_dev.h>
#include <net/sock.h>
#include <net/udp_ulp.h>

#include "quic_conn.h"
#include "quic_crypto.h"
#include "quic_dev_sw.h"
#include "quic_device.h"
#include "quic_sock.h"
#include "quic_stats.h"

/* Longest wait before asking a device that failed transiently again */
#define QUIC_DEV_BACKOFF_MAX	64

/* ctx->flags */
#define QUIC_DEV_ATTACH_QUEUED	0

/**
 * struct quic_dev_ctx - device state of one connection, from ADD to free
 * @info: what a device is programmed with: kept current by key updates,
 *	wiped when the connection is freed
 * @conn: the connection
 * @sk: its socket, once the UDP hook saw it; compared, never followed
 *	from transmit
 * @dev: the device that holds the keys, for lockless readers; NULL while
 *	none does
 * @held: the same, for the mutex holder: it stays set until the device
 *	forgot the keys
 * @hidden: while @held is set but @dev is not, the cookie of the grace
 *	period (get_state_synchronize_rcu()) after which no transmit sees
 *	@dev
 * @tracker: reference on @held
 * @sw: synchronous keys for sealing marked skbs in software, from the
 *	first attach on; replaced by key updates under the socket lock
 * @sw_charged: what the socket's table was charged for the transforms of
 *	@sw, until the connection leaves the table
 * @handle: what the device stored for the connection
 * @id: number of the connection in quic_dev_ids, 0 before the first
 *	attach
 * @attach_gen: counts attaches, so that an skb marked for an earlier one
 *	never reaches a device under a stale handle
 * @slot_key_id: key the device holds in each slot, 0 for one being
 *	replaced
 * @next_key_id: last key identity given out
 * @node: on quic_dev_list while attached
 * @work: attaches the connection
 * @flags: QUIC_DEV_ATTACH_QUEUED
 * @ifindex: device @work is for
 * @last_dev: egress device of the connection's last call, compared only
 * @refused_ifindex: device that cannot take the connection
 * @refused_gen: quic_dev_feat_gen when it said so
 * @retry_at: no attach before, while @backoff is set
 * @backoff: seconds of the last transient refusal, 0 for none
 * @unlinked: DEL or close: no more attaches
 */
struct quic_dev_ctx {
	struct quic_dev_conn_info info;
	struct quic_conn *conn;
	struct sock *sk;
	struct net_device __rcu *dev;
	struct net_device *held;
	unsigned long hidden;
	netdevice_tracker tracker;
	struct quic_conn_keys __rcu *sw;
	size_t sw_charged;
	u64 handle;
	u32 id;
	u32 attach_gen;
	u32 slot_key_id[QUIC_KEY_PHASES];
	u32 next_key_id;
	struct list_head node;
	struct work_struct work;
	unsigned long flags;
	int ifindex;
	const struct net_device *last_dev;
	int refused_ifindex;
	unsigned int refused_gen;
	unsigned long retry_at;
	unsigned int backoff;
	bool unlinked;
};

static DEFINE_MUTEX(quic_dev_mutex);	/* device ops, quic_dev_list */
static LIST_HEAD(quic_dev_list);
static DEFINE_XARRAY_ALLOC1(quic_dev_ids);
static u32 quic_dev_next_id;
/* Changes with any device's features: refusals are forgotten then. */
static atomic_t quic_dev_feat_gen = ATOMIC_INIT(0);
static struct workqueue_struct *quic_dev_wq;

static void quic_dev_attach_work(struct work_struct *work);

static int quic_dev_cipher(u16 tls_type)
{
	switch (tls_type) {
	case TLS_CIPHER_AES_GCM_128:
		return QUIC_DEV_CIPHER_AES_128_GCM;
	case TLS_CIPHER_AES_GCM_256:
		return QUIC_DEV_CIPHER_AES_256_GCM;
	case TLS_CIPHER_AES_CCM_128:
		return QUIC_DEV_CIPHER_AES_128_CCM;
	case TLS_CIPHER_CHACHA20_POLY1305:
		return QUIC_DEV_CIPHER_CHACHA20_POLY1305;
	}
	return -EINVAL;
}

/**
 * quic_dev_conn_create() - device state of a new connection
 * @conn: the connection, not yet visible
 * @info: its UDP_QUIC_ADD_TX_CONNECTION argument, checked
 * @keys: its first keys, whose key identities this sets
 *
 * Return: 0 or -ENOMEM.
 */
int quic_dev_conn_create(struct quic_conn *conn,
			 const struct quic_connection_info *info,
			 struct quic_conn_keys *keys)
{
	const struct quic_cipher *cipher = quic_cipher_find(info->cipher_type);
	int dev_cipher = quic_dev_cipher(info->cipher_type);
	struct quic_dev_ctx *ctx;
	struct quic_cid cid;

	if (!cipher || dev_cipher < 0 || quic_cid_from_user(&cid, &info->key))
		return -EINVAL;
	ctx = kzalloc(sizeof(*ctx), QUIC_GFP_STATE);
	if (!ctx)
		return -ENOMEM;
	ctx->info.cipher = dev_cipher;
	ctx->info.key_len = cipher->key_size;
	ctx->info.cid_len = cid.len;
	memcpy(ctx->info.dcid, cid.id, cid.len);
	memcpy(ctx->info.hp_key, info->header_key, cipher->key_size);
	/* One key for both slots: the packets' Key Phase bit is not used. */
	memcpy(ctx->info.key[0].key, info->payload_key, cipher->key_size);
	memcpy(ctx->info.key[0].iv, info->payload_iv, QUIC_DEV_IV_LEN);
	ctx->info.key[1] = ctx->info.key[0];
	ctx->next_key_id = 1;
	keys->key_id[0] = 1;
	keys->key_id[1] = 1;
	ctx->conn = conn;
	INIT_LIST_HEAD(&ctx->node);
	INIT_WORK(&ctx->work, quic_dev_attach_work);
	conn->dev = ctx;
	return 0;
}

/**
 * quic_dev_conn_destroy() - free the device state of a connection that
 *	was never visible
 * @conn: from quic_conn_create()
 */
void quic_dev_conn_destroy(struct quic_conn *conn)
{
	kfree_sensitive(conn->dev);
	conn->dev = NULL;
}

/**
 * quic_dev_conn_release() - drop the fallback keys of a dying connection
 * @conn: connection whose last reference is going
 *
 * Readers under RCU may still use them: they go after a grace period.
 */
void quic_dev_conn_release(struct quic_conn *conn)
{
	struct quic_dev_ctx *ctx = conn->dev;
	struct quic_conn_keys *sw;

	if (!ctx)
		return;
	WARN_ON_ONCE(ctx->held);
	sw = rcu_dereference_protected(ctx->sw, true);
	if (sw)
		quic_conn_keys_put(sw);
}

/**
 * quic_dev_conn_free_rcu() - free the device state, a grace period after
 *	the connection's last reference went
 * @conn: the connection, being freed
 */
void quic_dev_conn_free_rcu(struct quic_conn *conn)
{
	kfree_sensitive(conn->dev);
}

/* Whether @caps cover @ctx */
static bool quic_dev_caps_fit(const struct quic_dev_caps *caps,
			      const struct quic_dev_ctx *ctx)
{
	if (!(caps->ciphers & BIT(ctx->info.cipher)) ||
	    !(caps->cid_lens & BIT(ctx->info.cid_len)))
		return false;
	/* A connection that changed keys will change them again. */
	return READ_ONCE(ctx->next_key_id) == 1 ||
	       caps->flags & QUIC_DEV_CAP_KEY_UPDATE;
}

static bool quic_dev_ops_complete(const struct quicdev_ops *ops)
{
	return ops && ops->quic_conn_add && ops->quic_conn_update &&
	       ops->quic_conn_del;
}

/* The table of the connection's socket, which is locked */
static struct quic_conn_table *quic_dev_table(const struct quic_dev_ctx *ctx)
{
	struct quic_sock *qsk = udp_ulp_data(ctx->sk);

	return &qsk->tx_conns;
}

/*
 * No skb is handed to the device of @ctx once the grace period begun
 * here ends. Hides may race (the notifier's and a close's), harmlessly:
 * @dev only becomes non-NULL under both the socket lock and the mutex.
 */
static void quic_dev_hide(struct quic_dev_ctx *ctx)
{
	RCU_INIT_POINTER(ctx->dev, NULL);
	WRITE_ONCE(ctx->hidden, get_state_synchronize_rcu());
}

/* The device forgets the keys of @ctx, hidden a grace period ago. */
static void quic_dev_forget(struct quic_dev_ctx *ctx)
{
	struct net_device *dev = ctx->held;

	lockdep_assert_held(&quic_dev_mutex);
	dev->quicdev_ops->quic_conn_del(dev, ctx->handle);
	netdev_put(dev, &ctx->tracker);
	WRITE_ONCE(ctx->held, NULL);
	WRITE_ONCE(ctx->slot_key_id[0], 0);
	WRITE_ONCE(ctx->slot_key_id[1], 0);
	list_del_init(&ctx->node);
	quic_stat_dec(sock_net(ctx->sk), QUIC_STAT_CURR_TX_DEVICE);
	quic_stat_inc(sock_net(ctx->sk), QUIC_STAT_TX_DEVICE_DETACH);
}

/* Make the connections of @list, all attached, leave their devices. */
static void quic_dev_detach_list(struct list_head *list)
{
	struct quic_dev_ctx *ctx, *tmp;

	lockdep_assert_held(&quic_dev_mutex);
	list_for_each_entry(ctx, list, node)
		quic_dev_hide(ctx);
	synchronize_net();
	list_for_each_entry_safe(ctx, tmp, list, node)
		quic_dev_forget(ctx);
}

/*
 * Take @ctx off its device, the socket locked. The grace period is
 * waited for without the mutex, which device events take under rtnl;
 * none is waited for if one passed since quic_dev_conn_hide().
 */
static void quic_dev_detach(struct quic_dev_ctx *ctx)
{
	unsigned long hidden;

	sock_owned_by_me(ctx->sk);
	mutex_lock(&quic_dev_mutex);
	if (!ctx->held) {
		mutex_unlock(&quic_dev_mutex);
		return;
	}
	if (rcu_access_pointer(ctx->dev))
		quic_dev_hide(ctx);
	hidden = READ_ONCE(ctx->hidden);
	mutex_unlock(&quic_dev_mutex);

	cond_synchronize_rcu(hidden);
	mutex_lock(&quic_dev_mutex);
	/* Unless a device event took it off meanwhile */
	if (ctx->held)
		quic_dev_forget(ctx);
	mutex_unlock(&quic_dev_mutex);
}

/**
 * quic_dev_conn_hide() - no more skbs of a connection to its device
 * @conn: a connection of a socket being closed; the socket is locked
 *
 * Context: RCU read side, as in a walk of the table.
 * Hiding every connection of the socket before any is unlinked lets one
 * grace period serve them all in quic_dev_conn_unlink().
 */
void quic_dev_conn_hide(struct quic_conn *conn)
{
	struct quic_dev_ctx *ctx = conn->dev;

	if (ctx && rcu_access_pointer(ctx->dev))
		quic_dev_hide(ctx);
}

/**
 * quic_dev_conn_unlink() - a connection leaves its socket (DEL or close)
 * @conn: the connection, just removed from its table; the socket is
 *	locked
 *
 * Its device forgets its keys, and skbs still marked for it are dropped
 * at transmit from now on: nothing is sealed for it after a DEL returns.
 */
void quic_dev_conn_unlink(struct quic_conn *conn)
{
	struct quic_dev_ctx *ctx = conn->dev;

	if (!ctx)
		return;
	ctx->unlinked = true;
	if (READ_ONCE(ctx->held))
		quic_dev_detach(ctx);
	if (ctx->sw_charged) {
		quic_conn_table_uncharge(quic_dev_table(ctx),
					 ctx->sw_charged);
		ctx->sw_charged = 0;
	}
	if (ctx->id)
		xa_erase(&quic_dev_ids, ctx->id);
}

/*
 * Charge the socket's table for the transforms of @sw, the fallback keys
 * to be, in place of those they replace: the crypto API allocates them
 * unaccounted, as it does the connection's own keys, which the table
 * charges the same way. The socket is locked.
 */
static int quic_dev_sw_charge(struct quic_dev_ctx *ctx,
			      const struct quic_conn_keys *sw)
{
	struct quic_conn_table *table = quic_dev_table(ctx);
	size_t bytes = quic_crypto_keys_uncharged(&sw->tx);

	if (bytes > ctx->sw_charged &&
	    quic_conn_table_charge(table, bytes - ctx->sw_charged))
		return -ENOMEM;
	if (bytes < ctx->sw_charged)
		quic_conn_table_uncharge(table, ctx->sw_charged - bytes);
	ctx->sw_charged = bytes;
	return 0;
}

/* Fallback keys as the connection's keys are, from the kept key bytes */
static struct quic_conn_keys *quic_dev_sw_build(struct quic_dev_ctx *ctx,
						const struct quic_conn_keys *keys)
{
	const struct quic_dev_conn_info *info = &ctx->info;
	const struct quic_cipher *cipher = keys->tx.cipher;
	struct quic_conn_keys *sw;
	struct quic_crypto_keys one = {};
	int err;

	sw = kzalloc(sizeof(*sw), QUIC_GFP_STATE);
	if (!sw)
		return ERR_PTR(-ENOMEM);
	refcount_set(&sw->refcnt, 1);
	if (!keys->tx.phased) {
		err = quic_crypto_keys_init_sync(&sw->tx, cipher,
						 info->key[0].key,
						 info->key[0].iv, info->hp_key);
	} else {
		err = quic_crypto_keys_init_sync(&one, cipher, info->key[0].key,
						 info->key[0].iv, info->hp_key);
		if (!err)
			err = quic_crypto_keys_update(&sw->tx, &one, 1,
						      info->key[1].key,
						      info->key[1].iv);
		quic_crypto_keys_destroy(&one);
	}
	if (err) {
		kfree_sensitive(sw);
		return ERR_PTR(err);
	}
	memcpy(sw->key_id, keys->key_id, sizeof(sw->key_id));
	return sw;
}

/*
 * The fallback keys after a key install of @phase: the key it replaces,
 * if any, is dropped first, so that the new key takes its slot.
 */
static struct quic_conn_keys *quic_dev_sw_next(const struct quic_conn_keys *old,
					       unsigned int phase,
					       const u8 *key, const u8 *iv)
{
	const struct quic_crypto_keys *src = &old->tx;
	struct quic_crypto_keys tmp = {};
	struct quic_conn_keys *sw;
	int err = 0;

	sw = kzalloc(sizeof(*sw), QUIC_GFP_STATE);
	if (!sw)
		return ERR_PTR(-ENOMEM);
	refcount_set(&sw->refcnt, 1);
	if (src->phased && src->aead[phase]) {
		err = quic_crypto_keys_retire(&tmp, src, phase);
		src = &tmp;
	}
	if (!err)
		err = quic_crypto_keys_update(&sw->tx, src, phase, key, iv);
	if (src == &tmp)
		quic_crypto_keys_destroy(&tmp);
	if (err) {
		kfree_sensitive(sw);
		return ERR_PTR(err);
	}
	return sw;
}

/* Give the device slot @phase's new key, or take the connection off it. */
static void quic_dev_update(struct quic_dev_ctx *ctx, unsigned int phase,
			    u32 key_id)
{
	struct net_device *dev;
	unsigned long gp = 0;
	bool can = false;
	int err = 0;

	sock_owned_by_me(ctx->sk);
	mutex_lock(&quic_dev_mutex);
	dev = ctx->held;
	if (dev)
		can = dev->quicdev_ops->caps.flags & QUIC_DEV_CAP_KEY_UPDATE;
	if (can) {
		/* No skb checked against the old key reaches the device. */
		WRITE_ONCE(ctx->slot_key_id[phase], 0);
		gp = get_state_synchronize_rcu();
	}
	mutex_unlock(&quic_dev_mutex);
	if (!dev)
		return;
	if (!can) {
		quic_dev_detach(ctx);
		return;
	}

	cond_synchronize_rcu(gp);
	mutex_lock(&quic_dev_mutex);
	/* The socket is locked: the device is the same one, or none. */
	if (ctx->held) {
		err = dev->quicdev_ops->quic_conn_update(dev, ctx->handle,
							  phase,
							  &ctx->info.key[phase]);
		if (!err)
			WRITE_ONCE(ctx->slot_key_id[phase], key_id);
		else
			quic_stat_inc(sock_net(ctx->sk),
				      QUIC_STAT_TX_DEVICE_ERROR);
	}
	mutex_unlock(&quic_dev_mutex);
	if (err)
		quic_dev_detach(ctx);
}

/**
 * quic_dev_key_phase() - a key update, for the device and the fallback
 * @conn: the connection; the socket is locked
 * @old: its current keys
 * @keys: its next keys, built from @old, published once this returns 0
 * @info: the UDP_QUIC_SET_TX_KEY_PHASE argument, checked
 *
 * A retired key stays with the device and the fallback: skbs checked
 * against it may still be queued, and no new ones can be.
 *
 * Return: 0, or -ENOMEM or an error of the crypto API, after which
 * nothing changed.
 */
int quic_dev_key_phase(struct quic_conn *conn, struct quic_conn_keys *old,
		       struct quic_conn_keys *keys,
		       const struct quic_tx_key_phase_info *info)
{
	struct quic_dev_ctx *ctx = conn->dev;
	unsigned int phase = info->phase;
	struct quic_conn_keys *sw, *nsw;
	u32 key_id;

	memcpy(keys->key_id, old->key_id, sizeof(keys->key_id));
	if (info->op != QUIC_KEY_PHASE_INSTALL)
		return 0;
	key_id = ctx->next_key_id + 1;

	sw = rcu_dereference_protected(ctx->sw, true);
	if (sw) {
		nsw = quic_dev_sw_next(sw, phase, info->payload_key,
				       info->payload_iv);
		if (IS_ERR(nsw))
			return PTR_ERR(nsw);
		if (quic_dev_sw_charge(ctx, nsw)) {
			quic_conn_keys_put(nsw);
			return -ENOMEM;
		}
		memcpy(nsw->key_id, old->key_id, sizeof(nsw->key_id));
		nsw->key_id[phase] = key_id;
		rcu_assign_pointer(ctx->sw, nsw);
		quic_conn_keys_put(sw);
	}
	WRITE_ONCE(ctx->next_key_id, key_id);
	keys->key_id[phase] = key_id;
	memcpy(ctx->info.key[phase].key, info->payload_key,
	       ctx->info.key_len);
	memcpy(ctx->info.key[phase].iv, info->payload_iv, QUIC_DEV_IV_LEN);
	if (READ_ONCE(ctx->held))
		quic_dev_update(ctx, phase, key_id);
	return 0;
}

/* No attach before a while, twice as long as the last one if any */
static void quic_dev_back_off(struct quic_dev_ctx *ctx)
{
	unsigned int backoff = ctx->backoff ?
			       min(ctx->backoff * 2, QUIC_DEV_BACKOFF_MAX) : 1;

	WRITE_ONCE(ctx->backoff, backoff);
	WRITE_ONCE(ctx->retry_at, jiffies + backoff * HZ);
}

/* An add that failed: when to ask that device again, if ever. */
static void quic_dev_refused(struct quic_dev_ctx *ctx, struct net_device *dev,
			     int err)
{
	quic_stat_inc(sock_net(ctx->sk), QUIC_STAT_TX_DEVICE_ERROR);
	switch (err) {
	case -ENOSPC:
		WRITE_ONCE(ctx->backoff, 1);
		break;
	case -ENOMEM:
	case -EBUSY:
	case -EAGAIN:
	case -EIO:
		quic_dev_back_off(ctx);
		return;
	default:
		WARN_ONCE(err != -EOPNOTSUPP, "%s: quic_conn_add: %d\n",
			  netdev_name(dev), err);
		WRITE_ONCE(ctx->refused_gen, atomic_read(&quic_dev_feat_gen));
		WRITE_ONCE(ctx->refused_ifindex, dev->ifindex);
		return;
	}
	WRITE_ONCE(ctx->retry_at, jiffies + ctx->backoff * HZ);
}

static struct sk_buff *quic_dev_validate_xmit(struct sock *sk,
					      struct net_device *dev,
					      struct sk_buff *skb);

/* Program the connection into @dev; the socket is locked. */
static void quic_dev_attach(struct quic_dev_ctx *ctx, struct net_device *dev)
{
	struct sock *sk = ctx->sk;
	const struct quicdev_ops *ops;
	struct quic_conn_keys *keys;
	struct mem_cgroup *memcg;
	struct quic_conn_keys *sw;
	u64 handle;
	int err;

	keys = rcu_dereference_protected(ctx->conn->keys,
					 lockdep_sock_is_held(sk));
	/* Out of memory (or of ids): the calls go on in software. */
	if (!ctx->id && xa_alloc_cyclic(&quic_dev_ids, &ctx->id, ctx,
					xa_limit_32b, &quic_dev_next_id,
					GFP_KERNEL) < 0)
		goto back_off;
	if (!rcu_access_pointer(ctx->sw)) {
		/* Charged as the connection's other keys were. */
		memcg = set_active_memcg(sk->sk_memcg);
		sw = quic_dev_sw_build(ctx, keys);
		set_active_memcg(memcg);
		if (IS_ERR(sw))
			goto back_off;
		if (quic_dev_sw_charge(ctx, sw)) {
			quic_conn_keys_put(sw);
			goto back_off;
		}
		rcu_assign_pointer(ctx->sw, sw);
	}

	mutex_lock(&quic_dev_mutex);
	ops = dev->quicdev_ops;
	if (dev->reg_state != NETREG_REGISTERED || !netif_running(dev) ||
	    !(dev->features & NETIF_F_HW_QUIC_TX) ||
	    !quic_dev_ops_complete(ops) || !quic_dev_caps_fit(&ops->caps, ctx))
		goto out;
	err = ops->quic_conn_add(dev, &ctx->info, &handle);
	if (err) {
		quic_dev_refused(ctx, dev, err);
		goto out;
	}
	WRITE_ONCE(ctx->backoff, 0);
	ctx->handle = handle;
	memcpy(ctx->slot_key_id, keys->key_id, sizeof(ctx->slot_key_id));
	WRITE_ONCE(ctx->attach_gen, ctx->attach_gen + 1);
	netdev_hold(dev, &ctx->tracker, GFP_KERNEL);
	WRITE_ONCE(ctx->held, dev);
	list_add(&ctx->node, &quic_dev_list);
	/* Before any skb is marked for the device */
	WRITE_ONCE(sk->sk_validate_xmit_skb, quic_dev_validate_xmit);
	rcu_assign_pointer(ctx->dev, dev);
	quic_stat_inc(sock_net(sk), QUIC_STAT_TX_DEVICE);
	quic_stat_inc(sock_net(sk), QUIC_STAT_CURR_TX_DEVICE);
out:
	mutex_unlock(&quic_dev_mutex);
	return;

back_off:
	quic_dev_back_off(ctx);
}

static void quic_dev_attach_work(struct work_struct *work)
{
	struct quic_dev_ctx *ctx = container_of(work, struct quic_dev_ctx,
						work);
	struct quic_conn *conn = ctx->conn;
	struct sock *sk = ctx->sk;
	struct net_device *dev;

	lock_sock(sk);
	if (!ctx->unlinked && !READ_ONCE(ctx->held)) {
		dev = dev_get_by_index(sock_net(sk), ctx->ifindex);
		if (dev) {
			quic_dev_attach(ctx, dev);
			dev_put(dev);
		}
	}
	clear_bit(QUIC_DEV_ATTACH_QUEUED, &ctx->flags);
	release_sock(sk);
	sock_put(sk);
	/* May free @ctx. */
	quic_conn_put(conn);
}

/*
 * A call of the connection in software leaves through @dev: if @dev can
 * take the connection, have the work program it.
 */
static void quic_dev_maybe_attach(struct sock *sk, struct quic_dev_ctx *ctx,
				  struct net_device *dev)
{
	const struct quicdev_ops *ops;

	if (!dev || !(READ_ONCE(dev->features) & NETIF_F_HW_QUIC_TX))
		return;
	ops = READ_ONCE(dev->quicdev_ops);
	if (!ops || rcu_access_pointer(ctx->dev) ||
	    !quic_dev_caps_fit(&ops->caps, ctx))
		return;
	if (READ_ONCE(ctx->refused_ifindex) == dev->ifindex &&
	    READ_ONCE(ctx->refused_gen) == atomic_read(&quic_dev_feat_gen))
		return;
	if (READ_ONCE(ctx->backoff) &&
	    time_before(jiffies, READ_ONCE(ctx->retry_at)))
		return;
	if (test_and_set_bit(QUIC_DEV_ATTACH_QUEUED, &ctx->flags))
		return;
	WRITE_ONCE(ctx->sk, sk);
	ctx->ifindex = dev->ifindex;
	/* The call holds both: the work holds them for itself. */
	sock_hold(sk);
	refcount_inc(&ctx->conn->refcnt);
	queue_work(quic_dev_wq, &ctx->work);
}

/**
 * quic_dev_call_wanted() - whether a call is for the connection's device
 * @conn: the connection, held by the call
 * @call: the call; @call->device and @call->attach_gen are set
 *
 * Only if the connection is on a device and its last call left through
 * that device: the call's packets are then left for the device to seal.
 *
 * Return: @call->device.
 */
bool quic_dev_call_wanted(struct quic_conn *conn, struct quic_dev_call *call)
{
	struct quic_dev_ctx *ctx = conn->dev;
	struct net_device *dev;

	rcu_read_lock();
	dev = rcu_dereference(ctx->dev);
	call->device = dev && dev == READ_ONCE(ctx->last_dev);
	call->attach_gen = READ_ONCE(ctx->attach_gen);
	rcu_read_unlock();
	return call->device;
}

/* Whether the packets of @core were checked against the keys @key_id */
static bool quic_dev_keys_match(u8 phases, const u32 *call_id,
				const u32 *key_id)
{
	unsigned int i;

	for (i = 0; i < QUIC_KEY_PHASES; i++)
		if (phases & BIT(i) && call_id[i] != READ_ONCE(key_id[i]))
			return false;
	return true;
}

/* Whether IP sends @skb as it is, or as GSO segments, unfragmented */
static bool quic_dev_fits(const struct sk_buff *skb)
{
	unsigned int mtu = dst_mtu(skb_dst(skb));

	if (skb_is_gso(skb))
		return skb_gso_validate_network_len(skb, mtu);
	return skb->len - skb_network_offset(skb) <= mtu;
}

/*
 * Whether the datagram goes to one host: a multicast or broadcast one is
 * also looped back to local sockets, in clear, before any device sees it.
 */
static bool quic_dev_unicast(const struct sk_buff *skb)
{
	const struct dst_entry *dst = skb_dst(skb);

	if (dst->lwtstate || dst_xfrm(dst))
		return false;
	if (ip_hdr(skb)->version == 4)
		return skb_rtable(skb)->rt_type == RTN_UNICAST;
	return !ipv6_addr_is_multicast(&ipv6_hdr(skb)->daddr);
}

/*
 * Whether @dev holds, in the attachment @attach_gen, the keys packets
 * naming @phases were checked against. RCU read side.
 */
static bool quic_dev_holds(const struct quic_dev_ctx *ctx,
			   const struct net_device *dev, u32 attach_gen,
			   u8 phases, const u32 *key_id)
{
	if (!dev || rcu_access_pointer(ctx->dev) != dev)
		return false;
	/* The attachment's fields were written before its device. */
	smp_rmb();
	return READ_ONCE(dev->features) & NETIF_F_HW_QUIC_TX &&
	       READ_ONCE(ctx->attach_gen) == attach_gen &&
	       quic_dev_keys_match(phases, key_id, ctx->slot_key_id);
}

/* Whether the call's skb can go to @dev for it to seal. RCU read side. */
static bool quic_dev_can_mark(const struct quic_dev_ctx *ctx,
			      const struct quic_dev_call *call,
			      const struct sk_buff *skb,
			      const struct net_device *dev)
{
	return quic_dev_holds(ctx, dev, call->attach_gen, call->phases,
			      call->key_id) &&
	       skb->ip_summed == CHECKSUM_PARTIAL &&
	       !skb_has_frag_list(skb) && quic_dev_unicast(skb) &&
	       quic_dev_fits(skb);
}

/*
 * Seal in place, in UDP's hook, a call checked for the device but that
 * cannot be handed to it. The skb is UDP's alone, its fragments spliced
 * from the call's own pages.
 */
static int quic_dev_hook_seal(struct sock *sk, struct quic_dev_ctx *ctx,
			      const struct quic_dev_call *call,
			      struct sk_buff *skb)
{
	unsigned int off = skb_transport_offset(skb) + sizeof(struct udphdr);
	struct quic_conn_keys *sw;
	struct sk_buff *nskb;

	/*
	 * A datagram over the MTU without GSO (a socket that lets IP
	 * fragment) comes as a frag_list, which is sealed on one buffer.
	 */
	if (skb_has_frag_list(skb) && skb_linearize(skb))
		return -ENOMEM;
	if (skb_cloned(skb) || skb_has_shared_frag(skb))
		return -EINVAL;
	rcu_read_lock();
	sw = rcu_dereference(ctx->sw);
	/* Only a key update racing with the call: the call fails. */
	if (!sw || !quic_dev_keys_match(call->phases, call->key_id,
					sw->key_id)) {
		rcu_read_unlock();
		return -ENOKEY;
	}
	nskb = quic_dev_sw_encrypt(skb, &sw->tx, call->base_pn,
				   ctx->info.cid_len);
	rcu_read_unlock();
	if (IS_ERR(nskb))
		return PTR_ERR(nskb);
	/* UDP checksums what it was told the payload sums to. */
	if (skb->ip_summed != CHECKSUM_PARTIAL)
		skb->csum = skb_checksum(skb, off, skb->len - off, 0);
	quic_stat_add(sock_net(sk), QUIC_STAT_TX_DEVICE_SOFTWARE,
		      call->packets);
	return 0;
}

static int quic_dev_mark(struct sock *sk, struct quic_dev_ctx *ctx,
			 const struct quic_dev_call *call,
			 struct sk_buff *skb, struct net_device *dev)
{
	struct quic_conn *conn = call->conn;
	struct quic_skb_ext *ext = NULL;
	int err = 0;

	/* Nothing is sealed, nor marked, once a DEL stopped waiting. */
	if (!refcount_inc_not_zero(&conn->active))
		return -ENOKEY;
	rcu_read_lock();
	if (quic_dev_can_mark(ctx, call, skb, dev))
		ext = skb_ext_add(skb, SKB_EXT_QUIC);
	if (ext) {
		ext->dev.handle = READ_ONCE(ctx->handle);
		ext->dev.base_pn = call->base_pn;
		ext->core.id = ctx->id;
		ext->core.attach_gen = call->attach_gen;
		memcpy(ext->core.key_id, call->key_id,
		       sizeof(ext->core.key_id));
		ext->core.phases = call->phases;
		skb->decrypted = 1;
	}
	rcu_read_unlock();
	if (!ext)
		err = quic_dev_hook_seal(sk, ctx, call, skb);
	quic_conn_idle(conn);
	return err;
}

/**
 * quic_dev_send_skb() - the UDP hook: see where an encrypting call goes
 * @sk: the socket
 * @skb: the datagram UDP built for the call, or for a send of data as
 *	given
 *
 * For a call sealed in software, note its device and maybe attach the
 * connection there. For a call left to the device, mark the skb for it,
 * or seal it here if it goes elsewhere.
 *
 * Return: 0, or a negative errno to fail the call with.
 */
int quic_dev_send_skb(struct sock *sk, struct sk_buff *skb)
{
	struct quic_dev_call *call;
	struct quic_sock *qsk;
	struct net_device *dev;
	struct quic_dev_ctx *ctx;

	rcu_read_lock();
	qsk = udp_ulp_data(sk);
	call = qsk ? READ_ONCE(qsk->dev_call) : NULL;
	rcu_read_unlock();
	/* Sends of data as given have no call; a call has one datagram. */
	if (!call || call->task != current || call->seen)
		return 0;
	call->seen = true;
	ctx = call->conn->dev;
	dev = skb_dst(skb) ? skb_dst(skb)->dev : NULL;
	WRITE_ONCE(ctx->last_dev, dev);
	if (!call->device) {
		quic_dev_maybe_attach(sk, ctx, dev);
		return 0;
	}
	return quic_dev_mark(sk, ctx, call, skb, dev);
}

/*
 * A marked datagram that IP cut into fragments after UDP built it (a
 * reroute to a smaller MTU by netfilter), or that is no longer laid out
 * as UDP built it: a fragment is no packet, and sealing one would use a
 * packet number on bytes that are not its packet.
 */
static bool quic_dev_is_fragment(const struct sk_buff *skb)
{
	unsigned int len = skb->len - skb_transport_offset(skb);
	unsigned int off = 0;

	/* Headers added since UDP built it move the packets: no telling. */
	if (skb->encapsulation)
		return true;
	if (skb->protocol == htons(ETH_P_IP)) {
		if (ip_is_fragment(ip_hdr(skb)))
			return true;
	} else if (skb->protocol == htons(ETH_P_IPV6)) {
		if (ipv6_find_hdr(skb, &off, NEXTHDR_FRAGMENT, NULL, NULL) >= 0)
			return true;
	} else {
		return true;
	}
	return !skb_is_gso(skb) && ntohs(udp_hdr(skb)->len) != len;
}

static unsigned int quic_dev_skb_packets(const struct sk_buff *skb)
{
	return skb_is_gso(skb) ? skb_shinfo(skb)->gso_segs : 1;
}

/*
 * sk_validate_xmit_skb() of a socket with a connection on a device: the
 * last look at a marked skb before the driver of @dev gets it.
 */
static struct sk_buff *quic_dev_validate_xmit(struct sock *sk,
					      struct net_device *dev,
					      struct sk_buff *skb)
{
	unsigned int packets = quic_dev_skb_packets(skb);
	const struct quic_skb_ext *ext;
	struct quic_conn_keys *sw;
	struct quic_dev_ctx *ctx;
	struct sk_buff *nskb;
	u64 base_pn;

	if (!skb_is_decrypted(skb))
		return skb;
	/* Its lower device gets it next, and another look. */
	if (netif_is_bond_master(dev))
		return skb;

	rcu_read_lock();
	ext = skb_ext_find(skb, SKB_EXT_QUIC);
	ctx = ext ? xa_load(&quic_dev_ids, ext->core.id) : NULL;
	if (!ctx || READ_ONCE(ctx->sk) != sk || quic_dev_is_fragment(skb))
		goto drop;
	if (quic_dev_holds(ctx, dev, ext->core.attach_gen, ext->core.phases,
			   ext->core.key_id)) {
		rcu_read_unlock();
		quic_stat_add(sock_net(sk), QUIC_STAT_TX_DEVICE_PACKETS,
			      packets);
		return skb;
	}

	sw = rcu_dereference(ctx->sw);
	if (!sw || !quic_dev_keys_match(ext->core.phases, ext->core.key_id,
					sw->key_id))
		goto drop;
	base_pn = ext->dev.base_pn;
	nskb = quic_dev_sw_encrypt(skb, &sw->tx, base_pn, ctx->info.cid_len);
	rcu_read_unlock();
	if (IS_ERR(nskb)) {
		quic_stat_add(sock_net(sk), QUIC_STAT_TX_DEVICE_DROP, packets);
		kfree_skb(skb);
		return NULL;
	}
	quic_stat_add(sock_net(sk), QUIC_STAT_TX_DEVICE_FALLBACK, packets);
	return nskb;

drop:
	rcu_read_unlock();
	quic_stat_add(sock_net(sk), QUIC_STAT_TX_DEVICE_DROP, packets);
	kfree_skb(skb);
	return NULL;
}

/**
 * quic_dev_sock_attached() - whether a connection of a socket was ever
 *	on a device
 * @sk: the socket
 *
 * Return: true from the first attach on, until quic_dev_sock_release().
 */
bool quic_dev_sock_attached(const struct sock *sk)
{
	return READ_ONCE(sk->sk_validate_xmit_skb) == quic_dev_validate_xmit;
}

/**
 * quic_dev_sock_release() - a socket stops sending through the module
 * @sk: the socket, its connections gone
 *
 * Its skbs still queued may outlive the module: they no longer come
 * here, and the stack drops those still marked (none is sent in clear).
 */
void quic_dev_sock_release(struct sock *sk)
{
	if (quic_dev_sock_attached(sk))
		WRITE_ONCE(sk->sk_validate_xmit_skb, NULL);
}

static int quic_dev_event(struct notifier_block *nb, unsigned long event,
			  void *ptr)
{
	struct net_device *dev = netdev_notifier_info_to_dev(ptr);
	struct quic_dev_ctx *ctx, *tmp;
	LIST_HEAD(list);

	switch (event) {
	case NETDEV_REGISTER:
	case NETDEV_FEAT_CHANGE:
		atomic_inc(&quic_dev_feat_gen);
		if (dev->features & NETIF_F_HW_QUIC_TX &&
		    !quic_dev_ops_complete(dev->quicdev_ops))
			return NOTIFY_BAD;
		if (event == NETDEV_REGISTER ||
		    dev->features & NETIF_F_HW_QUIC_TX)
			return NOTIFY_DONE;
		break;
	case NETDEV_DOWN:
	case NETDEV_UNREGISTER:
		break;
	default:
		return NOTIFY_DONE;
	}

	mutex_lock(&quic_dev_mutex);
	list_for_each_entry_safe(ctx, tmp, &quic_dev_list, node)
		if (ctx->held == dev)
			list_move(&ctx->node, &list);
	if (!list_empty(&list))
		quic_dev_detach_list(&list);
	mutex_unlock(&quic_dev_mutex);
	return NOTIFY_DONE;
}

static struct notifier_block quic_dev_notifier = {
	.notifier_call	= quic_dev_event,
};

/**
 * quic_dev_init() - start following devices
 *
 * Return: 0 or -ENOMEM.
 */
int quic_dev_init(void)
{
	int err;

	quic_dev_wq = alloc_workqueue("quic_dev", WQ_UNBOUND, 0);
	if (!quic_dev_wq)
		return -ENOMEM;
	err = register_netdevice_notifier(&quic_dev_notifier);
	if (err)
		destroy_workqueue(quic_dev_wq);
	return err;
}

/**
 * quic_dev_exit() - stop following devices, once no socket uses the
 *	module
 *
 * Works queued for connections of closed sockets finish first, and
 * transmits that may still be in quic_dev_validate_xmit() return.
 */
void quic_dev_exit(void)
{
	destroy_workqueue(quic_dev_wq);
	unregister_netdevice_notifier(&quic_dev_notifier);
	synchronize_net();
	WARN_ON_ONCE(!list_empty(&quic_dev_list));
	xa_destroy(&quic_dev_ids);
}
