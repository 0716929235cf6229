/* Must compile with proto's flags: the engines' own headers and lib/. */
#include "http.h"
#include "mse.h"
#include "peerwire.h"
#include "seed_err.h"
