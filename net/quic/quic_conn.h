/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Table of the connections a socket offloads, keyed by destination
 * connection ID.
 */

#ifndef _NET_QUIC_CONN_H
#define _NET_QUIC_CONN_H

#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/rhashtable-types.h>
#include <uapi/linux/quic.h>

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
 * struct quic_conn - one offloaded connection
 * @node: link in the socket's table
 * @dcid: destination connection ID the connection's packets carry
 * @refcnt: one for the table, one for each sendmsg() using the connection
 * @rcu: deferred free, lookups run under RCU only
 * @tx: transmit packet protection state
 *
 * Receive offload would add its own keys and table, keyed by the local
 * connection ID.  The keys never change while the entry is in the table:
 * a key update replaces the entry with a new one sharing what it keeps.
 */
struct quic_conn {
	struct rhash_head node;
	struct quic_cid dcid;
	refcount_t refcnt;
	struct rcu_head rcu;
	struct quic_crypto_keys tx;
};

struct quic_conn_table {
	struct rhashtable ht;
};

int quic_cid_from_user(struct quic_cid *cid,
		       const struct quic_connection_info_key *key);

int quic_conn_table_init(struct quic_conn_table *table);
unsigned int quic_conn_table_destroy(struct quic_conn_table *table);

int quic_conn_add(struct quic_conn_table *table,
		  const struct quic_connection_info *info);
int quic_conn_del(struct quic_conn_table *table,
		  const struct quic_connection_info_key *key);

struct quic_conn *quic_conn_get(struct quic_conn_table *table,
				const struct quic_cid *cid);
void quic_conn_put(struct quic_conn *conn);

int quic_conn_set_key_phase(struct quic_conn_table *table,
			    const struct quic_tx_key_phase_info *info);

#endif /* _NET_QUIC_CONN_H */
