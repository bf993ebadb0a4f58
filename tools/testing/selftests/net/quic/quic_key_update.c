// SPDX-License-Identifier: GPL-2.0
/*
 * Key update (RFC 9001, section 6) of the quic-crypto Tx offload.
 *
 * Keys of each generation are derived here from a traffic secret with
 * HKDF-Expand-Label (OpenSSL EVP_KDF), the next secret with "quic ku", and
 * every datagram the kernel sends is compared byte for byte with the
 * packet OpenSSL protects from the same plaintext with the keys of the
 * packet's key phase.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/quic.h>
#include <linux/tls.h>

#include <openssl/evp.h>

#include "../../kselftest_harness.h"
#include "quic_util.h"

#define RX_WAIT_MS	3000
#define QUIET_MS	100
#define PKT_MAX		1400
#define BATCH_MAX	16

static int hex2bin(const char *hex, uint8_t *out, size_t len)
{
	size_t i;

	if (strlen(hex) != 2 * len)
		return -1;
	for (i = 0; i < len; i++)
		if (sscanf(hex + 2 * i, "%2hhx", &out[i]) != 1)
			return -1;
	return 0;
}

struct ku_vector {
	const char *label;
	const char *secret;
	const char *expect;
};

/* ../shared vectors: rustls key_update_test_vector and RFC 9001 A.5. */
static const struct ku_vector ku_vectors[] = {
	{ "quic ku",
	  "b8767708f8772358a6ea9fc43e4add2c961b3f5287a6d1467ee0aeab33724dbf",
	  "42cac8c91cd5eb40682e432edf2d2be9f41a52ca6b22d8e6cdb1e8aca9061fce" },
	{ "quic ku",
	  "42dc972140e0f2e39845b767613439dc6758ca43259b878506824eb1e438d855",
	  "eb7f5e2a123f407db499e361cae590d4d992e14b7ace03c244e0422115b6d38a" },
	{ "quic ku",
	  "9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b",
	  "1223504755036d556342ee9361d253421a826c9ecdf3c7148684b36b714881f9" },
	{ "quic key",
	  "9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b",
	  "c6d98ff3441c3fe1b2182094f69caa2ed4b716b65488960a7a984979fb23e1c8" },
	{ "quic hp",
	  "9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b",
	  "25a282b9e82f06f21f488917a4fc8f1b73573685608597d0efcb076b0ab7a7a4" },
};

/* The test's own key schedule reproduces the published outputs. */
TEST(derivation_vectors)
{
	uint8_t secret[32], expect[32], out[32], iv[12], want_iv[12];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ku_vectors); i++) {
		ASSERT_EQ(0, hex2bin(ku_vectors[i].secret, secret, 32));
		ASSERT_EQ(0, hex2bin(ku_vectors[i].expect, expect, 32));
		ASSERT_EQ(0, quic_expand_label("SHA256", secret, 32,
					       ku_vectors[i].label, out, 32));
		EXPECT_EQ(0, memcmp(out, expect, 32))
			TH_LOG("vector %zu (%s) differs", i,
			       ku_vectors[i].label);
	}
	ASSERT_EQ(0, hex2bin("e0459b3474bdd0e44a41c144", want_iv, 12));
	ASSERT_EQ(0, quic_expand_label("SHA256", secret, 32, "quic iv", iv, 12));
	EXPECT_EQ(0, memcmp(iv, want_iv, 12));
}

FIXTURE(ku)
{
	int sfd, rfd;
	struct sockaddr_in dst;
	uint8_t cid[8];
	size_t cid_len;
	uint64_t rng;
	struct quic_gen gen[8];
};

FIXTURE_VARIANT(ku)
{
	uint16_t cipher;
};

FIXTURE_VARIANT_ADD(ku, aes_gcm_128) { .cipher = TLS_CIPHER_AES_GCM_128 };
FIXTURE_VARIANT_ADD(ku, aes_gcm_256) { .cipher = TLS_CIPHER_AES_GCM_256 };
FIXTURE_VARIANT_ADD(ku, aes_ccm_128) { .cipher = TLS_CIPHER_AES_CCM_128 };
FIXTURE_VARIANT_ADD(ku, chacha20_poly1305)
{
	.cipher = TLS_CIPHER_CHACHA20_POLY1305,
};

FIXTURE_SETUP(ku)
{
	socklen_t len = sizeof(self->dst);
	size_t i;

	/* Counters of a namespace of its own: other tests may run meanwhile. */
	if (quic_netns_fresh())
		SKIP(return, "no network namespace: %s", strerror(errno));
	self->rng = 0x6b65792d75706474ULL ^ variant->cipher;
	self->cid_len = sizeof(self->cid);
	quic_rand_bytes(&self->rng, self->cid, self->cid_len);

	quic_rand_bytes(&self->rng, self->gen[0].secret, QUIC_SECRET_MAX);
	ASSERT_EQ(0, quic_gen_keys(&self->gen[0], variant->cipher, NULL));
	for (i = 1; i < ARRAY_SIZE(self->gen); i++)
		ASSERT_EQ(0, quic_gen_next(&self->gen[i], &self->gen[i - 1]));

	self->rfd = socket(AF_INET, SOCK_DGRAM, 0);
	ASSERT_GE(self->rfd, 0);
	memset(&self->dst, 0, sizeof(self->dst));
	self->dst.sin_family = AF_INET;
	self->dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT_EQ(0, bind(self->rfd, (struct sockaddr *)&self->dst, len));
	ASSERT_EQ(0, getsockname(self->rfd, (struct sockaddr *)&self->dst,
				 &len));

	self->sfd = socket(AF_INET, SOCK_DGRAM, 0);
	ASSERT_GE(self->sfd, 0);
	if (quic_ulp_attach(self->sfd))
		SKIP(return, "quic-crypto ULP not available: %s",
		     strerror(errno));
	ASSERT_EQ(0, quic_conn_add(self->sfd, &self->gen[0].keys, self->cid,
				   self->cid_len));
}

FIXTURE_TEARDOWN(ku)
{
	close(self->sfd);
	close(self->rfd);
}

static int install(FIXTURE_DATA(ku) * self, uint8_t phase, int g)
{
	return quic_key_phase(self->sfd, self->cid, self->cid_len,
			      QUIC_KEY_PHASE_INSTALL, phase, &self->gen[g].keys);
}

static int retire(FIXTURE_DATA(ku) * self, uint8_t phase)
{
	return quic_key_phase(self->sfd, self->cid, self->cid_len,
			      QUIC_KEY_PHASE_RETIRE, phase, NULL);
}

/*
 * Send one GSO batch of @n packets numbered from @pn; packet i has Key
 * Phase bit @phase[i] and must come out protected with the keys of
 * generation @gen[i].  With @gen NULL the call must fail with @err and
 * nothing may arrive.
 */
static void send_batch(struct __test_metadata *_metadata,
		       FIXTURE_DATA(ku) * self, uint64_t pn, int n,
		       const int *phase, const int *gen, int err)
{
	static uint8_t plain[BATCH_MAX][PKT_MAX], buf[BATCH_MAX * PKT_MAX];
	uint8_t want[PKT_MAX + QUIC_TAG_LEN], got[PKT_MAX + QUIC_TAG_LEN];
	size_t plen = 200 + quic_rand_range(&self->rng, 0, 800);
	struct quic_send_args a = {
		.addr = (struct sockaddr *)&self->dst,
		.addrlen = sizeof(self->dst),
		.next_pkt_num = pn,
		.cid_len = self->cid_len,
		.gso_size = plen + QUIC_TAG_LEN,
	};
	struct iovec iov = { .iov_base = buf, .iov_len = n * plen };
	ssize_t ret;
	int i;

	ASSERT_LE(n, BATCH_MAX);
	for (i = 0; i < n; i++) {
		size_t h = quic_short_hdr(plain[i], self->cid, self->cid_len,
					  pn + i, 2, phase[i]);

		quic_rand_bytes(&self->rng, plain[i] + h, plen - h);
		memcpy(buf + i * plen, plain[i], plen);
	}
	ret = quic_sendmsg(self->sfd, &iov, 1, &a);
	if (!gen) {
		ASSERT_EQ(-1, ret);
		ASSERT_EQ(err, errno);
		ASSERT_EQ(-1, quic_recv(self->rfd, got, sizeof(got), QUIET_MS));
		return;
	}
	ASSERT_EQ((ssize_t)(n * plen), ret) TH_LOG("sendmsg: %s",
						   strerror(errno));
	for (i = 0; i < n; i++) {
		const struct quic_keys *k = &self->gen[gen[i]].keys;

		ASSERT_EQ((ssize_t)(plen + QUIC_TAG_LEN),
			  quic_recv(self->rfd, got, sizeof(got), RX_WAIT_MS));
		ASSERT_EQ((ssize_t)(plen + QUIC_TAG_LEN),
			  quic_protect(k, plain[i], plen, self->cid_len, pn + i,
				       want)) TH_LOG("%s", quic_error());
		EXPECT_EQ(0, memcmp(got, want, plen + QUIC_TAG_LEN))
			TH_LOG("packet %d (phase %d, generation %d) differs",
			       i, phase[i], gen[i]);
	}
}

/* Added the seed way: one key for every packet, whatever the bit says. */
TEST_F(ku, seed_way_ignores_key_phase)
{
	const int phase[4] = { 0, 1, 1, 0 }, gen[4] = { 0, 0, 0, 0 };

	send_batch(_metadata, self, 100, 4, phase, gen, 0);
	/* A retire needs a key update first. */
	ASSERT_EQ(-1, retire(self, 0));
	ASSERT_EQ(EINVAL, errno);
	send_batch(_metadata, self, 104, 4, phase, gen, 0);
}

/* A GSO batch straddles an update; counters follow. */
TEST_F(ku, batch_straddles_update)
{
	const int phase[8] = { 0, 0, 0, 1, 1, 1, 1, 1 };
	const int gen[8] = { 0, 0, 0, 1, 1, 1, 1, 1 };
	long long upd = quic_stat(-1, "QuicTxKeyUpdate");
	long long ret = quic_stat(-1, "QuicTxKeyRetire");

	ASSERT_GE(upd, 0);
	ASSERT_GE(ret, 0);
	ASSERT_EQ(0, install(self, 1, 1));
	send_batch(_metadata, self, 1000, 8, phase, gen, 0);
	ASSERT_EQ(0, retire(self, 0));
	EXPECT_EQ(upd + 1, quic_stat(-1, "QuicTxKeyUpdate"));
	EXPECT_EQ(ret + 1, quic_stat(-1, "QuicTxKeyRetire"));
}

/* Seven updates in a row, each batch straddling phases. */
TEST_F(ku, update_sequence)
{
	uint64_t pn = 0x10000;
	int g;

	for (g = 1; g < 8; g++) {
		int cur = (g - 1) & 1, nxt = g & 1;
		const int phase[6] = { cur, cur, nxt, nxt, cur, nxt };
		const int gen[6] = { g - 1, g - 1, g, g, g - 1, g };

		ASSERT_EQ(0, install(self, nxt, g));
		send_batch(_metadata, self, pn, 6, phase, gen, 0);
		pn += 6;
		ASSERT_EQ(0, retire(self, cur));
	}
}

/* The first install may name phase 0: the added key becomes phase 1. */
TEST_F(ku, first_install_phase0)
{
	const int phase[4] = { 1, 0, 1, 0 }, gen[4] = { 0, 1, 0, 1 };

	ASSERT_EQ(0, install(self, 0, 1));
	send_batch(_metadata, self, 7, 4, phase, gen, 0);
}

/* Missing phases are refused, counted, and nothing is sent. */
TEST_F(ku, missing_phase)
{
	const int p01[3] = { 1, 0, 1 }, p1[2] = { 1, 1 }, p0[2] = { 0, 0 };
	const int g1[2] = { 1, 1 }, g2[2] = { 2, 2 };
	long long nokey = quic_stat(-1, "QuicTxErrNoKey");

	ASSERT_GE(nokey, 0);
	ASSERT_EQ(0, install(self, 1, 1));
	/* Phase 1 has a key: installing it again is refused. */
	ASSERT_EQ(-1, install(self, 1, 2));
	ASSERT_EQ(EEXIST, errno);
	ASSERT_EQ(0, retire(self, 0));
	ASSERT_EQ(-1, retire(self, 0));
	ASSERT_EQ(ENOENT, errno);

	/* Retired, then sent with the old phase: refused, even mid-batch. */
	send_batch(_metadata, self, 50, 3, p01, NULL, ENOKEY);
	send_batch(_metadata, self, 50, 2, p0, NULL, ENOKEY);
	EXPECT_EQ(nokey + 2, quic_stat(-1, "QuicTxErrNoKey"));
	send_batch(_metadata, self, 50, 2, p1, g1, 0);

	/* Next update fills phase 0 again. */
	ASSERT_EQ(0, install(self, 0, 2));
	send_batch(_metadata, self, 52, 2, p0, g2, 0);

	/* Retire both: every packet is refused. */
	ASSERT_EQ(0, retire(self, 0));
	ASSERT_EQ(0, retire(self, 1));
	send_batch(_metadata, self, 54, 2, p1, NULL, ENOKEY);
	send_batch(_metadata, self, 54, 2, p0, NULL, ENOKEY);

	/* DEL + ADD the seed way starts over with one key. */
	ASSERT_EQ(0, quic_conn_del(self->sfd, self->cid, self->cid_len));
	ASSERT_EQ(0, quic_conn_add(self->sfd, &self->gen[2].keys, self->cid,
				   self->cid_len));
	send_batch(_metadata, self, 56, 2, p01, g2, 0);
}

TEST_F(ku, bad_arguments)
{
	struct quic_tx_key_phase_info info;
	socklen_t len = sizeof(info);
	uint8_t other[8] = { 1 };
	uint8_t longer[sizeof(info) + 1] = { 0 };

	ASSERT_EQ(68, sizeof(info));
	memset(&info, 0, sizeof(info));
	/* A newer, longer struct whose extra byte this kernel cannot honour */
	longer[sizeof(info)] = 1;
	EXPECT_EQ(-1, setsockopt(self->sfd, SOL_UDP, UDP_QUIC_SET_TX_KEY_PHASE,
				 &info, sizeof(info) - 1));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, setsockopt(self->sfd, SOL_UDP, UDP_QUIC_SET_TX_KEY_PHASE,
				 longer, sizeof(longer)));
	EXPECT_EQ(E2BIG, errno);
	EXPECT_EQ(-1, setsockopt(self->sfd, SOL_UDP, UDP_QUIC_SET_TX_KEY_PHASE,
				 (void *)8, sizeof(info)));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, getsockopt(self->sfd, SOL_UDP, UDP_QUIC_SET_TX_KEY_PHASE,
				 &info, &len));
	EXPECT_EQ(ENOPROTOOPT, errno);

	EXPECT_EQ(-1, install(self, 2, 1));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, quic_key_phase(self->sfd, self->cid, self->cid_len, 0, 1,
				     &self->gen[1].keys));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, quic_key_phase(self->sfd, self->cid, self->cid_len, 3, 1,
				     &self->gen[1].keys));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, quic_key_phase(self->sfd, other, sizeof(other),
				     QUIC_KEY_PHASE_INSTALL, 1,
				     &self->gen[1].keys));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(-1, quic_key_phase(self->sfd, self->cid, 21,
				     QUIC_KEY_PHASE_INSTALL, 1,
				     &self->gen[1].keys));
	EXPECT_EQ(EINVAL, errno);

	/* reserved must be zero */
	memcpy(info.key.conn_id + sizeof(info.key.conn_id) - self->cid_len,
	       self->cid, self->cid_len);
	info.key.conn_id_length = self->cid_len;
	info.op = QUIC_KEY_PHASE_INSTALL;
	info.phase = 1;
	info.reserved = 1;
	EXPECT_EQ(-1, setsockopt(self->sfd, SOL_UDP, UDP_QUIC_SET_TX_KEY_PHASE,
				 &info, sizeof(info)));
	EXPECT_EQ(EINVAL, errno);
	info.reserved = 0;
	EXPECT_EQ(0, setsockopt(self->sfd, SOL_UDP, UDP_QUIC_SET_TX_KEY_PHASE,
				&info, sizeof(info)));
}

/* Without the ULP the option is UDP's: unknown. */
TEST(not_attached)
{
	struct quic_tx_key_phase_info info = { .op = QUIC_KEY_PHASE_RETIRE };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	ASSERT_GE(fd, 0);
	EXPECT_EQ(-1, setsockopt(fd, SOL_UDP, UDP_QUIC_SET_TX_KEY_PHASE, &info,
				 sizeof(info)));
	EXPECT_EQ(ENOPROTOOPT, errno);
	close(fd);
}

TEST_HARNESS_MAIN
