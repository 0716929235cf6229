/*
 * utf8: strict UTF-8 validation for names that reach file systems, JSON,
 * torrents and operators' terminals (file paths in a release, tenant and
 * release names, config strings).
 *
 * Strict means: no overlong forms, no UTF-16 surrogates (U+D800..U+DFFF),
 * nothing above U+10FFFF, no stray continuation bytes, no truncated
 * sequence at the end. NUL is not special: callers that need C strings
 * check for it themselves (utf8_valid_str stops at the first NUL).
 */
#ifndef SEED_UTF8_H
#define SEED_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True when p[0..n-1] is strict UTF-8. */
bool utf8_valid(const void *p, size_t n);

/* True when the NUL-terminated string s is strict UTF-8. */
bool utf8_valid_str(const char *s);

/*
 * True when the NUL-terminated string s is strict UTF-8 without control
 * characters: no C0 (U+0000..U+001F), DEL, or C1 (U+0080..U+009F), which a
 * terminal may act on. For names an operator will read.
 */
bool utf8_printable(const char *s);

#endif
