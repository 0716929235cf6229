#ifndef SEED_LOG_H
#define SEED_LOG_H
#endif
