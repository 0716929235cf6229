/* placeholder until the module lands */
#include "hash.h"
