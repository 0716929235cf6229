#ifndef SEED_BYTESIZE_H
#define SEED_BYTESIZE_H
#endif
