/* init: the `nexc-node init` command (node/init.c). */
#ifndef NEXC_NODE_INIT_H
#define NEXC_NODE_INIT_H

/* argv[0] is "init". Exit code: 0, 2 usage, 78 config, 1 other. */
int init_main (int argc, char **argv);

#endif
