#!/usr/bin/env python3
"""Layering probe: the protocol engines (dataplane/proto, libseedproto) are
sans-I/O and must not be able to reach the I/O layer.

Takes the exact compile command of a proto source from the build's
compile_commands.json (so it checks the flags the engines are really built
with, whatever proto/meson.build says), and compiles three probes with it:
  - probe_ok.c includes the engines' own headers: must compile (otherwise
    the probe proves nothing);
  - probe_netio.c includes netio.h (the backends' seam): must fail;
  - probe_uring.c includes <liburing.h>: must fail.
Exit 0 when all three behave, 1 (naming which) otherwise.

usage: probe.py BUILD_DIR PROBE_DIR [STAMP]
"""
import json
import os
import shlex
import subprocess
import sys


def proto_command(build_dir):
    with open(os.path.join(build_dir, "compile_commands.json")) as f:
        cmds = json.load(f)
    for c in cmds:
        src = c["file"].replace("\\", "/")
        if src.endswith("dataplane/proto/peerwire.c"):
            return c
    sys.exit("probe: no compile command for dataplane/proto/peerwire.c in "
             + build_dir + "/compile_commands.json")


def probe_args(cmd, probe):
    args = shlex.split(cmd["command"]) if "command" in cmd else list(cmd["arguments"])
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a in ("-o", "-MF", "-MQ", "-MT", "-c"):
            skip = a != "-c"
            continue
        if a in ("-MD", "-MMD") or a.endswith("peerwire.c"):
            continue
        out.append(a)
    return out + ["-fsyntax-only", probe]


def main():
    build_dir, probe_dir = sys.argv[1], sys.argv[2]
    cmd = proto_command(build_dir)
    bad = []
    # a must-fail probe must fail for the fence's reason, not any other
    for name, must_compile, reason in (("probe_ok.c", True, None),
                                       ("probe_netio.c", False, "netio.h"),
                                       ("probe_uring.c", False, "poison")):
        args = probe_args(cmd, os.path.join(probe_dir, name))
        r = subprocess.run(args, cwd=cmd["directory"], capture_output=True, text=True)
        ok = (r.returncode == 0) == must_compile
        if ok and reason and reason not in r.stderr:
            ok = False
            sys.stderr.write("%s failed, but not with %r in its errors\n" % (name, reason))
        print("%s: %s with proto's flags (%s)" % (
            name, "compiles" if r.returncode == 0 else "does not compile",
            "as it must" if ok else "WRONG"))
        if not ok:
            bad.append(name)
            sys.stderr.write(r.stderr[-2000:])
    if bad:
        print("probe: the layering fence is broken: " + ", ".join(bad))
        return 1
    if len(sys.argv) > 3:
        open(sys.argv[3], "w").write("ok\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
