/* placeholder until the module lands */
#include "bencode.h"
