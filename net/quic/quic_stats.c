// SPDX-License-Identifier: GPL-2.0
/*
 * Per network namespace counters of the QUIC offload.
 *
 * Counters are per CPU so that the send path never shares a cache line
 * between CPUs; the gauge QuicCurrTxSw may go negative on one CPU and
 * positive on another, only the sum means something.
 */

#include <linux/percpu.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>

#include "quic_stats.h"

/* 64 bits everywhere: QuicTxBytes passes 2^32 in seconds at line rate. */
struct quic_mib {
	u64 stats[QUIC_STAT_MAX];
};

struct quic_net {
	struct quic_mib __percpu *mib;
};

static unsigned int quic_net_id __read_mostly;

static const char *const quic_stat_names[QUIC_STAT_MAX] = {
	[QUIC_STAT_CURR_TX_SW]		= "QuicCurrTxSw",
	[QUIC_STAT_TX_SW]		= "QuicTxSw",
	[QUIC_STAT_TX_SW_ERROR]		= "QuicTxSwError",
	[QUIC_STAT_TX_PACKETS]		= "QuicTxPackets",
	[QUIC_STAT_TX_BYTES]		= "QuicTxBytes",
	[QUIC_STAT_TX_BYPASS_PACKETS]	= "QuicTxBypassPackets",
	[QUIC_STAT_TX_KEY_UPDATE]	= "QuicTxKeyUpdate",
	[QUIC_STAT_TX_KEY_RETIRE]	= "QuicTxKeyRetire",
	[QUIC_STAT_TX_SNDBUF_FULL]	= "QuicTxSndbufFull",
	[QUIC_STAT_TX_COALESCED]	= "QuicTxCoalesced",
	[QUIC_STAT_TX_ASYNC_CRYPTO]	= "QuicTxAsyncCrypto",
#if IS_ENABLED(CONFIG_QUIC_DEVICE)
	[QUIC_STAT_CURR_TX_DEVICE]	= "QuicCurrTxDevice",
	[QUIC_STAT_TX_DEVICE]		= "QuicTxDevice",
	[QUIC_STAT_TX_DEVICE_ERROR]	= "QuicTxDeviceError",
	[QUIC_STAT_TX_DEVICE_DETACH]	= "QuicTxDeviceDetach",
	[QUIC_STAT_TX_DEVICE_PACKETS]	= "QuicTxDevicePackets",
	[QUIC_STAT_TX_DEVICE_SOFTWARE]	= "QuicTxDeviceSoftware",
	[QUIC_STAT_TX_DEVICE_FALLBACK]	= "QuicTxDeviceFallback",
	[QUIC_STAT_TX_DEVICE_DROP]	= "QuicTxDeviceDrop",
#endif
	[QUIC_STAT_ERR_SOCKOPT]		= "QuicTxErrSockopt",
	[QUIC_STAT_ERR_CMSG]		= "QuicTxErrCmsg",
	[QUIC_STAT_ERR_NO_CMSG]		= "QuicTxErrNoCmsg",
	[QUIC_STAT_ERR_UNSUPPORTED]	= "QuicTxErrUnsupported",
	[QUIC_STAT_ERR_NO_CONNECTION]	= "QuicTxErrNoConnection",
	[QUIC_STAT_ERR_NO_KEY]		= "QuicTxErrNoKey",
	[QUIC_STAT_ERR_BAD_PACKET]	= "QuicTxErrBadPacket",
	[QUIC_STAT_ERR_PACKET_NUMBER]	= "QuicTxErrPacketNumber",
	[QUIC_STAT_ERR_CRYPTO]		= "QuicTxErrCrypto",
	[QUIC_STAT_ERR_NOMEM]		= "QuicTxErrNoMem",
	[QUIC_STAT_ERR_FAULT]		= "QuicTxErrFault",
	[QUIC_STAT_ERR_SEND]		= "QuicTxErrSend",
};

static struct quic_mib __percpu *quic_net_mib(struct net *net)
{
	struct quic_net *qn = net_generic(net, quic_net_id);

	return qn->mib;
}

void quic_stat_add(struct net *net, enum quic_stat stat, s64 val)
{
	this_cpu_add(quic_net_mib(net)->stats[stat], val);
}

/* Every error has a reason counter and also counts in QuicTxSwError. */
void quic_stat_error(struct net *net, enum quic_stat reason)
{
	struct quic_mib __percpu *mib = quic_net_mib(net);

	this_cpu_inc(mib->stats[reason]);
	this_cpu_inc(mib->stats[QUIC_STAT_TX_SW_ERROR]);
}

static int quic_stat_seq_show(struct seq_file *seq, void *v)
{
	struct quic_mib __percpu *mib = quic_net_mib(seq_file_single_net(seq));
	u64 sum[QUIC_STAT_MAX] = {};
	unsigned int i;
	int cpu;

	/* A 32-bit CPU may read a counter being written half old: no lock
	 * on the send path is worth that, the next read is right.
	 */
	for_each_possible_cpu(cpu) {
		const struct quic_mib *m = per_cpu_ptr(mib, cpu);

		for (i = 0; i < QUIC_STAT_MAX; i++)
			sum[i] += READ_ONCE(m->stats[i]);
	}
	/* Unsigned, as SNMP counters: the gauge's sum is never negative. */
	for (i = 0; i < QUIC_STAT_MAX; i++)
		seq_printf(seq, "%s\t%llu\n", quic_stat_names[i], sum[i]);
	return 0;
}

static int __net_init quic_net_init(struct net *net)
{
	struct quic_net *qn = net_generic(net, quic_net_id);

	qn->mib = alloc_percpu(struct quic_mib);
	if (!qn->mib)
		return -ENOMEM;

	if (IS_ENABLED(CONFIG_PROC_FS) &&
	    !proc_create_net_single("quic_stat", 0444, net->proc_net,
				    quic_stat_seq_show, NULL)) {
		free_percpu(qn->mib);
		return -ENOMEM;
	}
	return 0;
}

static void __net_exit quic_net_exit(struct net *net)
{
	struct quic_net *qn = net_generic(net, quic_net_id);

	remove_proc_entry("quic_stat", net->proc_net);
	free_percpu(qn->mib);
}

static struct pernet_operations quic_net_ops = {
	.init	= quic_net_init,
	.exit	= quic_net_exit,
	.id	= &quic_net_id,
	.size	= sizeof(struct quic_net),
};

int quic_stats_init(void)
{
	return register_pernet_subsys(&quic_net_ops);
}

void quic_stats_exit(void)
{
	unregister_pernet_subsys(&quic_net_ops);
}
