#!/usr/bin/env python3
"""Layering probe: the protocol engines (dataplane/proto, libseedproto) and
the userspace TCP/IP stack (dataplane/stack, libseedstack) are sans-I/O and
must not be able to reach the I/O layer.

For each, takes the exact compile command of one of its sources from the
build's compile_commands.json (so it checks the flags the library is really
built with, whatever its meson.build says), and compiles probes with it:
  - its own probe (probe_ok.c, probe_stack_ok.c) includes the library's own
    headers: must compile (otherwise the probe proves nothing);
  - probe_netio.c includes netio.h (the backends' seam): must fail;
  - probe_uring.c includes <liburing.h>: must fail;
  - probe_dpdk.c includes <rte_ethdev.h>: must fail.
Exit 0 when all behave, 1 (naming which) otherwise.

usage: probe.py BUILD_DIR PROBE_DIR [STAMP]
"""
import json
import os
import shlex
import subprocess
import sys


# (library, one of its sources, the probe that must compile)
LIBS = (("proto", "dataplane/proto/peerwire.c", "probe_ok.c"),
        ("stack", "dataplane/stack/tcp.c", "probe_stack_ok.c"))


def lib_command(build_dir, source):
    with open(os.path.join(build_dir, "compile_commands.json")) as f:
        cmds = json.load(f)
    for c in cmds:
        src = c["file"].replace("\\", "/")
        if src.endswith(source):
            return c
    sys.exit("probe: no compile command for " + source + " in "
             + build_dir + "/compile_commands.json")


def probe_args(cmd, probe, source):
    args = shlex.split(cmd["command"]) if "command" in cmd else list(cmd["arguments"])
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a in ("-o", "-MF", "-MQ", "-MT", "-c"):
            skip = a != "-c"
            continue
        if a in ("-MD", "-MMD") or a.endswith(os.path.basename(source)):
            continue
        out.append(a)
    return out + ["-fsyntax-only", probe]


def main():
    build_dir, probe_dir = sys.argv[1], sys.argv[2]
    bad = []
    for lib, source, ok_probe in LIBS:
        cmd = lib_command(build_dir, source)
        # a must-fail probe must fail for the fence's reason, not any other
        for name, must_compile, reason in ((ok_probe, True, None),
                                           ("probe_netio.c", False, "netio.h"),
                                           ("probe_uring.c", False, "poison"),
                                           ("probe_dpdk.c", False, "rte_ethdev.h")):
            args = probe_args(cmd, os.path.join(probe_dir, name), source)
            r = subprocess.run(args, cwd=cmd["directory"], capture_output=True, text=True)
            ok = (r.returncode == 0) == must_compile
            if ok and reason and reason not in r.stderr:
                ok = False
                sys.stderr.write("%s failed, but not with %r in its errors\n" % (name, reason))
            print("%s: %s with %s's flags (%s)" % (
                name, "compiles" if r.returncode == 0 else "does not compile", lib,
                "as it must" if ok else "WRONG"))
            if not ok:
                bad.append(lib + ":" + name)
                sys.stderr.write(r.stderr[-2000:])
    if bad:
        print("probe: the layering fence is broken: " + ", ".join(bad))
        return 1
    if len(sys.argv) > 3:
        open(sys.argv[3], "w").write("ok\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
