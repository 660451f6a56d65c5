#include "bench/bench.h"
void scenario_stop (struct bench *b) { (void) b; }
