/* nexc: the command-line client. Every command talks to nodes over NATS
 * through the client library (api/nexc.h).
 *
 * Exit codes: 0 ok, 1 the node refused (its message is printed), 2 usage,
 * 3 connection or timeout.
 *
 * This file: the usage text, the flags (before or after the command) and the
 * dispatch; each command, or family of commands, is in its cmd_*.c. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/cli/cli.h"
#include "api/duration.h"
#include "api/subjects.h"

static const char *const USAGE
    = "usage: nexc [global flags] COMMAND [args]\n"
      "\n"
      "commands:\n"
      "  nodes ls                     list nodes (PING)\n"
      "  nodes info NODE_ID           one node's INFO\n"
      "  run FILE [--name N] [--env K=V ...] [--argv A ...] [--node ID | --tag k=v[,k=v]]\n"
      "           [--issuer SEEDFILE] [--essential]   upload and deploy a workload; then\n"
      "           [--wait MS]  watch it MS (default 500, 0: not at all): one that ended by\n"
      "                        then is reported with its code and last log lines, exit 1\n"
      "           [--type function --trigger SUBJECT ...]   run it per message on SUBJECT\n"
      "           [--nats-pub SUBJECT ...] [--nats-sub SUBJECT ...]   what its own NATS user\n"
      "                        may publish and subscribe to (nodes with workload_creds)\n"
      "           [--filesystem minimal|host-ro] [--bind-ro PATH ...]   what a process-tier\n"
      "                        sandbox shows: a bare root (static executables), the host\n"
      "                        read-only, or a bare root plus these host paths read-only\n"
      "  stop WORKLOAD_ID [--issuer SEEDFILE]          stop a workload\n"
      "  ls                           list workloads across nodes (WPING)\n"
      "  logs [--node ID] [--workload NAME] [--id ID]  follow workload logs\n"
      "       [--since DURATION [--stream NAME]]  first the lines of the last DURATION\n"
      "                        (90s, 10m, 2h, 1h30m) from the JetStream stream NAME\n"
      "                        (default NEXC_LOGS; node config logs.stream), then new ones\n"
      "  events [--type TYPE]         follow events\n"
      "  lameduck NODE_ID [--drain MS] [--issuer SEEDFILE]   put a node in lame duck\n"
      "                               mode (signed when an issuer key exists); with\n"
      "                               --drain also stop its workloads within MS and exit\n"
      "  keygen issuer|xkey [--out FILE]   new key: seed on stdout, public key on stderr\n"
      "  seal --xkey XKEY|--node ID KEY=VALUE...   seal an environment to a node's xkey:\n"
      "                               \"sealed_environment\" and \"sender_public_key\" for an\n"
      "                               autostart entry of its config\n"
      "  req SUBJECT [DATA]           send a plain NATS request, print the reply\n"
      "  top                          live per-workload metrics (a table on a terminal,\n"
      "                               JSON lines with --json or when not a terminal)\n"
      "  apply FILE [--issuer SEEDFILE]   store a deployment spec (signed; a local\n"
      "                               artifact file is uploaded, env is sealed)\n"
      "  deployments ls               desired vs running replicas per deployment, where\n"
      "  deployments rm NAME          remove a deployment (its replicas stop)\n"
      "  scale NAME N [--issuer SEEDFILE]   set a deployment's replica count\n"
      "\n"
      "global flags: --server URL[,URL] (or NATS_URL), --creds FILE, --nkey SEEDFILE,\n"
      "  --user U --password-file F (or NATS_PASSWORD), --token-file F (or NATS_TOKEN)\n"
      "  (--password P, --token T work too, visible to other users), --namespace NS\n"
      "  (default \"default\"),\n"
      "  --timeout MS (default 2000; for logs/events: how long to follow),\n"
      "  --json: JSON lines, one object per item (node, workload, event, log line, result)\n"
      "  --help (this text), --version (print \"nexc VERSION\")\n"
      "\n"
      "example:\n"
      "  nexc run ./build/examples/ticker --name ticker --env TICK_MS=500\n"
      "  nexc logs --workload ticker --timeout 5000\n"
      "  nexc logs --workload ticker --since 10m\n";

int
main (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "server", required_argument, NULL, 's' },   { "creds", required_argument, NULL, 'C' },
    { "nkey", required_argument, NULL, 'k' },     { "user", required_argument, NULL, 'u' },
    { "password", required_argument, NULL, 'p' }, { "token", required_argument, NULL, 'T' },
    { "namespace", required_argument, NULL, 'n' }, { "timeout", required_argument, NULL, 't' },
    { "json", no_argument, NULL, 'j' },           { "issuer", required_argument, NULL, 'i' },
    { "name", required_argument, NULL, 'N' },     { "node", required_argument, NULL, 'o' },
    { "tag", required_argument, NULL, 'g' },      { "workload", required_argument, NULL, 'w' },
    { "id", required_argument, NULL, 'I' },       { "type", required_argument, NULL, 'y' },
    { "out", required_argument, NULL, 'O' },      { "essential", no_argument, NULL, 'e' },
    { "env", required_argument, NULL, 'E' },      { "argv", required_argument, NULL, 'a' },
    { "trigger", required_argument, NULL, 'G' },  { "help", no_argument, NULL, 'h' },
    { "drain", required_argument, NULL, 'D' },    { "wait", required_argument, NULL, 'W' },
    { "version", no_argument, NULL, 'V' },        { "xkey", required_argument, NULL, 'X' },
    { "since", required_argument, NULL, 'S' },    { "stream", required_argument, NULL, 'R' },
    { "password-file", required_argument, NULL, 'P' }, { "token-file", required_argument, NULL, 'K' },
    { "nats-pub", required_argument, NULL, 'B' }, { "nats-sub", required_argument, NULL, 'U' },
    { "filesystem", required_argument, NULL, 'F' }, { "bind-ro", required_argument, NULL, 'L' },
    { NULL, 0, NULL, 0 }
  };
  struct opts o = { 0 };
  bool timeout_set = false;
  int c;
  o.ns = "default";
  o.timeout_ms = 2000;
  o.drain_ms = -1;
  o.since_ms = -1;
  o.wait_ms = 500;
  /* Flags may come before or after the command (GNU permutation). */
  while ((c = getopt_long (argc, argv, "s:jh", longopts, NULL)) != -1)
    {
      char *end;
      switch (c)
        {
        case 's': o.server = optarg; break;
        case 'C': o.conn.creds = optarg; break;
        case 'k': o.conn.nkey_seed = optarg; break;
        case 'u': o.conn.user = optarg; break;
        case 'p': o.conn.password = optarg; break;
        case 'T': o.conn.token = optarg; break;
        case 'P': o.conn.password_file = optarg; break;
        case 'K': o.conn.token_file = optarg; break;
        case 'n':
          if (!subjects_token_ok (optarg))
            return cli_usage_error ("--namespace: \"%s\" is not a valid subject token", optarg);
          o.ns = optarg;
          break;
        case 't':
          o.timeout_ms = strtoll (optarg, &end, 10);
          if (*end || o.timeout_ms < 0)
            return cli_usage_error ("--timeout: \"%s\" is not a number of milliseconds", optarg);
          timeout_set = true;
          break;
        case 'D':
          o.drain_ms = strtoll (optarg, &end, 10);
          if (*end || o.drain_ms < 0)
            return cli_usage_error ("--drain: \"%s\" is not a number of milliseconds", optarg);
          break;
        case 'W':
          o.wait_ms = strtoll (optarg, &end, 10);
          if (*end || o.wait_ms < 0 || o.wait_ms > 600000)
            return cli_usage_error ("--wait: \"%s\" is not a number of milliseconds (0..600000)",
                                    optarg);
          break;
        case 'S':
          {
            struct nxerr derr = { 0 };
            if (duration_parse (optarg, 1000, 3650ll * 86400000, &o.since_ms, &derr) < 0)
              return cli_usage_error ("--since: %s", derr.msg);
          }
          break;
        case 'R':
          if (!nexc_logs_stream_name_ok (optarg))
            return cli_usage_error ("--stream: \"%.64s\" must match ^[A-Za-z0-9_-]{1,64}$", optarg);
          o.stream = optarg;
          break;
        case 'j': o.json = true; break;
        case 'i': o.issuer = optarg; break;
        case 'N': o.name = optarg; break;
        case 'o': o.node = optarg; break;
        case 'g': o.tag = optarg; break;
        case 'w': o.workload = optarg; break;
        case 'I': o.id = optarg; break;
        case 'y': o.type = optarg; break;
        case 'O': o.out = optarg; break;
        case 'X': o.xkey = optarg; break;
        case 'e': o.essential = true; break;
        case 'E':
          if (o.n_env >= 255 || strchr (optarg, '=') == NULL)
            return cli_usage_error ("--env: \"%s\" is not KEY=VALUE", optarg);
          o.env[o.n_env++] = optarg;
          break;
        case 'a':
          if (o.n_argv >= 255)
            return cli_usage_error ("--argv: too many arguments%s", "");
          o.argv[o.n_argv++] = optarg;
          break;
        case 'G':
          if (o.n_triggers >= 64)
            return cli_usage_error ("--trigger: at most 64 subjects%s", "");
          o.triggers[o.n_triggers++] = optarg;
          break;
        case 'B':
          if (o.n_nats_pub >= 64)
            return cli_usage_error ("--nats-pub: at most 64 subjects%s", "");
          o.nats_pub[o.n_nats_pub++] = optarg;
          break;
        case 'F':
          if (fs_mode_parse (optarg, &o.fs_mode) < 0)
            return cli_usage_error ("--filesystem: \"%s\" is not minimal or host-ro", optarg);
          break;
        case 'L':
          _Static_assert (FS_BIND_RO_MAX == 16, "the message below says 16");
          if (o.n_bind_ro >= FS_BIND_RO_MAX)
            return cli_usage_error ("--bind-ro: at most 16 paths%s", "");
          o.bind_ro[o.n_bind_ro++] = optarg;
          break;
        case 'U':
          if (o.n_nats_sub >= 64)
            return cli_usage_error ("--nats-sub: at most 64 subjects%s", "");
          o.nats_sub[o.n_nats_sub++] = optarg;
          break;
        case 'h': fputs (USAGE, stdout); return 0;
        case 'V': printf ("nexc %s\n", NEXC_VERSION); return 0;
        default: fputs (USAGE, stderr); return EXIT_USAGE;
        }
    }
  argc -= optind;
  argv += optind;
  if (o.n_bind_ro > 0 && o.fs_mode == FS_HOST_RO)
    return cli_usage_error ("run: %s", "--bind-ro adds to a minimal root, not to host-ro");
  if (o.conn.user && !o.conn.password && !o.conn.password_file)
    o.conn.password = getenv ("NATS_PASSWORD");
  if (!o.conn.token && !o.conn.token_file)
    o.conn.token = getenv ("NATS_TOKEN");
  if (argc < 1)
    {
      fputs (USAGE, stderr);
      return EXIT_USAGE;
    }
  if (!timeout_set && (strcmp (argv[0], "logs") == 0 || strcmp (argv[0], "events") == 0
                       || strcmp (argv[0], "top") == 0))
    o.timeout_ms = 0; /* follow until Ctrl-C */
  if (strcmp (argv[0], "nodes") == 0)
    return cmd_nodes (&o, argc - 1, argv + 1);
  if (strcmp (argv[0], "run") == 0)
    return cmd_run (&o, argc - 1, argv + 1);
  if (strcmp (argv[0], "stop") == 0)
    return cmd_stop (&o, argc - 1, argv + 1);
  if (strcmp (argv[0], "ls") == 0)
    return cmd_ls (&o);
  if (strcmp (argv[0], "logs") == 0)
    return cmd_logs (&o);
  if (strcmp (argv[0], "events") == 0)
    return cmd_events (&o);
  if (strcmp (argv[0], "lameduck") == 0)
    return cmd_lameduck (&o, argc - 1, argv + 1);
  if (strcmp (argv[0], "keygen") == 0)
    return cmd_keygen (&o, argc - 1, argv + 1);
  if (strcmp (argv[0], "seal") == 0)
    return cmd_seal (&o, argc - 1, argv + 1);
  if (strcmp (argv[0], "req") == 0)
    return cmd_req (&o, argc - 1, argv + 1);
  if (strcmp (argv[0], "top") == 0)
    return cmd_top (&o);
  if (strcmp (argv[0], "apply") == 0)
    return cmd_apply (&o, argc - 1, argv + 1);
  if (strcmp (argv[0], "deployments") == 0)
    return cmd_deployments (&o, argc - 1, argv + 1);
  if (strcmp (argv[0], "scale") == 0)
    return cmd_scale_deployment (&o, argc - 1, argv + 1);
  return cli_usage_error ("unknown command \"%s\"", argv[0]);
}
