/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Table of the connections a socket offloads, keyed by destination
 * connection ID.
 */

#ifndef _NET_QUIC_CONN_H
#define _NET_QUIC_CONN_H

#include <linux/atomic.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/rhashtable-types.h>
#include <uapi/linux/quic.h>

struct sock;

#include "quic_crypto.h"

/**
 * struct quic_cid - a connection ID as the table keys it
 * @len: length, 0 to QUIC_MAX_CONNECTION_ID_SIZE
 * @id: the ID in wire order, zero after @len bytes so that the whole
 *	structure can be hashed and compared
 */
struct quic_cid {
	u8 len;
	u8 id[QUIC_MAX_CONNECTION_ID_SIZE];
};

/**
 * struct quic_conn_keys - one generation of a connection's keys
 * @refcnt: one for the connection while they are current, one for each
 *	sender protecting packets with them
 * @rcu: deferred free, senders find them under RCU
 * @tx: transmit packet protection state, never changed once published
 * @key_id: for a device, which key each slot holds: a key update gives
 *	the slot it installs a new one, so that packets checked against the
 *	old key are never sealed with the new one
 */
struct quic_conn_keys {
	refcount_t refcnt;
	struct rcu_head rcu;
	struct quic_crypto_keys tx;
#if IS_ENABLED(CONFIG_QUIC_DEVICE)
	u32 key_id[QUIC_KEY_PHASES];
#endif
};

struct quic_dev_ctx;

/**
 * struct quic_conn - one offloaded connection, from ADD to DEL or close
 * @node: link in the socket's table
 * @dcid: destination connection ID the connection's packets carry
 * @active: one for the table, one for each sender protecting packets for
 *	the connection, whatever generation of keys it uses: DEL waits until
 *	the table's is the last
 * @refcnt: keeps the memory: one for the table, one for each sender until
 *	its call ends, which may be after a DEL returned
 * @next_pn: lowest packet number the connection may still protect; packet
 *	numbers only grow (RFC 9000, section 12.3), across key updates too,
 *	so no nonce is ever used twice
 * @keys: current keys; a key update replaces them as a whole
 * @rcu: deferred free, lookups run under RCU only
 * @dev: what a device needs to encrypt for the connection, and whether
 *	one does
 *
 * Receive offload would add its own keys and table, keyed by the local
 * connection ID.
 */
struct quic_conn {
	struct rhash_head node;
	struct quic_cid dcid;
	refcount_t active;
	refcount_t refcnt;
	atomic64_t next_pn;
	struct quic_conn_keys __rcu *keys;
	struct rcu_head rcu;
#if IS_ENABLED(CONFIG_QUIC_DEVICE)
	struct quic_dev_ctx *dev;
#endif
};

/**
 * struct quic_conn_table - the connections of one socket
 * @ht: connections by destination connection ID
 * @sk: socket whose memory cgroup is charged, NULL for none
 * @charged: bytes held for the connections that their own allocations did
 *	not charge; changed with the socket locked
 * @charged_pages: pages charged for @charged
 * @req_size: the largest AEAD request the keys of any of its connections
 *	ever needed; only grows, written with the socket locked
 */
struct quic_conn_table {
	struct rhashtable ht;
	struct sock *sk;
	size_t charged;
	unsigned long charged_pages;
	unsigned int req_size;
};

int quic_cid_from_user(struct quic_cid *cid,
		       const struct quic_connection_info_key *key);

int quic_conn_table_init(struct quic_conn_table *table, struct sock *sk);
unsigned int quic_conn_table_destroy(struct quic_conn_table *table);
int quic_conn_table_charge(struct quic_conn_table *table, size_t bytes);
void quic_conn_table_uncharge(struct quic_conn_table *table, size_t bytes);

int quic_conn_info_check(const struct quic_connection_info *info,
			 struct quic_cid *cid);
struct quic_conn *quic_conn_create(const struct quic_connection_info *info);
void quic_conn_destroy(struct quic_conn *conn);
bool quic_conn_exists(struct quic_conn_table *table,
		      const struct quic_cid *cid);
int quic_conn_insert(struct quic_conn_table *table, struct quic_conn *conn);
int quic_conn_del(struct quic_conn_table *table,
		  const struct quic_connection_info_key *key);

struct quic_conn *quic_conn_get(struct quic_conn_table *table,
				const struct quic_cid *cid);
void quic_conn_idle(struct quic_conn *conn);
void quic_conn_put(struct quic_conn *conn);
unsigned int quic_conn_table_req_size(const struct quic_conn_table *table);
struct quic_conn_keys *quic_conn_keys_get(struct quic_conn *conn);
void quic_conn_keys_put(struct quic_conn_keys *keys);

int quic_conn_pn_claim(struct quic_conn *conn, u64 first, u64 last,
		       u64 *prev);
void quic_conn_pn_unclaim(struct quic_conn *conn, u64 last, u64 prev);

int quic_conn_set_key_phase(struct quic_conn_table *table,
			    const struct quic_tx_key_phase_info *info);

#endif /* _NET_QUIC_CONN_H */
