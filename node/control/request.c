#include "node/control/request.h"

#include <stdlib.h>

void
ctl_req_free (struct ctl_req *r)
{
  if (r == NULL)
    return;
  free (r->subject);
  free (r->reply);
  free (r->data);
  free (r);
}

void
ctl_req_drop (void *arg)
{
  ctl_req_free (arg);
}
