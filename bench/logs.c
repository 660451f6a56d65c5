#include "bench/bench.h"
void scenario_logs (struct bench *b) { (void) b; }
