/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Software encryption of an skb marked for a device that encrypts QUIC.
 */

#ifndef _NET_QUIC_DEV_SW_H
#define _NET_QUIC_DEV_SW_H

#include <linux/skbuff.h>
#include <linux/types.h>

#include "quic_crypto.h"

struct sk_buff *quic_dev_sw_encrypt(struct sk_buff *skb,
				    const struct quic_crypto_keys *keys,
				    u64 base_pn, unsigned int cid_len);

#if IS_ENABLED(CONFIG_KUNIT)
void *quic_dev_sw_scratch(size_t size);
struct sk_buff *quic_dev_sw_copy(struct sk_buff *skb);
#endif

#endif /* _NET_QUIC_DEV_SW_H */
