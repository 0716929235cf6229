/* http1: placeholder, being written. */
#include "http1.h"
