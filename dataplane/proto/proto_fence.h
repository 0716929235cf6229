/*
 * proto_fence.h: force-included (-include) into every file of libseedproto
 * by proto/meson.build. The engines are sans-I/O (DESIGN.md §4): netio/ and
 * DPDK's headers are simply not on proto's include path, but liburing's
 * header sits in /usr/include where any file can reach it, so its central
 * identifier is poisoned here: an #include <liburing.h> (or any use of an
 * io_uring type) in proto/ is a compile error. tests/layering/probe.py
 * checks both fences with proto's real compile command.
 */
#ifndef SEED_PROTO_FENCE_H
#define SEED_PROTO_FENCE_H

#pragma GCC poison io_uring

#endif
