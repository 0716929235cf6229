/* Must compile with the stack's flags: its own headers, and lib/'s. */
#include "stack.h"
#include "tcp_int.h"
#include "byteio.h"
