// SPDX-License-Identifier: GPL-2.0
/*
 * Per-socket table of offloaded connections.
 *
 * The send path finds a connection with one RCU lookup and takes a
 * reference, so it may sleep while it copies and encrypts.  Removal unlinks
 * the entry, waits for the senders still encrypting with it, then drops the
 * table's reference and frees the entry after a grace period, once no
 * lookup can still see it.
 */

#include <kunit/visibility.h>
#include <linux/rhashtable.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/wait_bit.h>

#include "quic_conn.h"

static const struct rhashtable_params quic_conn_params = {
	.key_len		= sizeof(struct quic_cid),
	.key_offset		= offsetof(struct quic_conn, dcid),
	.head_offset		= offsetof(struct quic_conn, node),
	.automatic_shrinking	= true,
};

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

static void quic_conn_free(struct quic_conn *conn)
{
	quic_crypto_keys_destroy(&conn->tx);
	kfree_sensitive(conn);
}

static void quic_conn_free_rcu(struct rcu_head *head)
{
	quic_conn_free(container_of(head, struct quic_conn, rcu));
}

/**
 * quic_conn_put() - drop a reference taken by quic_conn_get()
 * @conn: connection
 */
void quic_conn_put(struct quic_conn *conn)
{
	if (refcount_dec_and_test(&conn->refcnt)) {
		call_rcu(&conn->rcu, quic_conn_free_rcu);
		return;
	}
	/* Order the decrement before wake_up_var()'s waitqueue check. */
	smp_mb__after_atomic();
	wake_up_var(&conn->refcnt);
}
EXPORT_SYMBOL_IF_KUNIT(quic_conn_put);

/*
 * Drop the table's reference to an entry just removed from it, once no
 * sender holds the entry any more: when the DEL returns, no packet is being
 * protected with its keys.  Senders hold the entry only while they encrypt,
 * never while they wait for the socket lock, so the caller may hold it.
 * The reference can only go from one to zero here, so a lookup that still
 * finds the entry cannot take a new one afterwards.
 */
static void quic_conn_release_unlinked(struct quic_conn *conn)
{
	/* A dying task stops waiting; the last sender frees the entry. */
	if (wait_var_event_killable(&conn->refcnt,
				    refcount_dec_if_one(&conn->refcnt))) {
		quic_conn_put(conn);
		return;
	}
	call_rcu(&conn->rcu, quic_conn_free_rcu);
}

/**
 * quic_conn_get() - find a connection and hold it
 * @table: the socket's table
 * @cid: destination connection ID, in canonical form
 *
 * Return: the connection with a reference the caller must drop with
 * quic_conn_put(), or NULL.
 */
struct quic_conn *quic_conn_get(struct quic_conn_table *table,
				const struct quic_cid *cid)
{
	struct quic_conn *conn;

	rcu_read_lock();
	conn = rhashtable_lookup(&table->ht, cid, quic_conn_params);
	if (conn && !refcount_inc_not_zero(&conn->refcnt))
		conn = NULL;
	rcu_read_unlock();
	return conn;
}
EXPORT_SYMBOL_IF_KUNIT(quic_conn_get);

static struct quic_conn *
quic_conn_create(const struct quic_connection_info *info,
		 const struct quic_cipher *cipher, const struct quic_cid *cid)
{
	struct quic_conn *conn;
	int err;

	conn = kzalloc(sizeof(*conn), GFP_KERNEL_ACCOUNT);
	if (!conn)
		return ERR_PTR(-ENOMEM);

	conn->dcid = *cid;
	refcount_set(&conn->refcnt, 1);
	err = quic_crypto_keys_init(&conn->tx, cipher, info->payload_key,
				    info->payload_iv, info->header_key);
	if (err) {
		quic_conn_free(conn);
		return ERR_PTR(err);
	}
	return conn;
}

/**
 * quic_conn_add() - install a connection from a UDP_QUIC_ADD_TX_CONNECTION
 * @table: the socket's table
 * @info: connection parameters, copied from userspace
 *
 * Return: 0; -EINVAL for an unknown cipher or a too long connection ID;
 * -EEXIST if the connection ID is taken; -ENOMEM.
 */
int quic_conn_add(struct quic_conn_table *table,
		  const struct quic_connection_info *info)
{
	const struct quic_cipher *cipher = quic_cipher_find(info->cipher_type);
	struct quic_conn *conn;
	struct quic_cid cid;
	int err;

	if (!cipher || quic_cid_from_user(&cid, &info->key))
		return -EINVAL;

	/* Spare the transform allocation for the common duplicate case. */
	if (rhashtable_lookup_fast(&table->ht, &cid, quic_conn_params))
		return -EEXIST;

	conn = quic_conn_create(info, cipher, &cid);
	if (IS_ERR(conn))
		return PTR_ERR(conn);

	err = rhashtable_lookup_insert_fast(&table->ht, &conn->node,
					    quic_conn_params);
	if (err) {
		/* Never published: no reader can hold it, free at once. */
		quic_conn_free(conn);
		/* The table may also refuse with -EBUSY or -E2BIG. */
		return err == -EEXIST ? err : -ENOMEM;
	}
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(quic_conn_add);

/**
 * quic_conn_del() - remove a connection for a UDP_QUIC_DEL_TX_CONNECTION
 * @table: the socket's table
 * @key: its destination connection ID, from userspace
 *
 * Senders still holding the connection finish with its keys.
 *
 * Return: 0; -EINVAL for a too long connection ID; -ENOENT if no
 * connection has that ID.
 */
int quic_conn_del(struct quic_conn_table *table,
		  const struct quic_connection_info_key *key)
{
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

	if (!err)
		quic_conn_release_unlinked(conn);
	return err;
}
EXPORT_SYMBOL_IF_KUNIT(quic_conn_del);

/**
 * quic_conn_set_key_phase() - install or retire the payload key of a phase
 * @table: the socket's table; the socket is locked
 * @info: UDP_QUIC_SET_TX_KEY_PHASE argument, copied from userspace
 *
 * Builds a new entry with the changed keys and swaps it for the old one in
 * a single step, so a sender sees either the old keys or the new ones.
 * Senders that found the old entry finish their call with it.
 *
 * Return: 0; -EINVAL for a bad argument or a retire on a connection that
 * never had a key update; -ENOENT if no connection has the ID or the phase
 * to retire has no key; -EEXIST if the phase to install has a key; -ENOMEM.
 */
int quic_conn_set_key_phase(struct quic_conn_table *table,
			    const struct quic_tx_key_phase_info *info)
{
	struct quic_conn *old, *conn;
	struct quic_cid cid;
	int err;

	if (info->phase >= QUIC_KEY_PHASES || info->reserved ||
	    (info->op != QUIC_KEY_PHASE_INSTALL &&
	     info->op != QUIC_KEY_PHASE_RETIRE) ||
	    quic_cid_from_user(&cid, &info->key))
		return -EINVAL;

	/* Writers hold the socket lock: the entry stays until we swap it. */
	old = rhashtable_lookup_fast(&table->ht, &cid, quic_conn_params);
	if (!old)
		return -ENOENT;

	conn = kzalloc(sizeof(*conn), GFP_KERNEL_ACCOUNT);
	if (!conn)
		return -ENOMEM;
	conn->dcid = cid;
	refcount_set(&conn->refcnt, 1);
	if (info->op == QUIC_KEY_PHASE_INSTALL)
		err = quic_crypto_keys_update(&conn->tx, &old->tx, info->phase,
					      info->payload_key,
					      info->payload_iv);
	else
		err = quic_crypto_keys_retire(&conn->tx, &old->tx,
					      info->phase);
	if (!err)
		err = rhashtable_replace_fast(&table->ht, &old->node,
					      &conn->node, quic_conn_params);
	if (err) {
		quic_conn_free(conn);
		return err;
	}
	quic_conn_put(old);
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(quic_conn_set_key_phase);

/**
 * quic_conn_table_init() - set up an empty table
 * @table: table to initialise
 *
 * Return: 0 or -ENOMEM.
 */
int quic_conn_table_init(struct quic_conn_table *table)
{
	return rhashtable_init(&table->ht, &quic_conn_params);
}
EXPORT_SYMBOL_IF_KUNIT(quic_conn_table_init);

static void quic_conn_table_free_one(void *ptr, void *count)
{
	(*(unsigned int *)count)++;
	quic_conn_put(ptr);
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

	rhashtable_free_and_destroy(&table->ht, quic_conn_table_free_one,
				    &count);
	return count;
}
EXPORT_SYMBOL_IF_KUNIT(quic_conn_table_destroy);
