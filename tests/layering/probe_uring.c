/* Must NOT compile with proto's flags: liburing is I/O. */
#include <liburing.h>
