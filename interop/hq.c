// SPDX-License-Identifier: GPL-2.0
/*
 * The HTTP/0.9 side of h3server, for clients that offer the ALPN
 * "hq-interop" (the QUIC interop runner's protocol) instead of h3: on each
 * bidirectional stream the client sends "GET /path" and the FIN, and the
 * server answers the body, then its own FIN. There are no headers: a path
 * other than /bytes/N gets an empty body. The bodies, and the SHA-256 of
 * what was served that the tests compare with the client's file, are the
 * same as over HTTP/3 (h3.c).
 *
 * ngtcp2 keeps pointers to stream data until it is acknowledged; the
 * bodies point into h3.c's static table, which never moves.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h3server.h"

#define REQ_MAX		512		/* longest request line kept */
#define CHUNK_MAX	(256 * 1024)	/* body bytes offered per write */

struct hq_stream {
	struct hq_stream *next;
	int64_t id;
	char req[REQ_MAX + 1];
	size_t reqlen;
	char path[256];
	bool responded;
	bool bytes;		/* a /bytes/N request */
	bool blocked;		/* by flow control */
	bool done;		/* FIN sent, or the client stopped reading */
	uint64_t len, off;	/* body length, bytes handed to ngtcp2 */
	uint64_t acked;
	gnutls_hash_hd_t sha;
};

static struct hq_stream *find(struct conn *c, int64_t id)
{
	struct hq_stream *s;

	for (s = c->hq_streams; s; s = s->next)
		if (s->id == id)
			return s;
	return NULL;
}

static void report(struct conn *c, struct hq_stream *s)
{
	if (!s->bytes)
		return;
	log_served(c->id, s->id, s->path, s->sha, s->off, s->acked, s->len);
	s->bytes = false;
}

static void free_stream(struct conn *c, struct hq_stream *s)
{
	struct hq_stream **p;

	for (p = &c->hq_streams; *p; p = &(*p)->next) {
		if (*p == s) {
			*p = s->next;
			break;
		}
	}
	if (c->hq_last == s)
		c->hq_last = NULL;
	if (s->sha)
		gnutls_hash_deinit(s->sha, NULL);
	free(s);
}

/* Parse "GET /path" and start the response. */
static int respond(struct conn *c, struct hq_stream *s)
{
	char *line = s->req, *end;
	size_t n;

	s->responded = true;
	c->requests++;
	line[strcspn(line, "\r\n")] = 0;
	if (!strncmp(line, "GET ", 4)) {
		line += 4;
		n = strcspn(line, " \t");
		if (n >= sizeof(s->path))
			n = sizeof(s->path) - 1;
		memcpy(s->path, line, n);
		s->path[n] = 0;
		end = line + n;
		/* HTTP/0.9 has nothing after the path */
		if (!*end)
			s->bytes = bytes_request(c, s->path, &s->len);
	}
	if (!s->bytes) {
		logmsg("conn %u: stream %lld: %s: 404\n", c->id,
		       (long long)s->id, s->path[0] ? s->path : s->req);
		s->len = 0;
		return 0;
	}
	return gnutls_hash_init(&s->sha, GNUTLS_DIG_SHA256) < 0 ? -1 : 0;
}

int hq_recv_stream_data(struct conn *c, uint32_t flags, int64_t stream_id,
			const uint8_t *data, size_t datalen)
{
	bool fin = flags & NGTCP2_STREAM_DATA_FLAG_FIN;
	struct hq_stream *s;
	size_t room;

	/* the credit comes back at once: nothing is kept but the request */
	ngtcp2_conn_extend_max_stream_offset(c->q, stream_id, datalen);
	ngtcp2_conn_extend_max_offset(c->q, datalen);
	if (!ngtcp2_is_bidi_stream(stream_id) ||
	    ngtcp2_conn_is_local_stream(c->q, stream_id))
		return 0;
	s = find(c, stream_id);
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -1;
		s->id = stream_id;
		s->next = c->hq_streams;
		c->hq_streams = s;
	}
	if (s->responded)
		return 0;
	if (flags & NGTCP2_STREAM_DATA_FLAG_EARLY && opt.verbose)
		logmsg("conn %u: stream %lld: request in 0-RTT\n", c->id,
		       (long long)stream_id);
	room = REQ_MAX - s->reqlen;
	if (datalen > room)
		datalen = room;
	memcpy(s->req + s->reqlen, data, datalen);
	s->reqlen += datalen;
	s->req[s->reqlen] = 0;
	/* the line ends at its newline, at the FIN, or when it is too long */
	if (fin || memchr(s->req, '\n', s->reqlen) || s->reqlen == REQ_MAX)
		return respond(c, s);
	return 0;
}

/*
 * The body data of the next stream that has some to send, round robin so
 * that concurrent streams share the packets; the FIN alone once the body
 * has been handed over. *@stream_id is -1 when no stream has anything.
 */
int hq_writev_stream(struct conn *c, int64_t *stream_id, int *fin,
		     ngtcp2_vec *vec, size_t veccnt)
{
	struct hq_stream *start, *s;
	uint64_t off, budget = CHUNK_MAX;
	size_t n = 0;

	*stream_id = -1;
	*fin = 0;
	start = c->hq_last && c->hq_last->next ? c->hq_last->next :
		c->hq_streams;
	s = start;
	do {
		if (!s)
			return 0;
		if (s->responded && !s->done && !s->blocked)
			break;
		s = s->next ? s->next : c->hq_streams;
	} while (s != start);
	if (!s->responded || s->done || s->blocked)
		return 0;
	c->hq_last = s;
	*stream_id = s->id;
	for (off = s->off; n < veccnt && off < s->len && budget; n++) {
		uint64_t len = s->len - off < budget ? s->len - off : budget;

		vec[n].base = (uint8_t *)body_at(off, &len);
		vec[n].len = len;
		off += len;
		budget -= len;
	}
	*fin = off == s->len;
	return n;
}

/* ngtcp2 took @datalen bytes of the stream (and its FIN, if @fin and all). */
void hq_written(struct conn *c, int64_t stream_id, size_t datalen, int fin)
{
	struct hq_stream *s = find(c, stream_id);

	if (!s)
		return;
	/* each body byte is hashed once, when ngtcp2 takes it, in order */
	while (datalen) {
		uint64_t len = datalen;
		const uint8_t *p = body_at(s->off, &len);

		if (s->sha)
			gnutls_hash(s->sha, p, len);
		s->off += len;
		datalen -= len;
	}
	if (fin && s->off == s->len)
		s->done = true;
}

void hq_block(struct conn *c, int64_t stream_id, bool blocked)
{
	struct hq_stream *s = find(c, stream_id);

	if (s)
		s->blocked = blocked;
}

/* The client sent STOP_SENDING (or the stream is gone): stop writing. */
void hq_shutdown_write(struct conn *c, int64_t stream_id)
{
	struct hq_stream *s = find(c, stream_id);

	if (s)
		s->done = true;
}

void hq_acked(struct conn *c, int64_t stream_id, uint64_t datalen)
{
	struct hq_stream *s = find(c, stream_id);

	if (s)
		s->acked += datalen;
}

void hq_stream_close(struct conn *c, int64_t stream_id)
{
	struct hq_stream *s = find(c, stream_id);

	if (s) {
		report(c, s);
		free_stream(c, s);
	}
	if (!ngtcp2_conn_is_local_stream(c->q, stream_id) &&
	    ngtcp2_is_bidi_stream(stream_id))
		ngtcp2_conn_extend_max_streams_bidi(c->q, 1);
}

void hq_free(struct conn *c)
{
	while (c->hq_streams) {
		report(c, c->hq_streams);
		free_stream(c, c->hq_streams);
	}
}
