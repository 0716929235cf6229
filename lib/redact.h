/*
 * redact: the one place that decides what of a tracker URL, a tracker's
 * message or a log line is a secret, so seed-control never prints one (API
 * answers, the status page, /metrics, logs, seedctl output all go through
 * here or through text that did).
 *
 * The rule (docs/api.md, "Secrets"): in text, each URL (SCHEME://...) is
 * shown with
 *   - the value of every query parameter replaced by REDACTED, names kept
 *     ("?passkey=REDACTED&uid=REDACTED"); a parameter without '=' becomes
 *     REDACTED;
 *   - a user-info part replaced ("udp://REDACTED@host:6969/");
 *   - a fragment replaced ("#REDACTED");
 *   - a path segment that looks like a key (16 or more letters and digits,
 *     with at least one of each: private trackers put passkeys there,
 *     "/0a1b2c.../announce") replaced by REDACTED;
 * and outside URLs, the value after NAME= or NAME: (optional spaces), when
 * NAME contains key, token, secret, pass, auth or cred in any case, is
 * replaced by REDACTED (up to a space, quote, '&', ',', ';' or ')').
 * Scheme, host, port and the other path segments stay, so an operator can
 * still tell trackers apart. Redacting twice gives the same text.
 *
 * Pure functions: no I/O, no globals, any thread.
 */
#ifndef SEED_REDACT_H
#define SEED_REDACT_H

#include <stddef.h>

#define REDACT_MARK "REDACTED"

/*
 * Writes text[0..len) redacted into out[0..cap) (NUL-terminated when cap >
 * 0, cut to fit) and returns the length the whole redacted text needs,
 * NUL excluded, as snprintf does: a return >= cap means out was cut (what
 * was written is a prefix of the redacted text, so a cut never shows a
 * secret). text may hold any bytes; a NUL in it is copied like any other.
 */
size_t redact_text(const char *text, size_t len, char *out, size_t cap);

/*
 * The redacted copy of the NUL-terminated s, malloc'd (the caller frees
 * it); NULL when out of memory.
 */
char *redact_dup(const char *s);

/* 1 when redact_text() would change s (it holds something secret). */
int redact_needed(const char *s);

#endif
