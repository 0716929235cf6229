/* Must NOT compile with proto's flags: netio.h is the backends' seam. */
#include "netio.h"
