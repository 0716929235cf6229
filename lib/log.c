/* log: placeholder, being written. */
#include "log.h"
