/*
 * loadgen_bt: the peer-wire mode of loadgen (see loadgen.c for the run).
 *
 * What a connection does: handshake (setup, blocking) with the torrent's v1
 * info-hash, or with --v2 the v2 info-hash truncated to 20 bytes and the v2
 * reserved bit; the fast-extension bit always. Then interested; once
 * unchoked it keeps --depth 16 KiB requests in flight, a whole piece at a
 * time: a piece is opened in a free slot, its blocks requested in order,
 * and the next piece is opened only when every block of the open ones has
 * been requested. A complete piece is hashed at the end of the loop turn,
 * together with every other piece completed in that turn (the multi-buffer
 * hashes want many messages at once), and its slot is freed.
 *
 * Invariants, per connection: inflight == the number of blocks in state
 * REQ over all slots (requests sent or queued to send and not yet answered);
 * a slot's `again` == its blocks in state WANT below `next` (rejected, or
 * dropped by a choke from a peer without the fast extension: they are
 * requested again first). A peer with the fast extension keeps its
 * requests across a choke (BEP 6: it answers or rejects each), so a choke
 * changes nothing but the right to send new requests.
 *
 * Slots: ceil(depth * 16 KiB / piece length) + 1 per connection, each with
 * a piece-sized buffer, allocated at start; one slot can be complete and
 * waiting for the hash while the others keep the window full. Short pieces
 * (the last piece of each v2 file) can leave fewer than --depth requests in
 * flight for a moment.
 */
#include "loadgen_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "bencode.h"
#include "byteio.h"
#include "hash.h"
#include "hex.h"
#include "mem.h"
#include "merkle.h"
#include "metainfo.h"

#define HS_LEN	       68
#define KEEPALIVE_NS   60000000000ull
#define MAX_TREE_DEPTH 64
#define OP_RECV	       0u
#define OP_SEND	       1u

enum {
	MSG_CHOKE = 0,
	MSG_UNCHOKE = 1,
	MSG_HAVE = 4,
	MSG_BITFIELD = 5,
	MSG_PIECE = 7,
	MSG_HAVE_ALL = 14,
	MSG_HAVE_NONE = 15,
	MSG_REJECT = 16
};

enum { H_SHA1, H_ROOT, H_LAYER }; /* what bt_piece.hash is */
enum { B_WANT = 0, B_REQ = 1, B_HAVE = 2 };

struct bt_piece {
	uint32_t len; /* bytes requested: v1 with pad zeros, v2 the file's bytes */
	uint8_t kind;
	const uint8_t *hash; /* into the torrent buffer */
};

/* Shared, read-only once setup returns. */
struct bt_tor {
	uint8_t *file;
	struct bencode_doc *doc;
	uint8_t ih[20];	 /* what we handshake with */
	char ih_hex[65]; /* the full info-hash, for messages */
	uint64_t piece_len;
	uint32_t n_pieces, piece_blocks;
	struct bt_piece *pieces;
	size_t cap;
	uint8_t *peer_fast; /* per connection: the peer set the fast bit */
};

struct bt_slot {
	int64_t piece; /* -1: free */
	uint32_t len, n_blocks, next, done, again;
	uint8_t *data;	/* piece buffer */
	uint64_t *sent; /* per block: when requested */
	uint8_t *state; /* per block: B_* */
};

struct bt_conn {
	int fd;
	uint32_t idx;
	uint8_t *rbuf;
	uint32_t rlen;
	uint64_t skip; /* bytes of an ignored oversized message still to drop */
	uint8_t *sbuf;
	uint32_t slen, scap;
	uint32_t inflight;
	bool choked, fast, has_any, closing, recv_posted, send_posted;
	uint8_t *have;
	uint32_t seq; /* sequential pattern: next piece to open */
	struct bt_slot *slots;
	uint64_t last_send;
};

struct bt_vq {
	struct bt_conn *c;
	struct bt_slot *s;
	uint32_t leaf0; /* v2: its first leaf in the digest array */
};

struct bt_worker {
	struct bt_conn *conns;
	uint32_t n, n_slots;
	struct bt_vq *vq;
	uint32_t nvq;
	struct hash_job *jobs;
	uint8_t *digests; /* 32 bytes per job */
	struct hash_ctx *h;
	uint8_t *arena;
	size_t arena_len;
	void *small; /* one calloc for sbufs, bitmaps, block states and times */
};

/* ---- the torrent ---- */

static int tor_add_piece(struct bt_tor *t, uint32_t len, uint8_t kind, const uint8_t *hash)
{
	if (t->n_pieces == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 1024;
		struct bt_piece *p = realloc(t->pieces, cap * sizeof(*p));

		if (!p)
			return -1;
		t->pieces = p;
		t->cap = cap;
	}
	t->pieces[t->n_pieces++] = (struct bt_piece){ .len = len, .kind = kind, .hash = hash };
	return 0;
}

static int get_uint(const struct bencode_node *d, const char *key, uint64_t *out)
{
	const struct bencode_node *n = bencode_dict_get(d, key);

	if (!n || n->type != BENCODE_INT || n->u.i < 0)
		return -1;
	*out = (uint64_t)n->u.i;
	return 0;
}

static int load_v1(struct bt_tor *t, const struct bencode_node *info, const char *path)
{
	const struct bencode_node *pieces = bencode_dict_get(info, "pieces");
	const struct bencode_node *files = bencode_dict_get(info, "files");
	uint64_t total = 0, len, n;

	if (!pieces || pieces->type != BENCODE_STR) {
		fprintf(stderr,
			"loadgen: %s has no v1 piece hashes: a v2-only torrent needs --v2\n", path);
		return -1;
	}
	if (files) {
		if (files->type != BENCODE_LIST)
			goto bad;
		for (size_t i = 0; i < files->u.list.n; i++) {
			if (get_uint(files->u.list.items[i], "length", &len))
				goto bad;
			total += len;
		}
	} else if (get_uint(info, "length", &total)) {
		goto bad;
	}
	n = total / t->piece_len + (total % t->piece_len != 0);
	if (pieces->u.s.len != n * 20) {
		fprintf(stderr, "loadgen: %s: %zu bytes of piece hashes for %llu pieces\n", path,
			pieces->u.s.len, (unsigned long long)n);
		return -1;
	}
	/* BEP 47 pads sit inside pieces: the seed sends their zeros, the
	 * piece hash covers them, so a v1 piece is simply piece_len bytes */
	for (uint64_t i = 0; i < n; i++) {
		uint64_t left = total - i * t->piece_len;

		if (tor_add_piece(t, (uint32_t)(left < t->piece_len ? left : t->piece_len), H_SHA1,
				  pieces->u.s.p + 20 * i))
			return -1;
	}
	return 0;
bad:
	fprintf(stderr, "loadgen: %s: malformed v1 file list\n", path);
	return -1;
}

/* Files in "file tree" order (dict keys sorted: the canonical order, the
 * one hybrids and the seed number pieces in); each file starts a piece. */
static int walk_tree(struct bt_tor *t, const struct bencode_node *dir,
		     const struct bencode_node *layers, unsigned depth, const char *path)
{
	if (dir->type != BENCODE_DICT || depth > MAX_TREE_DEPTH)
		goto bad;
	for (size_t i = 0; i < dir->u.dict.n; i++) {
		const struct bencode_kv *kv = &dir->u.dict.items[i];
		const struct bencode_node *root, *layer;
		uint64_t len, np;

		if (kv->key_len) {
			if (walk_tree(t, kv->val, layers, depth + 1, path))
				return -1;
			continue;
		}
		if (get_uint(kv->val, "length", &len))
			goto bad;
		if (!len)
			continue;
		root = bencode_dict_get(kv->val, "pieces root");
		if (!root || root->type != BENCODE_STR || root->u.s.len != 32)
			goto bad;
		np = len / t->piece_len + (len % t->piece_len != 0);
		if (len <= t->piece_len) {
			/* BEP 52 keeps no layer for one-piece files: the piece's
			 * tree is the file's tree and its root the pieces root */
			if (tor_add_piece(t, (uint32_t)len, H_ROOT, root->u.s.p))
				return -1;
			continue;
		}
		layer = layers ? bencode_dict_getn(layers, root->u.s.p, 32) : NULL;
		if (!layer || layer->type != BENCODE_STR || layer->u.s.len != np * 32) {
			fprintf(stderr, "loadgen: %s: no piece layer of %llu hashes for a file\n",
				path, (unsigned long long)np);
			return -1;
		}
		for (uint64_t k = 0; k < np; k++) {
			uint64_t left = len - k * t->piece_len;

			if (tor_add_piece(t, (uint32_t)(left < t->piece_len ? left : t->piece_len),
					  H_LAYER, layer->u.s.p + 32 * k))
				return -1;
		}
	}
	return 0;
bad:
	fprintf(stderr, "loadgen: %s: malformed v2 file tree\n", path);
	return -1;
}

static int read_file(const char *path, uint8_t **out, size_t *out_len)
{
	struct stat sb;
	uint8_t *buf;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &sb) < 0) {
		fprintf(stderr, "loadgen: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	buf = malloc((size_t)sb.st_size + 1);
	while (buf && got < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (!buf || got != (size_t)sb.st_size) {
		fprintf(stderr, "loadgen: %s: short read\n", path);
		free(buf);
		return -1;
	}
	*out = buf;
	*out_len = got;
	return 0;
}

static int load_torrent(struct bt_tor *t, const char *path, bool v2)
{
	const struct bencode_node *root, *info, *mv;
	struct hash_ctx *h = NULL;
	struct seed_err err;
	uint8_t digest[32];
	size_t len;

	seed_err_clear(&err);
	if (read_file(path, &t->file, &len))
		return -1;
	if (bencode_parse(t->file, t->file + len, NULL, &t->doc, &err)) {
		fprintf(stderr, "loadgen: %s: %s\n", path, err.msg);
		return -1;
	}
	root = bencode_root(t->doc);
	info = bencode_dict_get(root, "info");
	if (!info || info->type != BENCODE_DICT || get_uint(info, "piece length", &t->piece_len) ||
	    t->piece_len < LG_BLOCK || t->piece_len > METAINFO_MAX_PIECE) {
		fprintf(stderr, "loadgen: %s: no info dict with a usable piece length\n", path);
		return -1;
	}
	if (hash_ctx_create(HASH_IMPL_OPENSSL, &h, &err)) {
		fprintf(stderr, "loadgen: %s\n", err.msg);
		return -1;
	}
	if (v2) {
		const struct bencode_node *tree = bencode_dict_get(info, "file tree");

		mv = bencode_dict_get(info, "meta version");
		if (!mv || mv->type != BENCODE_INT || mv->u.i != 2 || !tree) {
			fprintf(stderr, "loadgen: %s is not a v2 or hybrid torrent (--v2)\n", path);
			goto fail;
		}
		if (t->piece_len & (t->piece_len - 1)) {
			fprintf(stderr, "loadgen: %s: v2 piece length is not a power of two\n",
				path);
			goto fail;
		}
		t->piece_blocks = (uint32_t)(t->piece_len / LG_BLOCK);
		if (walk_tree(t, tree, bencode_dict_get(root, "piece layers"), 0, path))
			goto fail;
		if (metainfo_info_hash(h, info->raw, info->raw_len, NULL, digest) < 0)
			goto fail;
		hex_encode(digest, 32, t->ih_hex);
	} else {
		if (load_v1(t, info, path))
			goto fail;
		if (metainfo_info_hash(h, info->raw, info->raw_len, digest, NULL) < 0)
			goto fail;
		hex_encode(digest, 20, t->ih_hex);
	}
	memcpy(t->ih, digest, 20);
	hash_ctx_destroy(h);
	if (!t->n_pieces) {
		fprintf(stderr, "loadgen: %s has no data to request\n", path);
		return -1;
	}
	return 0;
fail:
	hash_ctx_destroy(h);
	return -1;
}

/* ---- setup: connect and handshake every connection ---- */

/* Sends connection i's handshake; hs_recv takes the answer. Apart, so all
 * connections wait for their answers at once: a seed that answers in
 * batches (Transmission, every ~500 ms) is not waited for N times. */
static int hs_send(const struct lg_ctx *ctx, const struct bt_tor *t, int fd, uint32_t i)
{
	uint8_t hs[HS_LEN];

	hs[0] = 19;
	memcpy(hs + 1, "BitTorrent protocol", 19);
	memset(hs + 20, 0, 8);
	hs[27] = 0x04 | (ctx->o.v2 ? 0x10 : 0); /* fast (BEP 6), v2 upgrade (BEP 52) */
	memcpy(hs + 28, t->ih, 20);
	/* distinct per connection and per run: peers drop a second connection
	 * with a peer id they already have */
	char id[21];
	snprintf(id, sizeof(id), "-LG0001-%04x%08x", (unsigned)getpid() & 0xffff, i);
	memcpy(hs + 48, id, 20);
	if (send(fd, hs, HS_LEN, MSG_NOSIGNAL) != HS_LEN) {
		fprintf(stderr, "loadgen: %s: sending the handshake: %s\n", ctx->addr_str,
			strerror(errno));
		return -1;
	}
	return 0;
}

static int hs_recv(const struct lg_ctx *ctx, struct bt_tor *t, int fd, uint32_t i)
{
	uint8_t in[HS_LEN];
	char got_hex[41];
	ssize_t n;

	n = recv(fd, in, HS_LEN, MSG_WAITALL);
	if (n != HS_LEN) {
		if (n >= 0)
			fprintf(stderr,
				"loadgen: %s closed connection %u during the handshake for "
				"info-hash %s: is this torrent served there?\n",
				ctx->addr_str, i, t->ih_hex);
		else
			fprintf(stderr,
				"loadgen: %s: no handshake answer for info-hash %s on "
				"connection %u: %s\n",
				ctx->addr_str, t->ih_hex, i, strerror(errno));
		return -1;
	}
	if (in[0] != 19 || memcmp(in + 1, "BitTorrent protocol", 19)) {
		fprintf(stderr, "loadgen: %s did not answer with a BitTorrent handshake\n",
			ctx->addr_str);
		return -1;
	}
	if (memcmp(in + 28, t->ih, 20)) {
		hex_encode(in + 28, 20, got_hex);
		fprintf(stderr,
			"loadgen: handshake mismatch from %s: we asked for info-hash %s, it "
			"answered %s\n",
			ctx->addr_str, t->ih_hex, got_hex);
		return -1;
	}
	t->peer_fast[i] = (in[27] & 0x04) != 0;
	return 0;
}

/* Each connection sends its handshake as it opens; the answers are read
 * once all are open. */
static int hs_opened(struct lg_ctx *ctx, int fd, uint32_t i)
{
	return hs_send(ctx, ctx->mode, fd, i);
}

static int bt_setup(struct lg_ctx *ctx)
{
	struct bt_tor *t = calloc(1, sizeof(*t));
	char host[256];
	const char *colon = strrchr(ctx->o.peer, ':');

	ctx->mode = t;
	ctx->variant = ctx->o.v2 ? "v2" : "v1";
	if (!t || load_torrent(t, ctx->o.torrent, ctx->o.v2))
		return -1;
	if (!colon || colon == ctx->o.peer || !colon[1] ||
	    (size_t)(colon - ctx->o.peer) >= sizeof(host)) {
		fprintf(stderr, "loadgen: --peer \"%s\": expected HOST:PORT\n", ctx->o.peer);
		return -1;
	}
	memcpy(host, ctx->o.peer, (size_t)(colon - ctx->o.peer));
	host[colon - ctx->o.peer] = 0;
	if (lg_resolve(ctx, host, colon + 1))
		return -1;
	t->peer_fast = calloc(ctx->o.conns, 1);
	if (!t->peer_fast || lg_connect_all(ctx, hs_opened))
		return -1;
	for (uint32_t i = 0; i < ctx->o.conns; i++) {
		if (hs_recv(ctx, t, ctx->fds[i], i) || lg_sock_ready(ctx->fds[i])) {
			for (uint32_t k = 0; k < ctx->o.conns; k++)
				close(ctx->fds[k]);
			return -1;
		}
	}
	return 0;
}

static void bt_ctx_fini(struct lg_ctx *ctx)
{
	struct bt_tor *t = ctx->mode;

	if (t) {
		bencode_free(t->doc);
		free(t->file);
		free(t->pieces);
		free(t->peer_fast);
		free(t);
	}
	free(ctx->fds);
}

/* ---- per worker ---- */

static int bt_worker_init(struct lg_worker *w)
{
	const struct bt_tor *t = w->ctx->mode;
	const struct lg_opts *o = &w->ctx->o;
	struct bt_worker *bw = calloc(1, sizeof(*bw));
	struct seed_err err;
	uint32_t max_blocks = (uint32_t)((t->piece_len + LG_BLOCK - 1) / LG_BLOCK);
	uint32_t scap = HS_LEN + 5 + 17 * o->depth + 64;
	size_t have_len = (t->n_pieces + 7) / 8, per_conn, small_per, jobs_n;
	uint64_t phys = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
	uint8_t *sp;

	if (!bw)
		return -1;
	w->mode = bw;
	bw->n = w->n_fds;
	bw->n_slots =
		(uint32_t)(((uint64_t)o->depth * LG_BLOCK + t->piece_len - 1) / t->piece_len) + 1;
	per_conn = LG_RBUF + (size_t)bw->n_slots * t->piece_len;
	/* pieces are assembled whole: refuse what would not fit rather than swap */
	if ((uint64_t)per_conn * o->conns > phys / 2) {
		fprintf(stderr,
			"loadgen: %u connections x %u piece buffers of %llu bytes need %.1f GiB; "
			"lower --conns or --depth\n",
			o->conns, bw->n_slots, (unsigned long long)t->piece_len,
			(double)per_conn * o->conns / (double)(1ull << 30));
		return -1;
	}
	bw->arena_len = per_conn * bw->n;
	bw->arena = mmap(NULL, bw->arena_len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	small_per = scap + have_len + (size_t)bw->n_slots * max_blocks * (sizeof(uint64_t) + 1);
	small_per = (small_per + 15) & ~(size_t)15;
	bw->small = calloc(bw->n, small_per);
	bw->conns = calloc(bw->n, sizeof(*bw->conns));
	jobs_n = (size_t)bw->n * bw->n_slots * (o->v2 ? max_blocks : 1);
	bw->vq = calloc((size_t)bw->n * bw->n_slots, sizeof(*bw->vq));
	bw->jobs = calloc(jobs_n, sizeof(*bw->jobs));
	bw->digests = calloc(jobs_n, 32);
	if (bw->arena == MAP_FAILED || !bw->small || !bw->conns || !bw->vq || !bw->jobs ||
	    !bw->digests) {
		if (bw->arena == MAP_FAILED)
			bw->arena = NULL;
		fprintf(stderr, "loadgen: out of memory for %u connections\n", bw->n);
		return -1;
	}
	seed_err_clear(&err);
	if (hash_ctx_create(HASH_IMPL_MB, &bw->h, &err)) {
		fprintf(stderr, "loadgen: %s\n", err.msg);
		return -1;
	}
	sp = bw->small;
	for (uint32_t i = 0; i < bw->n; i++) {
		struct bt_conn *c = &bw->conns[i];
		uint8_t *q = sp + i * small_per;
		uint8_t *data = bw->arena + i * per_conn;
		/* the send times come first: q is 16-aligned here, and only
		 * there are they 8-aligned whatever scap and have_len are */
		uint64_t *sent = (uint64_t *)(void *)q;

		c->fd = w->fds[i];
		c->idx = (uint32_t)(w->fds - w->ctx->fds) + i;
		c->fast = t->peer_fast[c->idx];
		q += (size_t)bw->n_slots * max_blocks * sizeof(uint64_t);
		c->rbuf = data;
		c->sbuf = q;
		c->scap = scap;
		c->have = q + scap;
		q += scap + have_len;
		c->slots = calloc(bw->n_slots, sizeof(*c->slots));
		if (!c->slots)
			return -1;
		for (uint32_t s = 0; s < bw->n_slots; s++) {
			struct bt_slot *sl = &c->slots[s];

			sl->piece = -1;
			sl->data = data + LG_RBUF + (size_t)s * t->piece_len;
			sl->sent = sent + (size_t)s * max_blocks;
			sl->state = q;
			q += max_blocks;
		}
		c->choked = true;
		c->seq = (uint32_t)(lg_rand(w) % t->n_pieces);
	}
	return 0;
}

static void bt_worker_fini(struct lg_worker *w)
{
	struct bt_worker *bw = w->mode;

	if (!bw)
		return;
	for (uint32_t i = 0; bw->conns && i < bw->n; i++) {
		if (bw->conns[i].fd >= 0)
			close(bw->conns[i].fd);
		free(bw->conns[i].slots);
	}
	if (bw->arena)
		munmap(bw->arena, bw->arena_len);
	hash_ctx_destroy(bw->h);
	MEM_FREE_ALL(bw->small, bw->conns, bw->vq, bw->jobs, bw->digests, bw);
}

/* ---- connection events ---- */

static void conn_close(struct lg_worker *w, struct bt_conn *c)
{
	if (!c->closing) {
		c->closing = true;
		c->inflight = 0;
		shutdown(c->fd, SHUT_RDWR);
		w->n_live--;
	}
}

static struct bt_slot *find_slot(struct bt_worker *bw, struct bt_conn *c, uint32_t piece)
{
	for (uint32_t s = 0; s < bw->n_slots; s++)
		if (c->slots[s].piece == (int64_t)piece)
			return &c->slots[s];
	return NULL;
}

static void on_piece(struct lg_worker *w, struct bt_conn *c, const uint8_t *b, uint32_t blen,
		     uint64_t now)
{
	struct bt_worker *bw = w->mode;
	uint32_t index, begin, dlen, k, expect;
	struct bt_slot *s;

	if (blen < 8) {
		lg_error(w, "connection %u: piece message of %u bytes", c->idx, blen);
		conn_close(w, c);
		return;
	}
	index = byteio_be32(b);
	begin = byteio_be32(b + 4);
	dlen = blen - 8;
	s = find_slot(bw, c, index);
	if (!s || begin % LG_BLOCK || begin >= s->len) {
		w->st.unexpected++;
		return;
	}
	k = begin / LG_BLOCK;
	expect = s->len - begin < LG_BLOCK ? s->len - begin : LG_BLOCK;
	if (dlen != expect) {
		lg_error(w, "connection %u: block %u/%u came with %u bytes, asked %u", c->idx,
			 index, begin, dlen, expect);
		return;
	}
	if (s->state[k] == B_HAVE) {
		w->st.unexpected++;
		return;
	}
	if (s->state[k] == B_REQ) {
		c->inflight--;
		lg_hist_add(&w->st.lat, now - s->sent[k]);
	} else if (k < s->next) {
		/* dropped by a choke, yet it came: take it, no latency sample */
		s->again--;
	} else {
		w->st.unexpected++;
		return;
	}
	memcpy(s->data + begin, b + 8, dlen);
	s->state[k] = B_HAVE;
	w->st.bytes += dlen;
	w->st.requests++;
	if (++s->done == s->n_blocks) {
		bw->vq[bw->nvq++] = (struct bt_vq){ .c = c, .s = s };
	}
}

static void on_reject(struct lg_worker *w, struct bt_conn *c, const uint8_t *b)
{
	struct bt_slot *s = find_slot(w->mode, c, byteio_be32(b));
	uint32_t begin = byteio_be32(b + 4);

	w->st.rejects++;
	if (!s || begin % LG_BLOCK || begin >= s->len || s->state[begin / LG_BLOCK] != B_REQ)
		return;
	s->state[begin / LG_BLOCK] = B_WANT;
	s->again++;
	c->inflight--;
}

static void on_choke(struct lg_worker *w, struct bt_conn *c)
{
	struct bt_worker *bw = w->mode;

	if (c->inflight)
		w->st.chokes++;
	c->choked = true;
	if (c->fast)
		return;
	/* BEP 3: a choke drops every request; ask again after unchoke */
	for (uint32_t s = 0; s < bw->n_slots; s++) {
		struct bt_slot *sl = &c->slots[s];

		for (uint32_t k = 0; sl->piece >= 0 && k < sl->next; k++) {
			if (sl->state[k] == B_REQ) {
				sl->state[k] = B_WANT;
				sl->again++;
			}
		}
	}
	c->inflight = 0;
}

static void on_msg(struct lg_worker *w, struct bt_conn *c, uint8_t id, const uint8_t *b,
		   uint32_t blen, uint64_t now)
{
	const struct bt_tor *t = w->ctx->mode;
	size_t have_len = (t->n_pieces + 7) / 8;

	switch (id) {
	case MSG_CHOKE: on_choke(w, c); break;
	case MSG_UNCHOKE: c->choked = false; break;
	case MSG_PIECE: on_piece(w, c, b, blen, now); break;
	case MSG_REJECT:
		if (blen == 12)
			on_reject(w, c, b);
		break;
	case MSG_HAVE:
		if (blen == 4 && byteio_be32(b) < t->n_pieces) {
			c->have[byteio_be32(b) / 8] |= (uint8_t)(0x80u >> (byteio_be32(b) % 8));
			c->has_any = true;
		}
		break;
	case MSG_BITFIELD:
		if (blen >= have_len) {
			memcpy(c->have, b, have_len);
			for (size_t k = 0; k < have_len; k++)
				c->has_any |= c->have[k] != 0;
		}
		break;
	case MSG_HAVE_ALL:
		memset(c->have, 0xff, have_len);
		c->has_any = true;
		break;
	case MSG_HAVE_NONE:
		memset(c->have, 0, have_len);
		c->has_any = false;
		break;
	default:
		/* interested, not interested, request, cancel, port, suggest,
		 * allowed fast, extended, hash messages: nothing for us to do */
		break;
	}
}

/* Parses every whole message in rbuf, keeps the partial tail. */
static void parse(struct lg_worker *w, struct bt_conn *c, uint64_t now)
{
	uint8_t *b = c->rbuf;
	uint32_t p = 0, n = c->rlen;

	while (p < n && !c->closing) {
		uint32_t len;

		if (c->skip) {
			uint32_t k = n - p < c->skip ? n - p : (uint32_t)c->skip;

			p += k;
			c->skip -= k;
			continue;
		}
		if (n - p < 5)
			break;
		len = byteio_be32(b + p);
		if (!len) {
			p += 4;
			continue;
		}
		if ((uint64_t)len + 4 > LG_RBUF) {
			/* only a piece matters to us and a piece is never this big */
			if (b[p + 4] == MSG_PIECE) {
				lg_error(w, "connection %u: piece message of %u bytes", c->idx,
					 len);
				conn_close(w, c);
				return;
			}
			c->skip = (uint64_t)len + 4;
			continue;
		}
		if (n - p < 4 + len)
			break;
		on_msg(w, c, b[p + 4], b + p + 5, len - 1, now);
		p += 4 + len;
	}
	if (n - p == 4 && !c->skip && !byteio_be32(b + p))
		p += 4; /* a lone keep-alive */
	memmove(b, b + p, n - p);
	c->rlen = n - p;
}

static void bt_on_cqe(struct lg_worker *w, uint64_t ud, int res, uint64_t now)
{
	struct bt_worker *bw = w->mode;
	struct bt_conn *c = &bw->conns[ud >> 2];

	if ((ud & 3) == OP_SEND) {
		c->send_posted = false;
		if (res < 0) {
			if (!c->closing && !w->stopping)
				lg_error(w, "connection %u: send: %s", c->idx, strerror(-res));
			conn_close(w, c);
			return;
		}
		memmove(c->sbuf, c->sbuf + res, c->slen - (uint32_t)res);
		c->slen -= (uint32_t)res;
		return;
	}
	c->recv_posted = false;
	if (res <= 0) {
		if (!c->closing && !w->stopping)
			lg_error(w, "connection %u: %s", c->idx,
				 res ? strerror(-res) : "the seed closed it");
		conn_close(w, c);
		return;
	}
	c->rlen += (uint32_t)res;
	parse(w, c, now);
	if (!c->closing) {
		lg_post_recv(w, c->fd, c->rbuf + c->rlen, LG_RBUF - c->rlen, ud);
		c->recv_posted = true;
	}
}

/* ---- issuing requests ---- */

static bool peer_has(const struct bt_conn *c, uint32_t p)
{
	return c->have[p / 8] & (0x80u >> (p % 8));
}

/* A piece the peer has and this connection is not fetching, or -1. */
static int64_t pick_piece(struct lg_worker *w, struct bt_conn *c)
{
	const struct bt_tor *t = w->ctx->mode;
	struct bt_worker *bw = w->mode;
	uint32_t start = w->ctx->o.sequential ? c->seq : (uint32_t)(lg_rand(w) % t->n_pieces);

	for (uint32_t k = 0; k < t->n_pieces; k++) {
		uint32_t p = (start + k) % t->n_pieces;

		if (!peer_has(c, p) || find_slot(bw, c, p))
			continue;
		c->seq = (p + 1) % t->n_pieces;
		return p;
	}
	return -1;
}

static void request(struct bt_conn *c, struct bt_slot *s, uint32_t k, uint64_t now)
{
	uint8_t *q = c->sbuf + c->slen;
	uint32_t begin = k * LG_BLOCK;

	byteio_put_be32(q, 13);
	q[4] = 6;
	byteio_put_be32(q + 5, (uint32_t)s->piece);
	byteio_put_be32(q + 9, begin);
	byteio_put_be32(q + 13, s->len - begin < LG_BLOCK ? s->len - begin : LG_BLOCK);
	c->slen += 17;
	s->state[k] = B_REQ;
	s->sent[k] = now;
	c->inflight++;
}

static void fill(struct lg_worker *w, struct bt_conn *c, uint64_t now)
{
	const struct bt_tor *t = w->ctx->mode;
	struct bt_worker *bw = w->mode;
	uint32_t depth = w->ctx->o.depth;

	if (c->choked || w->stopping || !c->has_any)
		return;
	while (c->inflight < depth && c->slen + 17 <= c->scap) {
		struct bt_slot *s = NULL, *free_slot = NULL;
		uint32_t k = 0;

		/* blocks to ask again first, then the open pieces in order */
		for (uint32_t i = 0; i < bw->n_slots && !s; i++) {
			struct bt_slot *sl = &c->slots[i];

			if (sl->piece < 0 || !sl->again)
				continue;
			for (k = 0; k < sl->next && sl->state[k] != B_WANT; k++)
				;
			sl->again--;
			s = sl;
		}
		for (uint32_t i = 0; i < bw->n_slots && !s; i++) {
			struct bt_slot *sl = &c->slots[i];

			if (sl->piece < 0) {
				if (!free_slot)
					free_slot = sl;
			} else if (sl->next < sl->n_blocks) {
				s = sl;
				k = s->next++;
			}
		}
		if (!s && free_slot) {
			int64_t p = pick_piece(w, c);

			if (p < 0)
				break;
			s = free_slot;
			s->piece = p;
			s->len = t->pieces[p].len;
			s->n_blocks = (s->len + LG_BLOCK - 1) / LG_BLOCK;
			s->next = 1;
			s->done = 0;
			s->again = 0;
			memset(s->state, B_WANT, s->n_blocks);
			k = 0;
		}
		if (!s)
			break;
		request(c, s, k, now);
	}
}

/* Hashes every piece completed this turn in one batch, frees their slots. */
static void verify_queue(struct lg_worker *w)
{
	const struct bt_tor *t = w->ctx->mode;
	struct bt_worker *bw = w->mode;
	uint32_t nj = 0;
	int rc = 0;

	if (!bw->nvq)
		return;
	if (w->ctx->o.no_verify)
		goto release;
	for (uint32_t i = 0; i < bw->nvq; i++) {
		struct bt_slot *s = bw->vq[i].s;

		bw->vq[i].leaf0 = nj;
		if (!w->ctx->o.v2) {
			bw->jobs[nj] = (struct hash_job){ s->data, s->len, bw->digests + 32 * nj };
			nj++;
			continue;
		}
		for (uint32_t k = 0; k < s->n_blocks; k++, nj++) {
			uint32_t off = k * LG_BLOCK;

			bw->jobs[nj] = (struct hash_job){ s->data + off,
							  s->len - off < LG_BLOCK ? s->len - off
										  : LG_BLOCK,
							  bw->digests + 32 * nj };
		}
	}
	rc = w->ctx->o.v2 ? hash_sha256_batch(bw->h, bw->jobs, nj)
			  : hash_sha1_batch(bw->h, bw->jobs, nj);
	for (uint32_t i = 0; i < bw->nvq && !rc; i++) {
		struct bt_slot *s = bw->vq[i].s;
		const struct bt_piece *pc = &t->pieces[s->piece];
		const uint8_t *d = bw->digests + 32 * bw->vq[i].leaf0;
		uint8_t root[32];
		bool ok;

		if (pc->kind == H_SHA1) {
			ok = !memcmp(d, pc->hash, 20);
		} else {
			rc = pc->kind == H_ROOT
				     ? merkle_root(bw->h, d, s->n_blocks, root)
				     : merkle_layer(bw->h, d, s->n_blocks, t->piece_blocks, root);
			ok = !rc && !memcmp(root, pc->hash, 32);
		}
		if (ok) {
			w->st.verified++;
		} else if (!rc) {
			w->st.mismatches++;
			lg_error(w, "piece %lld from connection %u failed its %s check",
				 (long long)s->piece, bw->vq[i].c->idx,
				 pc->kind == H_SHA1 ? "SHA-1" : "SHA-256 merkle");
		}
	}
	if (rc) {
		snprintf(w->first_error, sizeof(w->first_error), "hashing failed: %s",
			 strerror(-rc));
		w->fatal = true;
	}
release:
	for (uint32_t i = 0; i < bw->nvq; i++)
		bw->vq[i].s->piece = -1;
	bw->nvq = 0;
}

static void bt_start(struct lg_worker *w, uint64_t now)
{
	struct bt_worker *bw = w->mode;

	for (uint32_t i = 0; i < bw->n; i++) {
		struct bt_conn *c = &bw->conns[i];

		/* interested: we want every piece */
		byteio_put_be32(c->sbuf, 1);
		c->sbuf[4] = 2;
		c->slen = 5;
		c->last_send = now;
		lg_post_recv(w, c->fd, c->rbuf, LG_RBUF, (uint64_t)i << 2 | OP_RECV);
		c->recv_posted = true;
	}
	w->n_live = bw->n;
}

static void bt_flush(struct lg_worker *w, uint64_t now)
{
	struct bt_worker *bw = w->mode;

	verify_queue(w);
	for (uint32_t i = 0; i < bw->n; i++) {
		struct bt_conn *c = &bw->conns[i];

		if (c->closing)
			continue;
		fill(w, c, now);
		if (!c->slen && now - c->last_send > KEEPALIVE_NS) {
			byteio_put_be32(c->sbuf, 0);
			c->slen = 4;
		}
		if (c->slen && !c->send_posted) {
			lg_post_send(w, c->fd, c->sbuf, c->slen, (uint64_t)i << 2 | OP_SEND);
			c->send_posted = true;
			c->last_send = now;
		}
	}
}

static bool bt_quiet(const struct lg_worker *w)
{
	const struct bt_worker *bw = w->mode;

	if (bw->nvq)
		return false;
	for (uint32_t i = 0; i < bw->n; i++)
		if (!bw->conns[i].closing && bw->conns[i].inflight)
			return false;
	return true;
}

static void bt_shutdown(struct lg_worker *w)
{
	struct bt_worker *bw = w->mode;

	for (uint32_t i = 0; i < bw->n; i++)
		shutdown(bw->conns[i].fd, SHUT_RDWR);
}

const struct lg_mode_ops lg_bt_ops = {
	.setup = bt_setup,
	.worker_init = bt_worker_init,
	.start = bt_start,
	.on_cqe = bt_on_cqe,
	.flush = bt_flush,
	.quiet = bt_quiet,
	.shutdown = bt_shutdown,
	.worker_fini = bt_worker_fini,
	.ctx_fini = bt_ctx_fini,
};
