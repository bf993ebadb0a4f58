/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Per network namespace counters of the QUIC offload, shown in
 * /proc/net/quic_stat.
 */

#ifndef _NET_QUIC_STATS_H
#define _NET_QUIC_STATS_H

struct net;

enum quic_stat {
	QUIC_STAT_CURR_TX_SW,		/* connections installed now */
	QUIC_STAT_TX_SW,		/* connections ever installed */
	QUIC_STAT_TX_SW_ERROR,		/* sum of the error counters below */
	QUIC_STAT_TX_PACKETS,		/* packets encrypted and sent */
	QUIC_STAT_TX_BYTES,		/* plaintext bytes of those packets */
	QUIC_STAT_TX_BYPASS_PACKETS,	/* packets sent with bypass */
	QUIC_STAT_TX_KEY_UPDATE,	/* keys installed by key update */
	QUIC_STAT_TX_KEY_RETIRE,	/* key phases retired */
	QUIC_STAT_TX_SNDBUF_FULL,	/* EAGAIN: backpressure, not an error */
	QUIC_STAT_TX_COALESCED,		/* datagrams led by long-header packets */
	QUIC_STAT_TX_ASYNC_CRYPTO,	/* packets the AEAD did asynchronously */
#if IS_ENABLED(CONFIG_QUIC_DEVICE)
	QUIC_STAT_CURR_TX_DEVICE,	/* connections on a device now */
	QUIC_STAT_TX_DEVICE,		/* attaches to a device */
	QUIC_STAT_TX_DEVICE_ERROR,	/* device refused or failed add/update */
	QUIC_STAT_TX_DEVICE_DETACH,	/* connections that left a device */
	QUIC_STAT_TX_DEVICE_PACKETS,	/* packets handed to a device to seal */
	QUIC_STAT_TX_DEVICE_SOFTWARE,	/* ... sealed at the UDP hook instead */
	QUIC_STAT_TX_DEVICE_FALLBACK,	/* ... sealed at transmit instead */
	QUIC_STAT_TX_DEVICE_DROP,	/* marked packets dropped at transmit */
#endif
	/* Errors, each also counted in QUIC_STAT_TX_SW_ERROR */
	QUIC_STAT_ERR_SOCKOPT,
	QUIC_STAT_ERR_CMSG,
	QUIC_STAT_ERR_NO_CMSG,
	QUIC_STAT_ERR_UNSUPPORTED,
	QUIC_STAT_ERR_NO_CONNECTION,
	QUIC_STAT_ERR_NO_KEY,
	QUIC_STAT_ERR_BAD_PACKET,
	QUIC_STAT_ERR_PACKET_NUMBER,
	QUIC_STAT_ERR_CRYPTO,
	QUIC_STAT_ERR_NOMEM,
	QUIC_STAT_ERR_FAULT,
	QUIC_STAT_ERR_SEND,
	QUIC_STAT_MAX
};

void quic_stat_add(struct net *net, enum quic_stat stat, s64 val);
void quic_stat_error(struct net *net, enum quic_stat reason);

static inline void quic_stat_inc(struct net *net, enum quic_stat stat)
{
	quic_stat_add(net, stat, 1);
}

static inline void quic_stat_dec(struct net *net, enum quic_stat stat)
{
	quic_stat_add(net, stat, -1);
}

int quic_stats_init(void);
void quic_stats_exit(void);

#endif /* _NET_QUIC_STATS_H */
