// SPDX-License-Identifier: GPL-2.0
/*
 * The HTTP/3 side of h3server: GET /bytes/N answers N bytes of
 * deterministic content and logs their SHA-256; anything else is a 404.
 *
 * The body is a pseudo-random table of a prime number of bytes, repeated.
 * nghttp3 keeps pointers to body data until the peer acknowledges it, and
 * a static table keeps every pointer valid for free, whatever the size of
 * the response. The prime length keeps the repetition from lining up with
 * packet or power-of-two boundaries.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h3server.h"

#define CONTENT_LEN	1048573u	/* prime */
#define CHUNK_MAX	(256 * 1024)	/* body bytes handed over per call */

static uint8_t *content;

struct stream {
	struct stream *next;
	int64_t id;
	char path[256];
	bool bytes;		/* a /bytes/N request */
	bool responded;
	uint64_t len, off;	/* body length, bytes handed to nghttp3 */
	uint64_t acked;
	gnutls_hash_hd_t sha;
};

int h3_init_content(void)
{
	uint64_t s = 0x517cc1b727220a95ull;	/* fixed: the content is too */
	size_t i;

	content = malloc(CONTENT_LEN + 8);
	if (!content)
		return -1;
	for (i = 0; i < CONTENT_LEN; i += 8) {
		uint64_t z;

		/* splitmix64 */
		s += 0x9e3779b97f4a7c15ull;
		z = s;
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		z ^= z >> 31;
		memcpy(content + i, &z, 8);
	}
	return 0;
}

/*
 * The body at offset @off of every /bytes/N response (HTTP/3 and
 * HTTP/0.9 alike): where it is in the table and, in *@len (at most what
 * it was), how many bytes follow there.
 */
const uint8_t *body_at(uint64_t off, uint64_t *len)
{
	size_t pos = off % CONTENT_LEN;

	if (*len > CONTENT_LEN - pos)
		*len = CONTENT_LEN - pos;
	return content + pos;
}

/*
 * GET /bytes/N answers N bytes; /bytes/N?keyupdate=P also makes the
 * server update its keys every P packets from then on. False for any
 * other path.
 */
bool bytes_request(struct conn *c, const char *p, uint64_t *len)
{
	unsigned long long n, ku = 0;
	char *end;

	if (strncmp(p, "/bytes/", 7) || p[7] < '0' || p[7] > '9')
		return false;
	n = strtoull(p + 7, &end, 10);
	if (!strncmp(end, "?keyupdate=", 11) && end[11] >= '0' &&
	    end[11] <= '9')
		ku = strtoull(end + 11, &end, 10);
	if (*end)
		return false;
	if (ku)
		c->key_update_pkts = ku;
	*len = n;
	return true;
}

static struct stream *find_stream(struct conn *c, int64_t id)
{
	struct stream *s;

	for (s = c->streams; s; s = s->next)
		if (s->id == id)
			return s;
	return NULL;
}

static struct stream *get_stream(struct conn *c, int64_t id)
{
	struct stream *s = find_stream(c, id);

	if (s)
		return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->id = id;
	s->next = c->streams;
	c->streams = s;
	return s;
}

static void free_stream(struct conn *c, struct stream *s)
{
	struct stream **p;

	for (p = &c->streams; *p; p = &(*p)->next) {
		if (*p == s) {
			*p = s->next;
			break;
		}
	}
	if (s->sha)
		gnutls_hash_deinit(s->sha, NULL);
	free(s);
}

static nghttp3_ssize read_body(nghttp3_conn *h3, int64_t stream_id,
			       nghttp3_vec *vec, size_t veccnt,
			       uint32_t *pflags, void *conn_user_data,
			       void *stream_user_data)
{
	struct stream *s = stream_user_data;
	uint64_t budget = CHUNK_MAX;
	size_t n = 0;

	while (n < veccnt && s->off < s->len && budget) {
		uint64_t len = s->len - s->off < budget ? s->len - s->off :
			       budget;
		const uint8_t *p = body_at(s->off, &len);

		vec[n].base = (uint8_t *)p;
		vec[n].len = len;
		/* each body byte is handed over exactly once, in order */
		gnutls_hash(s->sha, p, len);
		s->off += len;
		budget -= len;
		n++;
	}
	if (s->off == s->len)
		*pflags |= NGHTTP3_DATA_FLAG_EOF;
	return n;
}

static nghttp3_nv mknv(const char *name, const char *value)
{
	nghttp3_nv nv = {
		.name = (uint8_t *)name,
		.value = (uint8_t *)value,
		.namelen = strlen(name),
		.valuelen = strlen(value),
		.flags = NGHTTP3_NV_FLAG_NONE,
	};

	return nv;
}

static int respond(struct conn *c, struct stream *s)
{
	static const nghttp3_data_reader dr = { .read_data = read_body };
	char lenbuf[32];
	nghttp3_nv nva[3];

	s->responded = true;
	c->requests++;
	s->bytes = bytes_request(c, s->path, &s->len);
	if (!s->bytes) {
		logmsg("conn %u: stream %lld: %s: 404\n", c->id,
		       (long long)s->id, s->path);
		nva[0] = mknv(":status", "404");
		return nghttp3_conn_submit_response(c->h3, s->id, nva, 1, NULL);
	}
	if (gnutls_hash_init(&s->sha, GNUTLS_DIG_SHA256) < 0)
		return -1;
	snprintf(lenbuf, sizeof(lenbuf), "%llu", (unsigned long long)s->len);
	nva[0] = mknv(":status", "200");
	nva[1] = mknv("content-type", "application/octet-stream");
	nva[2] = mknv("content-length", lenbuf);
	nghttp3_conn_set_stream_user_data(c->h3, s->id, s);
	return nghttp3_conn_submit_response(c->h3, s->id, nva, 3, &dr);
}

static int cb_begin_headers(nghttp3_conn *h3, int64_t stream_id,
			    void *conn_user_data, void *stream_user_data)
{
	struct conn *c = conn_user_data;
	struct stream *s = get_stream(c, stream_id);

	if (!s)
		return NGHTTP3_ERR_CALLBACK_FAILURE;
	nghttp3_conn_set_stream_user_data(h3, stream_id, s);
	return 0;
}

static int cb_recv_header(nghttp3_conn *h3, int64_t stream_id, int32_t token,
			  nghttp3_rcbuf *name, nghttp3_rcbuf *value,
			  uint8_t flags, void *conn_user_data,
			  void *stream_user_data)
{
	struct stream *s = stream_user_data;
	nghttp3_vec v = nghttp3_rcbuf_get_buf(value);

	if (s && token == NGHTTP3_QPACK_TOKEN__PATH) {
		size_t n = v.len < sizeof(s->path) - 1 ? v.len :
			   sizeof(s->path) - 1;

		memcpy(s->path, v.base, n);
		s->path[n] = 0;
	}
	return 0;
}

static int cb_end_stream(nghttp3_conn *h3, int64_t stream_id,
			 void *conn_user_data, void *stream_user_data)
{
	struct conn *c = conn_user_data;
	struct stream *s = stream_user_data;

	if (!s || s->responded)
		return 0;
	return respond(c, s) ? NGHTTP3_ERR_CALLBACK_FAILURE : 0;
}

/* request bodies are ignored, but their flow control credit is returned */
static int consume(struct conn *c, int64_t stream_id, size_t n)
{
	ngtcp2_conn_extend_max_stream_offset(c->q, stream_id, n);
	ngtcp2_conn_extend_max_offset(c->q, n);
	return 0;
}

static int cb_recv_data(nghttp3_conn *h3, int64_t stream_id,
			const uint8_t *data, size_t datalen,
			void *conn_user_data, void *stream_user_data)
{
	return consume(conn_user_data, stream_id, datalen);
}

static int cb_deferred_consume(nghttp3_conn *h3, int64_t stream_id,
			       size_t consumed, void *conn_user_data,
			       void *stream_user_data)
{
	return consume(conn_user_data, stream_id, consumed);
}

static int cb_acked_stream_data(nghttp3_conn *h3, int64_t stream_id,
				uint64_t datalen, void *conn_user_data,
				void *stream_user_data)
{
	struct stream *s = stream_user_data;

	if (s)
		s->acked += datalen;
	return 0;
}

/*
 * Log what a /bytes/N stream served: the SHA-256 of every body byte handed
 * to nghttp3. The stream may end with the connection, before the last
 * acknowledgement arrived (the client closes as soon as it has the body),
 * so only a body not handed over completely is flagged.
 */
static void report_stream(struct conn *c, struct stream *s)
{
	if (!s->bytes)
		return;
	log_served(c->id, s->id, s->path, s->sha, s->off, s->acked, s->len);
	s->bytes = false;
}

/* The line the tests parse, for h3 and hq streams alike */
void log_served(unsigned int conn, int64_t id, const char *path,
		gnutls_hash_hd_t sha, uint64_t off, uint64_t acked,
		uint64_t len)
{
	uint8_t md[32];
	char hex[65];
	int i;

	gnutls_hash_output(sha, md);
	for (i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	logmsg("conn %u: stream %lld: served %s: %llu bytes sha256 %s (%llu acked)%s\n",
	       conn, (long long)id, path, (unsigned long long)off, hex,
	       (unsigned long long)acked, off == len ? "" : " INCOMPLETE");
}

static int cb_stream_close(nghttp3_conn *h3, int64_t stream_id,
			   uint64_t app_error_code, void *conn_user_data,
			   void *stream_user_data)
{
	struct conn *c = conn_user_data;
	struct stream *s = find_stream(c, stream_id);

	if (!s)
		return 0;
	report_stream(c, s);
	free_stream(c, s);
	if (!ngtcp2_conn_is_local_stream(c->q, stream_id) &&
	    ngtcp2_is_bidi_stream(stream_id))
		ngtcp2_conn_extend_max_streams_bidi(c->q, 1);
	return 0;
}

static int cb_stop_sending(nghttp3_conn *h3, int64_t stream_id,
			   uint64_t app_error_code, void *conn_user_data,
			   void *stream_user_data)
{
	struct conn *c = conn_user_data;

	return ngtcp2_conn_shutdown_stream_read(c->q, stream_id,
						app_error_code) ?
	       NGHTTP3_ERR_CALLBACK_FAILURE : 0;
}

static int cb_reset_stream(nghttp3_conn *h3, int64_t stream_id,
			   uint64_t app_error_code, void *conn_user_data,
			   void *stream_user_data)
{
	struct conn *c = conn_user_data;

	return ngtcp2_conn_shutdown_stream_write(c->q, stream_id,
						 app_error_code) ?
	       NGHTTP3_ERR_CALLBACK_FAILURE : 0;
}

int h3_setup(struct conn *c)
{
	static const nghttp3_callbacks cbs = {
		.acked_stream_data = cb_acked_stream_data,
		.stream_close = cb_stream_close,
		.recv_data = cb_recv_data,
		.deferred_consume = cb_deferred_consume,
		.begin_headers = cb_begin_headers,
		.recv_header = cb_recv_header,
		.end_stream = cb_end_stream,
		.stop_sending = cb_stop_sending,
		.reset_stream = cb_reset_stream,
	};
	const ngtcp2_transport_params *lp;
	nghttp3_settings settings;
	int64_t ctrl, qenc, qdec;

	if (c->h3)
		return 0;
	nghttp3_settings_default(&settings);
	settings.qpack_max_dtable_capacity = 4096;
	settings.qpack_blocked_streams = 100;
	if (nghttp3_conn_server_new(&c->h3, &cbs, &settings, NULL, c))
		return -1;
	lp = ngtcp2_conn_get_local_transport_params(c->q);
	nghttp3_conn_set_max_client_streams_bidi(c->h3,
						 lp->initial_max_streams_bidi);
	if (ngtcp2_conn_open_uni_stream(c->q, &ctrl, NULL) ||
	    ngtcp2_conn_open_uni_stream(c->q, &qenc, NULL) ||
	    ngtcp2_conn_open_uni_stream(c->q, &qdec, NULL))
		return -1;
	if (nghttp3_conn_bind_control_stream(c->h3, ctrl) ||
	    nghttp3_conn_bind_qpack_streams(c->h3, qenc, qdec))
		return -1;
	return 0;
}

void h3_free(struct conn *c)
{
	while (c->streams) {
		report_stream(c, c->streams);
		free_stream(c, c->streams);
	}
	if (c->h3)
		nghttp3_conn_del(c->h3);
	c->h3 = NULL;
}

int h3_recv_stream_data(struct conn *c, uint32_t flags, int64_t stream_id,
			const uint8_t *data, size_t datalen)
{
	nghttp3_ssize n;

	if (h3_setup(c))
		return -1;
	n = nghttp3_conn_read_stream(c->h3, stream_id, data, datalen,
				     flags & NGTCP2_STREAM_DATA_FLAG_FIN);
	if (n < 0) {
		logmsg("conn %u: nghttp3_conn_read_stream: %s\n", c->id,
		       nghttp3_strerror(n));
		return -1;
	}
	return consume(c, stream_id, n);
}

int h3_acked(struct conn *c, int64_t stream_id, uint64_t datalen)
{
	if (!c->h3)
		return 0;
	return nghttp3_conn_add_ack_offset(c->h3, stream_id, datalen) ? -1 : 0;
}

int h3_stream_close(struct conn *c, uint32_t flags, int64_t stream_id,
		    uint64_t app_error_code)
{
	int rv;

	if (!c->h3)
		return 0;
	if (!(flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET))
		app_error_code = NGHTTP3_H3_NO_ERROR;
	rv = nghttp3_conn_close_stream(c->h3, stream_id, app_error_code);
	if (rv && rv != NGHTTP3_ERR_STREAM_NOT_FOUND)
		return -1;
	return 0;
}

int h3_stream_reset(struct conn *c, int64_t stream_id)
{
	if (!c->h3)
		return 0;
	return nghttp3_conn_shutdown_stream_read(c->h3, stream_id) ? -1 : 0;
}

int h3_unblock(struct conn *c, int64_t stream_id)
{
	if (!c->h3)
		return 0;
	return nghttp3_conn_unblock_stream(c->h3, stream_id) ? -1 : 0;
}

int h3_max_bidi(struct conn *c, uint64_t max_streams)
{
	if (c->h3)
		nghttp3_conn_set_max_client_streams_bidi(c->h3, max_streams);
	return 0;
}
