/* Must NOT compile with proto's or the stack's flags: DPDK is the
 * backend's business (netio/dpdk.c); the engines and the stack are
 * sans-I/O. */
#include <rte_ethdev.h>
