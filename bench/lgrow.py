"""bench/lgrow.py: one benchmark row from one loadgen run, as compare.sh and
veth.sh record it. loadgen prints its result as a JSON line last; a run
that printed none is a failed row that says why (its exit status and the
last line it wrote on stderr), never a row of zeros."""
import json


def loadgen_fields(row, json_path, err_path, rc):
    """Adds loadgen's figures (or 'failed') to row; returns loadgen's dict or None."""
    try:
        lg = json.loads(open(json_path).read().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        lg = None
    err = open(err_path, errors='replace').read().strip().splitlines()
    if lg is None:
        row['failed'] = 'loadgen exit %s: %s' % (rc, err[-1] if err else 'no output')
        return None
    gib = lg['bytes'] / 2**30
    row['loadgen'] = lg
    row['gbit_s'] = lg['gbit_s']
    row['errors'] = lg['errors']
    row['lat_p99_us'] = lg['lat_p99_us']
    # loadgen reads the server's CPU over its measured window (after the warmup)
    row['server_cpu_s'] = lg['server_cpu_s']
    row['cpu_s_per_gib'] = (lg['server_cpu_s'] / gib
                            if gib > 0 and lg['server_cpu_s'] is not None else None)
    if int(rc) != 0 and err:
        row['stderr'] = err[-1]
    return lg
