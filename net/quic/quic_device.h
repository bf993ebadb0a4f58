/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Connections on network devices that encrypt QUIC on transmit.
 */

#ifndef _NET_QUIC_DEVICE_H
#define _NET_QUIC_DEVICE_H

#include <linux/skbuff.h>
#include <linux/types.h>
#include <uapi/linux/quic.h>

#include "quic_conn.h"

struct net_device;
struct sock;

/**
 * struct quic_dev_call - an encrypting call, as the UDP hook sees it
 * @task: the task making the call, which alone may use it
 * @conn: its connection, held by the call
 * @device: its packets were checked, not sealed: the device seals them
 * @base_pn: packet number of its first packet
 * @packets: how many it has
 * @key_id: key of each slot the packets were checked against
 * @phases: BIT(slot) for each slot a packet names
 * @attach_gen: attachment of the connection the call was checked for
 * @seen: the hook saw the call's skb
 *
 * Set by quic_tx_send_wire() under the socket's cork lock, which every
 * send through the module holds while UDP builds its datagrams.
 */
struct quic_dev_call {
	struct task_struct *task;
	struct quic_conn *conn;
	bool device;
	bool seen;
	u8 phases;
	unsigned int packets;
	u64 base_pn;
	u32 key_id[QUIC_KEY_PHASES];
	u32 attach_gen;
};

#if IS_ENABLED(CONFIG_QUIC_DEVICE)
int quic_dev_conn_create(struct quic_conn *conn,
			 const struct quic_connection_info *info,
			 struct quic_conn_keys *keys);
void quic_dev_conn_destroy(struct quic_conn *conn);
void quic_dev_conn_release(struct quic_conn *conn);
void quic_dev_conn_free_rcu(struct quic_conn *conn);
void quic_dev_conn_hide(struct quic_conn *conn);
void quic_dev_conn_unlink(struct quic_conn *conn);
int quic_dev_key_phase(struct quic_conn *conn, struct quic_conn_keys *old,
		       struct quic_conn_keys *keys,
		       const struct quic_tx_key_phase_info *info);
bool quic_dev_call_wanted(struct quic_conn *conn, struct quic_dev_call *call);
int quic_dev_send_skb(struct sock *sk, struct sk_buff *skb);
bool quic_dev_sock_attached(const struct sock *sk);
void quic_dev_sock_release(struct sock *sk);
int quic_dev_init(void);
void quic_dev_exit(void);
#else
static inline int quic_dev_conn_create(struct quic_conn *conn,
				       const struct quic_connection_info *info,
				       struct quic_conn_keys *keys)
{
	return 0;
}

static inline void quic_dev_conn_destroy(struct quic_conn *conn)
{
}

static inline void quic_dev_conn_release(struct quic_conn *conn)
{
}

static inline void quic_dev_conn_free_rcu(struct quic_conn *conn)
{
}

static inline void quic_dev_conn_hide(struct quic_conn *conn)
{
}

static inline void quic_dev_conn_unlink(struct quic_conn *conn)
{
}

static inline int
quic_dev_key_phase(struct quic_conn *conn, struct quic_conn_keys *old,
		   struct quic_conn_keys *keys,
		   const struct quic_tx_key_phase_info *info)
{
	return 0;
}

static inline bool quic_dev_call_wanted(struct quic_conn *conn,
					struct quic_dev_call *call)
{
	return false;
}

static inline bool quic_dev_sock_attached(const struct sock *sk)
{
	return false;
}

static inline void quic_dev_sock_release(struct sock *sk)
{
}

static inline int quic_dev_init(void)
{
	return 0;
}

static inline void quic_dev_exit(void)
{
}
#endif

#endif /* _NET_QUIC_DEVICE_H */
