/*
 * Unit tests for tools/apiclient.c. Each transport test starts a one-shot
 * fake seed-control on a Unix socket in a thread: it accepts one
 * connection, keeps the request it read, then sends a scripted answer
 * (all at once, a byte at a time, or never) and closes. The answers are
 * written by hand from RFC 9112 and docs/api.md; one test per behaviour.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../testutil.h"
#include "apiclient.h"

enum fake_mode {
	F_ANSWER,   /* read the request, send the answer, close */
	F_BYTEWISE, /* same, one byte per send */
	F_HANG,	    /* read the request, never answer; wait for the client to go */
	F_SLAM,	    /* accept and close at once */
	F_EARLY,    /* read the request head only, answer, close */
};

static struct fake {
	char dir[48], path[96];
	int lfd, has_lfd, started, joined;
	pthread_t th;
	enum fake_mode mode;
	const char *answer;
	size_t answer_len;
	char req[16384];
	size_t req_len;
} F;

/* Reads one request (head plus Content-Length body) into F.req. */
static void read_request(int fd)
{
	size_t want = 0;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 5000) <= 0)
			return;
		ssize_t n = read(fd, F.req + F.req_len, sizeof(F.req) - 1 - F.req_len);
		if (n <= 0)
			return;
		F.req_len += (size_t)n;
		F.req[F.req_len] = '\0';
		char *end = strstr(F.req, "\r\n\r\n");
		if (!end)
			continue;
		if (!want) {
			const char *cl = strstr(F.req, "Content-Length: ");
			want = (size_t)(end + 4 - F.req) + (cl ? strtoul(cl + 16, NULL, 10) : 0);
		}
		if (F.req_len >= want)
			return;
	}
}

static void *serve(void *arg)
{
	(void)arg;
	int c = accept(F.lfd, NULL, NULL);
	if (c < 0)
		return NULL;
	if (F.mode == F_EARLY) {
		while (!strstr(F.req, "\r\n\r\n") && F.req_len < sizeof(F.req) - 1) {
			ssize_t n = read(c, F.req + F.req_len, 1);
			if (n <= 0)
				break;
			F.req[++F.req_len] = '\0';
		}
	} else if (F.mode != F_SLAM) {
		read_request(c);
	}
	if (F.mode == F_HANG) {
		/* Until the client gives up and closes (or 5 s pass). */
		char b[64];
		struct pollfd p = { .fd = c, .events = POLLIN };
		while (poll(&p, 1, 5000) > 0 && read(c, b, sizeof(b)) > 0)
			;
	} else if (F.mode == F_ANSWER || F.mode == F_EARLY) {
		size_t off = 0;
		while (off < F.answer_len) {
			ssize_t n = send(c, F.answer + off, F.answer_len - off, MSG_NOSIGNAL);
			if (n <= 0)
				break; /* the client stopped reading: fine */
			off += (size_t)n;
		}
	} else if (F.mode == F_BYTEWISE) {
		for (size_t i = 0; i < F.answer_len; i++) {
			if (send(c, F.answer + i, 1, MSG_NOSIGNAL) != 1)
				break;
			usleep(200);
		}
	}
	close(c);
	return NULL;
}

static void make_dir(void)
{
	snprintf(F.dir, sizeof(F.dir), "/tmp/apic-test-XXXXXX");
	cr_assert_not_null(mkdtemp(F.dir));
	snprintf(F.path, sizeof(F.path), "%s/control.sock", F.dir);
}

static int bind_socket(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", F.path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind: %s", strerror(errno));
	return fd;
}

/* Starts the fake server with an answer of n bytes (borrowed). */
static void start_n(enum fake_mode mode, const char *answer, size_t n)
{
	make_dir();
	F.lfd = bind_socket();
	F.has_lfd = 1;
	cr_assert_eq(listen(F.lfd, 4), 0);
	F.mode = mode;
	F.answer = answer;
	F.answer_len = n;
	cr_assert_eq(pthread_create(&F.th, NULL, serve, NULL), 0);
	F.started = 1;
}

static void start(enum fake_mode mode, const char *answer)
{
	start_n(mode, answer, answer ? strlen(answer) : 0);
}

/* Waits for the server thread; F.req is complete after this. */
static void join_server(void)
{
	if (F.started && !F.joined) {
		pthread_join(F.th, NULL);
		F.joined = 1;
	}
}

static void fini(void)
{
	join_server();
	if (F.has_lfd)
		close(F.lfd);
	if (F.path[0])
		unlink(F.path);
	if (F.dir[0])
		rmdir(F.dir);
	memset(&F, 0, sizeof(F));
}

TestSuite(apiclient, .fini = fini);

struct result {
	int rc, status;
	json_t *j;
	struct seed_err err;
};

static struct result call_opts(struct apic_opts o, const char *method, const char *path,
			       const json_t *body)
{
	struct result r;
	seed_err_clear(&r.err);
	if (!o.socket_path)
		o.socket_path = F.path;
	r.rc = apic_call(&o, method, path, body, &r.j, &r.status, &r.err);
	return r;
}

static struct result get(const char *path)
{
	return call_opts((struct apic_opts){ .timeout_ms = 5000 }, "GET", path, NULL);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- answers ---- */

Test(apiclient, ok_json_answer_is_parsed)
{
	start(F_ANSWER, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			"Content-Length: 35\r\n\r\n"
			"{\"node\": \"seed-01\", \"uptime_s\": 36}");
	struct result r = get("/api/v1/status");
	cr_assert_eq(r.rc, 0, "rc %d: %s", r.rc, r.err.msg);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(json_string_value(json_object_get(r.j, "node")), "seed-01");
	cr_assert_eq(json_integer_value(json_object_get(r.j, "uptime_s")), 36);
	json_decref(r.j);
	join_server();
	cr_assert(!strncmp(F.req, "GET /api/v1/status HTTP/1.1\r\n", 29), "%s", F.req);
	cr_assert_not_null(strstr(F.req, "\r\nConnection: close\r\n"));
	cr_assert_not_null(strstr(F.req, "\r\nContent-Length: 0\r\n"));
	cr_assert_null(strstr(F.req, "Content-Type"));
}

Test(apiclient, request_body_is_sent_with_type_and_length)
{
	start(F_ANSWER, "HTTP/1.1 201 Created\r\nContent-Length: 13\r\n\r\n{\"id\":\"acme\"}");
	json_t *body = json_pack("{s:s,s:s}", "id", "acme", "name", "Acme Games");
	struct result r = call_opts((struct apic_opts){ .timeout_ms = 5000 }, "POST",
				    "/api/v1/tenants", body);
	json_decref(body);
	cr_assert_eq(r.rc, 0, "%s", r.err.msg);
	cr_assert_eq(r.status, 201);
	json_decref(r.j);
	join_server();
	const char *want_body = "{\"id\":\"acme\",\"name\":\"Acme Games\"}";
	cr_assert(!strncmp(F.req, "POST /api/v1/tenants HTTP/1.1\r\n", 31), "%s", F.req);
	cr_assert_not_null(strstr(F.req, "\r\nContent-Type: application/json\r\n"));
	char cl[64];
	snprintf(cl, sizeof(cl), "\r\nContent-Length: %zu\r\n", strlen(want_body));
	cr_assert_not_null(strstr(F.req, cl), "%s", F.req);
	cr_assert_str_eq(strstr(F.req, "\r\n\r\n") + 4, want_body);
}

Test(apiclient, answer_delivered_a_byte_at_a_time)
{
	start(F_BYTEWISE, "HTTP/1.1 200 OK\r\ncontent-length: 17\r\n\r\n{\"generation\": 7}");
	struct result r = get("/api/v1/reload");
	cr_assert_eq(r.rc, 0, "%s", r.err.msg);
	cr_assert_eq(json_integer_value(json_object_get(r.j, "generation")), 7);
	json_decref(r.j);
}

Test(apiclient, read_to_eof_when_connection_close)
{
	start(F_ANSWER, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"draining\": true}");
	struct result r = get("/api/v1/drain");
	cr_assert_eq(r.rc, 0, "%s", r.err.msg);
	cr_assert(json_is_true(json_object_get(r.j, "draining")));
	json_decref(r.j);
}

Test(apiclient, empty_body_gives_null_json)
{
	start(F_ANSWER, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	struct result r = get("/api/v1/x");
	cr_assert_eq(r.rc, 0, "%s", r.err.msg);
	cr_assert_null(r.j);
}

/* ---- server errors ---- */

/*
 * One scripted answer per row: apic_call gives rc and no JSON. An answer
 * with an error status (status set) carries the message msg exactly; any
 * other refusal names msg and the socket's path in its message.
 */
struct answer_case {
	const char *answer;
	int rc, status;
	const char *msg;
};

static void expect_answers(const struct answer_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++, fini()) {
		start(F_ANSWER, c[i].answer);
		struct result r = get("/api/v1/status");
		const char *a = c[i].answer;
		cr_assert_eq(r.rc, c[i].rc, "%s: rc %d: %s", a, r.rc, r.err.msg);
		cr_assert_null(r.j, "%s", a);
		if (c[i].status) {
			cr_assert_eq(r.status, c[i].status, "%s: status %d", a, r.status);
			cr_assert_str_eq(r.err.msg, c[i].msg, "%s", a);
		} else {
			cr_assert_not_null(strstr(r.err.msg, c[i].msg), "%s: %s", a, r.err.msg);
			cr_assert_not_null(strstr(r.err.msg, F.path), "%s: %s", a, r.err.msg);
		}
	}
}

Test(apiclient, server_errors_return_the_server_message)
{
	TU_TABLE(expect_answers, struct answer_case,
		 { "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
		   "Content-Length: 39\r\n\r\n{\"error\": \"no release \\\"acme.game.9\\\"\"}",
		   -EREMOTEIO, 404, "no release \"acme.game.9\"" },
		 /* without JSON: the status line names the error */
		 { "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops",
		   -EREMOTEIO, 500, "seed-control answered HTTP 500 Internal Server Error" },
		 /* control bytes in the message are replaced */
		 { "HTTP/1.1 400 Bad Request\r\nContent-Length: 30\r\n\r\n"
		   "{\"error\": \"bad\\u001b[2Jfield\"}",
		   -EREMOTEIO, 400, "bad?[2Jfield" });
}

Test(apiclient, early_answer_to_a_large_body_is_read)
{
	start(F_EARLY, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 42\r\n\r\n"
		       "{\"error\": \"request body over 65536 bytes\"}");
	static char big[4 << 20];
	memset(big, 'a', sizeof(big) - 1);
	json_t *body = json_pack("{s:s}", "name", big);
	struct result r = call_opts((struct apic_opts){ .timeout_ms = 5000 }, "POST",
				    "/api/v1/tenants", body);
	json_decref(body);
	cr_assert_eq(r.rc, -EREMOTEIO, "rc %d: %s", r.rc, r.err.msg);
	cr_assert_eq(r.status, 413);
	cr_assert_str_eq(r.err.msg, "request body over 65536 bytes");
}

/* ---- malformed or hostile answers ---- */

Test(apiclient, malformed_answers_are_refused)
{
	TU_TABLE(
		expect_answers, struct answer_case,
		{ "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"node\": \"s", -EPROTO, 0,
		  "truncated answer: 11 of 100 body bytes" },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 17000000\r\n\r\n{}", -EFBIG, 0, "too large" },
		/* keep-alive without a length has no end */
		{ "HTTP/1.1 200 OK\r\n\r\n{}", -EPROTO, 0, "without Content-Length" },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", -EPROTO, 0,
		  "Content-Length" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
		  -EPROTO, 0, "Transfer-Encoding" },
		{ "SSH-2.0-OpenSSH_9.2\r\n", -EPROTO, 0, "not an HTTP/1.x answer" },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n{\"a\": 1,", -EPROTO, 0,
		  "not JSON" });
}

Test(apiclient, close_without_answer_is_an_error)
{
	start(F_SLAM, NULL);
	struct result r = get("/api/v1/status");
	/* The server may close before or after the request is sent. */
	cr_assert(r.rc == -EPROTO || r.rc == -EPIPE || r.rc == -ECONNRESET, "rc %d: %s", r.rc,
		  r.err.msg);
	cr_assert_neq(r.err.msg[0], '\0');
}

/* Starts the fake server with an answer of size bytes: head, then fill
 * to the end (a static buffer: one per test). */
static void start_padded(char *buf, size_t size, const char *head, char fill)
{
	int h = snprintf(buf, size, "%s", head);
	memset(buf + h, fill, size - (size_t)h);
	start_n(F_ANSWER, buf, size);
}

Test(apiclient, oversized_stream_is_refused_at_the_bound)
{
	static char big[40000];
	start_padded(big, sizeof(big), "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", ' ');
	struct result r = call_opts((struct apic_opts){ .timeout_ms = 5000, .max_body = 1024 },
				    "GET", "/api/v1/status", NULL);
	cr_assert_eq(r.rc, -EFBIG, "rc %d: %s", r.rc, r.err.msg);
}

Test(apiclient, endless_head_is_refused)
{
	static char big[APIC_MAX_HEAD + 4096];
	start_padded(big, sizeof(big), "HTTP/1.1 200 OK\r\nX-Pad: ", 'a');
	struct result r = get("/api/v1/status");
	cr_assert_eq(r.rc, -EFBIG, "rc %d: %s", r.rc, r.err.msg);
}

/* ---- connecting and timing out ---- */

/* A GET finds nobody at F.path: -ENOENT, and the message says so. */
static void expect_not_running(void)
{
	struct result r = get("/api/v1/status");
	char want[256];
	snprintf(want, sizeof(want), "seed-control is not running (no socket at %s)", F.path);
	cr_assert_eq(r.rc, -ENOENT, "rc %d: %s", r.rc, r.err.msg);
	cr_assert_str_eq(r.err.msg, want);
}

Test(apiclient, no_socket_says_not_running)
{
	make_dir();
	expect_not_running();
}

Test(apiclient, stale_socket_says_not_running)
{
	make_dir();
	close(bind_socket()); /* the file stays; nobody listens: ECONNREFUSED */
	expect_not_running();
}

Test(apiclient, permission_denied_names_the_group)
{
	make_dir();
	F.lfd = bind_socket();
	F.has_lfd = 1;
	cr_assert_eq(listen(F.lfd, 1), 0);
	cr_assert_eq(chmod(F.dir, 0755), 0);
	cr_assert_eq(chmod(F.path, 0), 0);
	struct result r;
	if (geteuid() != 0) {
		r = get("/api/v1/status");
	} else {
		/* root is never denied: ask as nobody, from a child. */
		int p[2];
		cr_assert_eq(pipe(p), 0);
		pid_t pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			if (setgid(65534) || setuid(65534))
				_exit(1);
			r = get("/api/v1/status");
			ssize_t w = write(p[1], &r, sizeof(r));
			_exit(w == (ssize_t)sizeof(r) ? 0 : 1);
		}
		close(p[1]);
		cr_assert_eq(read(p[0], &r, sizeof(r)), (ssize_t)sizeof(r));
		close(p[0]);
		waitpid(pid, NULL, 0);
	}
	char want[256];
	snprintf(want, sizeof(want),
		 "permission denied on %s (seedctl needs membership of seed-control's admin group, "
		 "seed by default, or its read-only group, seed-ro)",
		 F.path);
	cr_assert_eq(r.rc, -EACCES, "rc %d: %s", r.rc, r.err.msg);
	cr_assert_str_eq(r.err.msg, want);
}

Test(apiclient, silent_server_times_out_within_the_bound)
{
	start(F_HANG, NULL);
	double t0 = now_s();
	struct result r =
		call_opts((struct apic_opts){ .timeout_ms = 300 }, "GET", "/api/v1/status", NULL);
	double dt = now_s() - t0;
	cr_assert_eq(r.rc, -ETIMEDOUT, "rc %d: %s", r.rc, r.err.msg);
	cr_assert_geq(dt, 0.29);
	cr_assert_lt(dt, 2.0, "took %.3f s", dt);
	cr_assert_not_null(strstr(r.err.msg, "within 300 ms"), "%s", r.err.msg);
	cr_assert_not_null(strstr(r.err.msg, F.path), "%s", r.err.msg);
}

Test(apiclient, unsafe_request_line_is_refused)
{
	make_dir();
	struct result r = call_opts((struct apic_opts){ 0 }, "GET", "/a b", NULL);
	cr_assert_eq(r.rc, -EINVAL);
	r = call_opts((struct apic_opts){ 0 }, "GET\r\nX:", "/a", NULL);
	cr_assert_eq(r.rc, -EINVAL);
	r = call_opts((struct apic_opts){ 0 }, "GET", "relative", NULL);
	cr_assert_eq(r.rc, -EINVAL);
}

/* ---- arguments ---- */

Test(apiclient, socket_path_option_env_default)
{
	unsetenv(APIC_SOCKET_ENV);
	cr_assert_str_eq(apic_socket_path(NULL), "/run/seed/control.sock");
	setenv(APIC_SOCKET_ENV, "", 1);
	cr_assert_str_eq(apic_socket_path(NULL), "/run/seed/control.sock");
	setenv(APIC_SOCKET_ENV, "/tmp/x.sock", 1);
	cr_assert_str_eq(apic_socket_path(NULL), "/tmp/x.sock");
	cr_assert_str_eq(apic_socket_path("/opt/y.sock"), "/opt/y.sock");
	unsetenv(APIC_SOCKET_ENV);
}

struct escape_case {
	const char *in;
	int rc;
	const char *out; /* when rc > 0 */
};

static void expect_escapes(const struct escape_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char b[32];
		cr_assert_eq(apic_path_escape(c[i].in, b, sizeof(b)), c[i].rc, "%s", c[i].in);
		if (c[i].out)
			cr_assert_str_eq(b, c[i].out, "%s", c[i].in);
	}
}

Test(apiclient, path_segments_are_escaped)
{
	TU_TABLE(expect_escapes, struct escape_case, { "acme.game-1.0_b~", 16, "acme.game-1.0_b~" },
		 { "a/b c+d", 13, "a%2Fb%20c%2Bd" }, { "..", -EINVAL, NULL }, { "", -EINVAL, NULL },
		 { "////////////", -ENAMETOOLONG, NULL });
}

static const int64_t time_now = 1795000000; /* 2026-11-18T11:06:40Z */

struct time_case {
	const char *in, *out;
};

static void expect_times(const struct time_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char out[32];
		struct seed_err e;
		seed_err_clear(&e);
		cr_assert_eq(apic_time_arg(c[i].in, time_now, out, sizeof(out), &e), 0, "%s: %s",
			     c[i].in, e.msg);
		cr_assert_str_eq(out, c[i].out, "%s", c[i].in);
	}
}

Test(apiclient, time_arguments)
{
	char out[32];
	struct seed_err e;
	const int64_t now = time_now;

	TU_TABLE(expect_times, struct time_case, { "2026-12-01T18:00:00Z", "2026-12-01T18:00:00Z" },
		 { "2026-12-01t18:00:00.250z", "2026-12-01T18:00:00Z" },
		 { "2026-12-01T00:30:00+01:00", "2026-11-30T23:30:00Z" },
		 { "2028-02-29T12:00:00-05:30", "2028-02-29T17:30:00Z" },
		 { "+2h", "2026-11-18T13:06:40Z" }, { "+30m", "2026-11-18T11:36:40Z" },
		 { "+45s", "2026-11-18T11:07:25Z" }, { "+1d12h", "2026-11-19T23:06:40Z" });

	static const char *const bad[] = {
		"2026-02-29T00:00:00Z",
		"2026-13-01T00:00:00Z",
		"2026-12-01T24:00:00Z",
		"2026-12-01T18:00:00",
		"2026-12-01 18:00Z",
		"2026-12-01T18:00:00+0100",
		"+",
		"+2",
		"+2x",
		"+h",
		"+99999999999s",
		"+3661d",
		"tomorrow",
		"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		seed_err_clear(&e);
		cr_assert_eq(apic_time_arg(bad[i], now, out, sizeof(out), &e), -EINVAL, "%s",
			     bad[i]);
		cr_assert_neq(e.msg[0], '\0', "%s", bad[i]);
	}
}
