#ifndef SEED_HTTP1_H
#define SEED_HTTP1_H
#endif
