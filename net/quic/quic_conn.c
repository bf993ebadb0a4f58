// SPDX-License-Identifier: GPL-2.0
/*
 * Per-socket table of offloaded connections.
 *
 * The send path first copies a call's packets into its own memory, then
 * finds their connection with one RCU lookup and holds it while it
 * encrypts them.  Removal unlinks the entry, waits for the senders still
 * encrypting for it, then drops the table's reference and frees the entry
 * after a grace period, once no lookup can still see it.
 *
 * An entry lives from ADD to DEL: a key update replaces the keys it points
 * to, never the entry, so lookups always find a live connection and the
 * packet numbers it sent stay with it.
 */

#include <kunit/visibility.h>
#include <linux/rhashtable.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/wait_bit.h>
#include <net/udp_ulp.h>

#include "quic_conn.h"
#include "quic_device.h"

/*
 * A client's socket mostly holds one or two connections: start at the
 * smallest table, 4 buckets instead of rhashtable's 64, so that such a
 * socket neither holds 512 bytes of buckets nor has a shrink scheduled
 * when its last connection goes.
 */
static const struct rhashtable_params quic_conn_params = {
	.nelem_hint		= 2,
	.key_len		= sizeof(struct quic_cid),
	.key_offset		= offsetof(struct quic_conn, dcid),
	.head_offset		= offsetof(struct quic_conn, node),
	.automatic_shrinking	= true,
};

/*
 * A connection's share of the table's buckets, which are not charged to
 * anyone either: the table grows past 75% load, shrinks below 30% and
 * holds both arrays while it resizes.
 */
#define QUIC_CONN_BUCKET_SHARE	(4 * sizeof(struct rhash_head *))

/*
 * Memory cgroups are charged in pages: the table keeps the bytes it
 * holds and charges the socket for the pages they round up to.
 */
int quic_conn_table_charge(struct quic_conn_table *table, size_t bytes)
{
	unsigned long pages = DIV_ROUND_UP(table->charged + bytes, PAGE_SIZE);

	if (pages > table->charged_pages && table->sk &&
	    !udp_ulp_charge_memcg(table->sk, pages - table->charged_pages))
		return -ENOMEM;
	table->charged += bytes;
	table->charged_pages = pages;
	return 0;
}

void quic_conn_table_uncharge(struct quic_conn_table *table, size_t bytes)
{
	unsigned long pages;

	table->charged -= bytes;
	pages = DIV_ROUND_UP(table->charged, PAGE_SIZE);
	if (table->sk)
		udp_ulp_uncharge_memcg(table->sk,
				       table->charged_pages - pages);
	table->charged_pages = pages;
}

/* What the table charges for a connection with @keys */
static size_t quic_conn_uncharged(const struct quic_conn_keys *keys)
{
	return QUIC_CONN_BUCKET_SHARE + quic_crypto_keys_uncharged(&keys->tx);
}

/**
 * quic_cid_from_user() - canonical form of a connection ID from userspace
 * @cid: output
 * @key: right-aligned ID
 *
 * Return: 0, or -EINVAL if the ID is longer than QUIC allows.
 */
int quic_cid_from_user(struct quic_cid *cid,
		       const struct quic_connection_info_key *key)
{
	unsigned int len = key->conn_id_length;

	if (len > QUIC_MAX_CONNECTION_ID_SIZE)
		return -EINVAL;
	memset(cid, 0, sizeof(*cid));
	cid->len = len;
	memcpy(cid->id, key->conn_id + sizeof(key->conn_id) - len, len);
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(quic_cid_from_user);

static void quic_conn_keys_free_rcu(struct rcu_head *head)
{
	struct quic_conn_keys *keys = container_of(head, struct quic_conn_keys,
						   rcu);

	quic_crypto_keys_destroy(&keys->tx);
	kfree_sensitive(keys);
}

/**
 * quic_conn_keys_put() - drop a reference taken by quic_conn_keys_get()
 * @keys: keys of a connection
 */
void quic_conn_keys_put(struct quic_conn_keys *keys)
{
	if (refcount_dec_and_test(&keys->refcnt))
		call_rcu(&keys->rcu, quic_conn_keys_free_rcu);
}
EXPORT_SYMBOL_IF_KUNIT(quic_conn_keys_put);

/**
 * quic_conn_keys_get() - hold the current keys of a connection
 * @conn: connection the caller holds
 *
 * A key update may replace the keys at any time; the caller keeps
 * protecting packets with the generation it got.
 *
 * Return: the keys, to drop with quic_conn_keys_put().
 */
struct quic_conn_keys *quic_conn_keys_get(struct quic_conn *conn)
{
	struct quic_conn_keys *keys;

	rcu_read_lock();
	/*
	 * Keys whose last reference just went have been replaced: the
	 * connection always points to live keys, so the next read finds
	 * them.
	 */
	do {
		keys = rcu_dereference(conn->keys);
	} while (!refcount_inc_not_zero(&keys->refcnt));
	rcu_read_unlock();
	return keys;
}
EXPORT_SYMBOL_IF_KUNIT(quic_conn_keys_get);

static void quic_conn_free_rcu(struct rcu_head *head)
{
	struct quic_conn *conn = container_of(head, struct quic_conn, rcu);

	quic_dev_conn_free_rcu(conn);
	kfree(conn);
}

/**
 * quic_conn_destroy() - free a connection that was never inserted
 * @conn: from quic_conn_create()
 */
void quic_conn_destroy(struct quic_conn *conn)
{
	quic_conn_keys_put(rcu_dereference_protected(conn->keys, true));
	quic_dev_conn_destroy(conn);
	kfree(conn);
}
EXPORT_SYMBOL_IF_KUNIT(quic_conn_destroy);

/**
 * quic_conn_put() - drop a reference taken by quic_conn_get()
 * @conn: connection, no longer used by the caller's call
 */
void quic_conn_put(struct quic_conn *conn)
{
	if (refcount_dec_and_test(&conn->refcnt)) {
		/* Lookups under RCU may still see the entry. */
		quic_conn_keys_put(rcu_dereference_protected(conn->keys, true));
		quic_dev_conn_release(conn);
		call_rcu(&conn->rcu, quic_conn_free_rcu);
	}
}
EXPORT_SYMBOL_IF_KUNIT(quic_conn_put);

/**
 * quic_conn_idle() - the caller protects no more packets for @conn
 * @conn: connection from quic_conn_get()
 *
 * Lets a DEL waiting for the connection return.  The caller still holds
 * the memory until quic_conn_put(), and may only give packet numbers back
 * with it.
 */
void quic_conn_idle(struct quic_conn *conn)
{
	/* Zero only if a killed DEL already gave up the table's share. */
	if (refcount_dec_and_test(&conn->active))
		return;
	/* Order the decrement before wake_up_var()'s waitqueue check. */
	smp_mb__after_atomic();
	wake_up_var(&conn->active);
}
EXPORT_SYMBOL_IF_KUNIT(quic_conn_idle);

/*
 * Drop the table's references to an entry just removed from it, once no
 * sender protects packets for it any more: when the DEL returns, no packet
 * is being protected for the connection, with any generation of its keys.
 * Senders are active only while they encrypt their own copy of the
 * packets, never across user memory, allocations or the socket lock, so
 * the caller may hold the lock.  The count can only go from one to zero
 * here, so a lookup that still finds the entry cannot take it afterwards.
 */
static void quic_conn_release_unlinked(struct quic_conn *conn)
{
	/* A dying task stops waiting; the last sender finishes alone. */
	if (wait_var_event_killable(&conn->active,
				    refcount_dec_if_one(&conn->active)))
		quic_conn_idle(conn);
	quic_conn_put(conn);
}

/**
 * quic_conn_get() - find a connection and hold it
 * @table: the socket's table
 * @cid: destination connection ID, in canonical form
 *
 * The entry of a connection stays the same from ADD to DEL, key updates
 * included, so a live connection is always found.
 *
 * Return: the connection, active for the caller until quic_conn_idle() and
 * held until quic_conn_put(), or NULL.
 */
struct quic_conn *quic_conn_get(struct quic_conn_table *table,
				const struct quic_cid *cid)
{
	struct quic_conn *conn;

	rcu_read_lock();
	conn = rhashtable_lookup(&table->ht, cid, quic_conn_params);
	if (conn && !refcount_inc_not_zero(&conn->active))
		conn = NULL;
	/* Active means the table still holds the memory. */
	if (conn)
		refcount_inc(&conn->refcnt);
	rcu_read_unlock();
	return conn;
}
EXPORT_SYMBOL_IF_KUNIT(quic_conn_get);

/**
 * quic_conn_table_req_size() - scratch memory a sender needs
 * @table: the socket's table
 *
 * Lets the send path allocate before it holds the connection, without
 * looking it up twice: a socket's connections nearly always share one
 * AEAD implementation.  A key update may bring a larger request, which
 * the sender finds when it holds the connection.
 *
 * Return: bytes for quic_crypto_req_init(), enough for the keys of every
 * connection the table held so far, or 0 if it never held one.
 */
unsigned int quic_conn_table_req_size(const struct quic_conn_table *table)
{
	return READ_ONCE(table->req_size);
}
EXPORT_SYMBOL_IF_KUNIT(quic_conn_table_req_size);

/* The table's connections now include @keys; the socket is locked. */
static void quic_conn_table_note_keys(struct quic_conn_table *table,
				      const struct quic_conn_keys *keys)
{
	unsigned int size = quic_crypto_req_size(&keys->tx);

	if (size > table->req_size)
		WRITE_ONCE(table->req_size, size);
}

/**
 * quic_conn_pn_claim() - reserve packet numbers before sending them
 * @conn: connection the caller holds
 * @first: packet number of the first packet of the call
 * @last: packet number of its last packet, not below @first
 * @prev: set to what quic_conn_pn_unclaim() needs
 *
 * Of two calls that protected packets with the same number, only one gets
 * to send them: a nonce is never used twice on the wire.
 *
 * Return: 0, or -ERANGE if @first is not above every packet number the
 * connection sent.
 */
int quic_conn_pn_claim(struct quic_conn *conn, u64 first, u64 last, u64 *prev)
{
	s64 next = atomic64_read(&conn->next_pn);

	do {
		if (first < (u64)next)
			return -ERANGE;
	} while (!atomic64_try_cmpxchg(&conn->next_pn, &next, last + 1));
	*prev = next;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(quic_conn_pn_claim);

/**
 * quic_conn_pn_unclaim() - give back numbers whose packets never left
 * @conn: connection the caller holds
 * @last: as given to quic_conn_pn_claim()
 * @prev: as set by quic_conn_pn_claim()
 *
 * Only if no later call claimed numbers since: packet numbers never go
 * back below one that may be on the wire.
 */
void quic_conn_pn_unclaim(struct quic_conn *conn, u64 last, u64 prev)
{
	s64 claimed = last + 1;

	atomic64_try_cmpxchg(&conn->next_pn, &claimed, prev);
}
EXPORT_SYMBOL_IF_KUNIT(quic_conn_pn_unclaim);

static struct quic_conn_keys *quic_conn_keys_alloc(void)
{
	struct quic_conn_keys *keys;

	keys = kzalloc(sizeof(*keys), QUIC_GFP_STATE);
	if (keys)
		refcount_set(&keys->refcnt, 1);
	return keys;
}

/**
 * quic_conn_info_check() - validate a UDP_QUIC_ADD_TX_CONNECTION argument
 * @info: connection parameters, copied from userspace
 * @cid: set to the canonical connection ID
 *
 * Return: 0, or -EINVAL for an unknown cipher or a too long connection ID.
 */
int quic_conn_info_check(const struct quic_connection_info *info,
			 struct quic_cid *cid)
{
	if (!quic_cipher_find(info->cipher_type))
		return -EINVAL;
	return quic_cid_from_user(cid, &info->key);
}
EXPORT_SYMBOL_IF_KUNIT(quic_conn_info_check);

/**
 * quic_conn_create() - a connection from a UDP_QUIC_ADD_TX_CONNECTION
 * @info: connection parameters, copied from userspace
 *
 * Allocates everything the connection needs, without any lock held.
 *
 * Return: the connection, to insert with quic_conn_insert(); ERR_PTR()
 * of -EINVAL for an unknown cipher or a too long connection ID, of
 * -ENOMEM, or of an error from the crypto API.
 */
struct quic_conn *quic_conn_create(const struct quic_connection_info *info)
{
	struct quic_conn_keys *keys;
	struct quic_conn *conn;
	struct quic_cid cid;
	int err;

	if (quic_conn_info_check(info, &cid))
		return ERR_PTR(-EINVAL);

	conn = kzalloc(sizeof(*conn), QUIC_GFP_STATE);
	keys = quic_conn_keys_alloc();
	if (!conn || !keys) {
		kfree(conn);
		kfree(keys);
		return ERR_PTR(-ENOMEM);
	}
	err = quic_crypto_keys_init(&keys->tx,
				    quic_cipher_find(info->cipher_type),
				    info->payload_key,
				    info->payload_iv, info->header_key);
	if (!err)
		err = quic_dev_conn_create(conn, info, keys);
	if (err) {
		kfree(conn);
		quic_conn_keys_put(keys);
		return ERR_PTR(err);
	}

	conn->dcid = cid;
	refcount_set(&conn->active, 1);
	refcount_set(&conn->refcnt, 1);
	atomic64_set(&conn->next_pn, 0);
	RCU_INIT_POINTER(conn->keys, keys);
	return conn;
}
EXPORT_SYMBOL_IF_KUNIT(quic_conn_create);

/**
 * quic_conn_exists() - whether the table has a connection ID
 * @table: the socket's table
 * @cid: destination connection ID, in canonical form
 *
 * Lets ADD refuse a duplicate before it allocates transforms.
 *
 * Return: true if a connection has @cid.
 */
bool quic_conn_exists(struct quic_conn_table *table, const struct quic_cid *cid)
{
	bool found;

	rcu_read_lock();
	found = rhashtable_lookup(&table->ht, cid, quic_conn_params);
	rcu_read_unlock();
	return found;
}
EXPORT_SYMBOL_IF_KUNIT(quic_conn_exists);

/**
 * quic_conn_insert() - make a new connection visible to senders
 * @table: the socket's table; the socket is locked
 * @conn: from quic_conn_create(), owned by the table on success
 *
 * Charges the socket's memory cgroup for what the connection's own
 * allocations did not.
 *
 * Return: 0; -EEXIST if the connection ID is taken; -ENOMEM, also when the
 * memory cgroup is at its limit; -EAGAIN if the table is being resized
 * and has no room yet; -ENOSPC if it is at its maximum size.  On error
 * @conn is the caller's to destroy.
 */
int quic_conn_insert(struct quic_conn_table *table, struct quic_conn *conn)
{
	struct quic_conn_keys *keys = rcu_dereference_protected(conn->keys,
								 true);
	size_t bytes = quic_conn_uncharged(keys);
	int err;

	if (quic_conn_table_charge(table, bytes))
		return -ENOMEM;
	err = rhashtable_lookup_insert_fast(&table->ht, &conn->node,
					    quic_conn_params);
	if (!err)
		quic_conn_table_note_keys(table, keys);
	else
		quic_conn_table_uncharge(table, bytes);
	/* Neither is an allocation failure: say what happened. */
	if (err == -EBUSY)
		return -EAGAIN;
	if (err == -E2BIG)
		return -ENOSPC;
	return err;
}
EXPORT_SYMBOL_IF_KUNIT(quic_conn_insert);

/**
 * quic_conn_del() - remove a connection for a UDP_QUIC_DEL_TX_CONNECTION
 * @table: the socket's table; the socket is locked
 * @key: its destination connection ID, from userspace
 *
 * Waits for the senders still protecting packets for the connection.
 *
 * Return: 0; -EINVAL for a too long connection ID; -ENOENT if no
 * connection has that ID.
 */
int quic_conn_del(struct quic_conn_table *table,
		  const struct quic_connection_info_key *key)
{
	struct quic_conn_keys *keys;
	struct quic_conn *conn;
	struct quic_cid cid;
	int err = -ENOENT;

	if (quic_cid_from_user(&cid, key))
		return -EINVAL;

	rcu_read_lock();
	conn = rhashtable_lookup(&table->ht, &cid, quic_conn_params);
	/* Of concurrent removals of one entry, only one unlinks it. */
	if (conn && !rhashtable_remove_fast(&table->ht, &conn->node,
					    quic_conn_params))
		err = 0;
	rcu_read_unlock();

	if (!err) {
		/* Writers hold the socket lock: the keys stay. */
		keys = rcu_dereference_protected(conn->keys, true);
		quic_conn_table_uncharge(table, quic_conn_uncharged(keys));
		/* Queued plaintext of the connection is dropped from now on. */
		quic_dev_conn_unlink(conn);
		quic_conn_release_unlinked(conn);
	}
	return err;
}
EXPORT_SYMBOL_IF_KUNIT(quic_conn_del);

/**
 * quic_conn_set_key_phase() - install or retire the payload key of a phase
 * @table: the socket's table; the socket is locked
 * @info: UDP_QUIC_SET_TX_KEY_PHASE argument, copied from userspace
 *
 * Builds the connection's next generation of keys and makes it current in
 * a single step, so a sender sees either the old keys or the new ones.
 * Senders that took the old keys finish their call with them.
 *
 * Return: 0; -EINVAL for a bad argument or a retire on a connection that
 * never had a key update; -ENOENT if no connection has the ID or the phase
 * to retire has no key; -EEXIST if the phase to install has a key; -ENOMEM.
 */
int quic_conn_set_key_phase(struct quic_conn_table *table,
			    const struct quic_tx_key_phase_info *info)
{
	struct quic_conn_keys *old, *keys;
	struct quic_conn *conn;
	struct quic_cid cid;
	int err;

	if (info->phase >= QUIC_KEY_PHASES || info->reserved ||
	    (info->op != QUIC_KEY_PHASE_INSTALL &&
	     info->op != QUIC_KEY_PHASE_RETIRE) ||
	    quic_cid_from_user(&cid, &info->key))
		return -EINVAL;

	/* Writers hold the socket lock: the entry and its keys stay. */
	conn = rhashtable_lookup_fast(&table->ht, &cid, quic_conn_params);
	if (!conn)
		return -ENOENT;
	old = rcu_dereference_protected(conn->keys, true);

	keys = quic_conn_keys_alloc();
	if (!keys)
		return -ENOMEM;
	if (info->op == QUIC_KEY_PHASE_INSTALL)
		err = quic_crypto_keys_update(&keys->tx, &old->tx, info->phase,
					      info->payload_key,
					      info->payload_iv);
	else
		err = quic_crypto_keys_retire(&keys->tx, &old->tx,
					      info->phase);
	if (!err && quic_conn_table_charge(table, quic_conn_uncharged(keys)))
		err = -ENOMEM;
	if (err) {
		quic_conn_keys_put(keys);
		return err;
	}
	/* A device, or its fallback, takes the key before senders do. */
	err = quic_dev_key_phase(conn, old, keys, info);
	if (err) {
		quic_conn_table_uncharge(table, quic_conn_uncharged(keys));
		quic_conn_keys_put(keys);
		return err;
	}
	rcu_assign_pointer(conn->keys, keys);
	quic_conn_table_uncharge(table, quic_conn_uncharged(old));
	quic_conn_keys_put(old);
	quic_conn_table_note_keys(table, keys);
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(quic_conn_set_key_phase);

/**
 * quic_conn_table_init() - set up an empty table
 * @table: table to initialise
 * @sk: socket whose memory cgroup pays for the table, or NULL for none
 *
 * Return: 0 or -ENOMEM.
 */
int quic_conn_table_init(struct quic_conn_table *table, struct sock *sk)
{
	table->sk = sk;
	table->charged = 0;
	table->charged_pages = 0;
	table->req_size = 0;
	return rhashtable_init(&table->ht, &quic_conn_params);
}
EXPORT_SYMBOL_IF_KUNIT(quic_conn_table_init);

static void quic_conn_table_free_one(void *ptr, void *count)
{
	(*(unsigned int *)count)++;
	quic_dev_conn_unlink(ptr);
	quic_conn_put(ptr);
}

/* Connections hidden between two chances to reschedule */
#define QUIC_CONN_HIDE_BATCH	256

/*
 * Take every connection of a closing socket off its device first: one
 * grace period then serves them all, not one each.
 */
static void quic_conn_table_hide(struct quic_conn_table *table)
{
	struct rhashtable_iter iter;
	struct quic_conn *conn;
	unsigned int n = 0;

	if (!table->sk || !quic_dev_sock_attached(table->sk))
		return;
	rhashtable_walk_enter(&table->ht, &iter);
	rhashtable_walk_start(&iter);
	/* -EAGAIN: a resize, after which the walk starts again */
	while ((conn = rhashtable_walk_next(&iter))) {
		if (IS_ERR(conn))
			continue;
		quic_dev_conn_hide(conn);
		/*
		 * A socket may hold 100k connections.  Hiding one twice,
		 * should the walk restart, is harmless.
		 */
		if (!(++n % QUIC_CONN_HIDE_BATCH)) {
			rhashtable_walk_stop(&iter);
			cond_resched();
			rhashtable_walk_start(&iter);
		}
	}
	rhashtable_walk_stop(&iter);
	rhashtable_walk_exit(&iter);
}

/**
 * quic_conn_table_destroy() - remove every connection and free the table
 * @table: table of a socket that can no longer send
 *
 * Return: the number of connections removed.
 */
unsigned int quic_conn_table_destroy(struct quic_conn_table *table)
{
	unsigned int count = 0;

	quic_conn_table_hide(table);
	rhashtable_free_and_destroy(&table->ht, quic_conn_table_free_one,
				    &count);
	quic_conn_table_uncharge(table, table->charged);
	return count;
}
EXPORT_SYMBOL_IF_KUNIT(quic_conn_table_destroy);
