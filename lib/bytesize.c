/* bytesize: placeholder, being written. */
#include "bytesize.h"
