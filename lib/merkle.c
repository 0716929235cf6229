/* placeholder until the module lands */
#include "merkle.h"
