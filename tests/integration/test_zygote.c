/* The agent fork server (tier none): a node forks its agents from one
 * zygote, the agents are the node's children named nexc-agent, a killed
 * zygote costs nothing but speed (agents are exec'd, a new zygote comes),
 * and the zygote itself refuses malformed requests and forks a real agent
 * for a well-formed one (driven here directly, over its socket). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api/nexc.h"
#include "harness.h"

static const char *CONFIG = "{\"machine_pool_size\":2,\"sandbox\":\"none\",\"stop_grace_ms\":300}";

/* /proc/<pid>/cmdline with NULs as spaces, trailing ones dropped. */
static void
cmdline_of (pid_t pid, char *out, size_t cap)
{
  char p[64];
  size_t len = 0;
  FILE *f;
  snprintf (p, sizeof p, "/proc/%d/cmdline", (int) pid);
  if ((f = fopen (p, "r")) != NULL)
    {
      len = fread (out, 1, cap - 1, f);
      fclose (f);
    }
  out[len] = '\0';
  for (size_t i = 0; i < len; i++)
    if (out[i] == '\0')
      out[i] = ' ';
  while (len > 0 && out[len - 1] == ' ')
    out[--len] = '\0';
}

static int
count_comm (pid_t ppid, const char *comm, pid_t *first)
{
  pid_t one = 0;
  int n = harness_children (ppid, comm, &one, 1);
  if (first && n > 0)
    *first = one;
  return n;
}

static void
sleep_ms (int ms)
{
  nanosleep (&(struct timespec){ ms / 1000, (ms % 1000) * 1000000L }, NULL);
}

/* Deploy a short-lived workload and wait until it has run: proves a fresh
 * agent could be had, however it was made. */
static void
deploy_one (struct harness *h, struct nexc_client *c, const struct nkey_pair *issuer)
{
  struct nexc_deploy_opts o = { 0 };
  struct nexc_deploy_result r;
  struct nxerr err = { 0 };
  const char *env[] = { "TICKS=1", "TICK_MS=10", NULL };
  o.node_id = h->node_id;
  o.file = harness_bin ("examples/ticker");
  o.name = "zticker";
  o.env = env;
  o.issuer = issuer;
  if (nexc_deploy (c, &o, &r, &err) < 0)
    {
      harness_dump_node_log (h);
      fail_msg ("deploy: %s", err.msg);
    }
}

static void
test_node_forks_agents_from_a_zygote (void **state)
{
  struct harness h;
  struct nexc_client *c = NULL;
  struct nkey_pair issuer;
  struct nxerr err = { 0 };
  natsConnection *nc;
  pid_t zpid = 0, zpid2 = 0;
  int agents = 0;
  (void) state;
  nkey_pair_generate (NKEY_ACCOUNT, &issuer, &err);
  harness_start_nats (&h);
  nc = harness_connect (&h);
  assert_int_equal (nexc_client_wrap (&c, nc, &err), 0);
  harness_start_node (&h, CONFIG, NULL);
  for (int i = 0; i < 100 && count_comm (h.node_pid, "nexc-agent", NULL) < 2; i++)
    sleep_ms (50);

  /* One zygote, and the pool's agents beside it as the node's children,
   * each showing as plain "nexc-agent". */
  {
    pid_t pids[64];
    char cmd[256];
    agents = harness_children (h.node_pid, "nexc-agent", pids, 64);
    for (int i = 0; i < agents && i < 64; i++)
      {
        cmdline_of (pids[i], cmd, sizeof cmd);
        assert_string_equal (cmd, "nexc-agent");
      }
  }
  assert_int_equal (count_comm (h.node_pid, "nexc-zygote", &zpid), 1);
  assert_int_equal (agents, 2);

  /* Deploys take agents; the zygote forks their replacements. */
  for (int i = 0; i < 3; i++)
    deploy_one (&h, c, &issuer);

  /* Killed, it is noticed and replaced; deploys go on meanwhile. */
  kill (zpid, SIGKILL);
  sleep_ms (100);
  for (int i = 0; i < 3; i++)
    deploy_one (&h, c, &issuer);
  for (int i = 0; i < 200; i++)
    {
      if (count_comm (h.node_pid, "nexc-zygote", &zpid2) == 1 && zpid2 != zpid)
        break;
      zpid2 = 0;
      deploy_one (&h, c, &issuer);
      sleep_ms (50);
    }
  if (zpid2 == 0 || zpid2 == zpid)
    {
      harness_dump_node_log (&h);
      fail_msg ("no new zygote within 10 s of killing %d", (int) zpid);
    }
  nexc_client_free (c);
  natsConnection_Destroy (nc);
  assert_int_equal (harness_stop_node (&h, SIGTERM), 0);
  harness_stop_all (&h);
}

/* ---- the zygote on its own ---- */

struct zyg {
  int sock;
  pid_t pid;
};

static void
zyg_start (struct zyg *z)
{
  int sv[2];
  char ppid[32];
  posix_spawn_file_actions_t fa;
  char *argv[] = { "nexc-agent", "--zygote", "--fd", "3", "--parent-pid", ppid, NULL };
  extern char **environ;
  snprintf (ppid, sizeof ppid, "%d", (int) getpid ());
  assert_int_equal (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  posix_spawn_file_actions_init (&fa);
  posix_spawn_file_actions_adddup2 (&fa, sv[1], 3);
  assert_int_equal (posix_spawn (&z->pid, harness_bin ("agent/nexc-agent"), &fa, NULL, argv, environ),
                    0);
  posix_spawn_file_actions_destroy (&fa);
  close (sv[1]);
  z->sock = sv[0];
}

/* Send payload (len bytes, its first byte the flags) with fds[0..nfds)
 * attached; return the reply's pid (or -errno), *born_in its second word. */
static int32_t
zyg_ask_fds (struct zyg *z, const void *payload, size_t len, const int *fds, int nfds,
             int32_t *born_in)
{
  union {
    struct cmsghdr h;
    char space[CMSG_SPACE (sizeof (int) * 4)];
  } ctl;
  struct iovec iov = { (void *) payload, len };
  struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
  int32_t v[2] = { 0, -1 };
  struct timeval tv = { 5, 0 };
  memset (&ctl, 0, sizeof ctl);
  if (nfds > 0)
    {
      struct cmsghdr *c;
      m.msg_control = ctl.space;
      m.msg_controllen = CMSG_SPACE (sizeof (int) * (size_t) nfds);
      c = CMSG_FIRSTHDR (&m);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN (sizeof (int) * (size_t) nfds);
      memcpy (CMSG_DATA (c), fds, sizeof (int) * (size_t) nfds);
    }
  assert_int_equal (sendmsg (z->sock, &m, MSG_NOSIGNAL), (ssize_t) len);
  setsockopt (z->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  assert_int_equal (recv (z->sock, v, sizeof v, 0), (ssize_t) sizeof v);
  assert_true (v[1] == 0 || v[1] == 1);
  if (born_in)
    *born_in = v[1];
  return v[0];
}

/* The same with nfds copies of fd. */
static int32_t
zyg_ask (struct zyg *z, const void *payload, size_t len, int fd, int nfds)
{
  int fds[4] = { fd, fd, fd, fd };
  return zyg_ask_fds (z, payload, len, fds, nfds, NULL);
}

/* Where the unified (v2) hierarchy is mounted, "" when it is not. */
static void
cgroup2_mount (char *out, size_t cap)
{
  char line[1024], mnt[512], type[64];
  FILE *f = fopen ("/proc/self/mounts", "r");
  out[0] = '\0';
  while (f && fgets (line, sizeof line, f))
    if (sscanf (line, "%*s %511s %63s", mnt, type) == 2 && strcmp (type, "cgroup2") == 0)
      {
        snprintf (out, cap, "%s", mnt);
        break;
      }
  if (f)
    fclose (f);
}

/* Whether /proc/<pid>/cgroup's unified line ends with /name. */
static bool
in_cgroup (pid_t pid, const char *name)
{
  char p[64], line[1024];
  bool in = false;
  FILE *f;
  snprintf (p, sizeof p, "/proc/%d/cgroup", (int) pid);
  if ((f = fopen (p, "r")) == NULL)
    return false;
  while (fgets (line, sizeof line, f))
    if (strncmp (line, "0::", 3) == 0)
      {
        size_t l = strcspn (line, "\n"), nl = strlen (name);
        in = l > nl && line[l - nl - 1] == '/' && strncmp (line + l - nl, name, nl) == 0;
      }
  fclose (f);
  return in;
}

static void
test_zygote_refuses_malformed_requests (void **state)
{
  struct zyg z;
  int pair[2], st;
  char many[4096];
  size_t len = 0;
  (void) state;
  zyg_start (&z);
  assert_int_equal (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);

  /* No descriptor; no NUL at the end; too many arguments; a flag it does
   * not know; a reattach socket announced and not attached. */
  assert_int_equal (zyg_ask (&z, "\0nexc-agent\0--fd\0" "3\0", 17, -1, 0), -EINVAL);
  assert_int_equal (zyg_ask (&z, "\0nexc-agent", 11, pair[1], 1), -EINVAL);
  assert_int_equal (zyg_ask (&z, "\x80nexc-agent", 12, pair[1], 1), -EINVAL);
  assert_int_equal (zyg_ask (&z, "\x01nexc-agent", 12, pair[1], 1), -EINVAL);
  many[len++] = '\0';
  for (int i = 0; i < 40; i++)
    {
      memcpy (many + len, "x", 2);
      len += 2;
    }
  assert_int_equal (zyg_ask (&z, many, len, pair[1], 1), -EINVAL);
  /* More descriptors than it takes: refused (and closed). */
  {
    static const char req[] = "\0nexc-agent\0--no-such-option";
    assert_int_equal (zyg_ask (&z, req, sizeof req, pair[1], 4), -EINVAL);
  }
  {
    static const char req[] = "\0nexc-agent\0--no-such-option";
    int32_t pid = zyg_ask (&z, req, sizeof req, pair[1], 1);
    assert_true (pid > 0);
    /* CLONE_PARENT: the agent is our child, ran agent_main and refused the
     * command line (exit 2, usage). */
    assert_int_equal (waitpid (pid, &st, 0), pid);
    assert_true (WIFEXITED (st));
    assert_int_equal (WEXITSTATUS (st), 2);
  }
  /* Still serving after all that; end-of-file ends it cleanly. */
  {
    static const char req[] = "\0nexc-agent\0--fd\0" "3\0--parent-pid\0" "1";
    int32_t pid = zyg_ask (&z, req, sizeof req, pair[1], 1);
    assert_true (pid > 0);
    /* Its parent is us, not pid 1: the agent says it is orphaned (exit 3). */
    assert_int_equal (waitpid (pid, &st, 0), pid);
    assert_true (WIFEXITED (st));
    assert_int_equal (WEXITSTATUS (st), 3);
  }
  close (z.sock);
  assert_int_equal (waitpid (z.pid, &st, 0), z.pid);
  assert_true (WIFEXITED (st));
  assert_int_equal (WEXITSTATUS (st), 0);
  close (pair[0]);
  close (pair[1]);
}

/* With a cgroup v2 directory attached, the agent is born in that cgroup
 * (clone3 CLONE_INTO_CGROUP); with a directory that is no cgroup, it is
 * forked all the same, where the zygote is, and the reply says so. */
static void
test_zygote_clones_into_a_cgroup (void **state)
{
  static const char req[] = "\x02nexc-agent\0--no-such-option";
  char mnt[512], dir[700], name[64];
  struct zyg z;
  int pair[2], fds[2], st;
  int32_t born_in = -1, pid;
  (void) state;
  zyg_start (&z);
  assert_int_equal (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
  fds[0] = pair[1];

  fds[1] = open ("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true (fds[1] >= 0);
  pid = zyg_ask_fds (&z, req, sizeof req, fds, 2, &born_in);
  close (fds[1]);
  assert_true (pid > 0);
  assert_int_equal (born_in, 0);
  assert_int_equal (waitpid (pid, &st, 0), pid);
  assert_true (WIFEXITED (st) && WEXITSTATUS (st) == 2);

  cgroup2_mount (mnt, sizeof mnt);
  snprintf (name, sizeof name, "nexc-zygote-test-%d", (int) getpid ());
  snprintf (dir, sizeof dir, "%s/%s", mnt, name);
  if (mnt[0] == '\0' || mkdir (dir, 0755) < 0)
    printf ("no cgroup v2 to make a cgroup in (%s): the clone into one is not tried\n",
            mnt[0] ? strerror (errno) : "none mounted");
  else
    {
      /* A real agent: it lives until its link ends, so where it runs can be
       * read; the zygote (and so this test) stays where it was. */
      char agent_req[200];
      int alen = snprintf (agent_req, sizeof agent_req,
                           "%cnexc-agent%c--fd%c3%c--parent-pid%c%d%c--sandbox%cnone", 2, 0, 0,
                           0, 0, (int) getpid (), 0, 0);
      fds[1] = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      assert_true (fds[1] >= 0);
      pid = zyg_ask_fds (&z, agent_req, (size_t) alen + 1, fds, 2, &born_in);
      close (fds[1]);
      assert_true (pid > 0);
      assert_int_equal (born_in, 1);
      assert_true (in_cgroup (pid, name));
      assert_false (in_cgroup (z.pid, name));
      assert_false (in_cgroup (getpid (), name));
      kill (pid, SIGKILL);
      assert_int_equal (waitpid (pid, &st, 0), pid);
      assert_int_equal (rmdir (dir), 0);
    }
  close (z.sock);
  assert_int_equal (waitpid (z.pid, &st, 0), z.pid);
  close (pair[0]);
  close (pair[1]);
}

static void
test_zygote_usage (void **state)
{
  pid_t pid;
  int st;
  char *argv[] = { "nexc-agent", "--zygote", NULL };
  extern char **environ;
  (void) state;
  assert_int_equal (posix_spawn (&pid, harness_bin ("agent/nexc-agent"), NULL, NULL, argv, environ),
                    0);
  assert_int_equal (waitpid (pid, &st, 0), pid);
  assert_true (WIFEXITED (st));
  assert_int_equal (WEXITSTATUS (st), 2);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_zygote_usage),
    cmocka_unit_test (test_zygote_refuses_malformed_requests),
    cmocka_unit_test (test_zygote_clones_into_a_cgroup),
    cmocka_unit_test (test_node_forks_agents_from_a_zygote),
  };
  return cmocka_run_group_tests_name ("zygote", tests, NULL, NULL);
}
