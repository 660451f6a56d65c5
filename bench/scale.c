#include "bench/bench.h"
void scenario_scale (struct bench *b) { (void) b; }
