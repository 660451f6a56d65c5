/* fuzz_xkey: opening an xkv1 box (api/xkey.c), as the node does with every
 * deploy's environment, with a fixed node key (Appendix A's synthetic curve
 * key 0x00..0x1f).
 *
 * Input: the first byte picks the mode.
 *   0  open the rest, sender = Appendix A's samplexkey (the seed in the
 *      corpus decrypts)
 *   1  the next 56 bytes are the sender's public key text, open the rest
 *   2  seal the rest from samplexkey to the node key with a nonce taken from
 *      the input, open it again: the plaintext must come back unchanged */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/buf.h"
#include "api/nkeys.h"
#include "api/xkey.h"

#define NODE_SEED "SXAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4H74KM"
#define SENDER_SEED "SXAAIDDDZFRNRZPSQIVNL4LVATOMBIRXN7ECDOVJWGDDTS5CZGUWIKWEFU"

static struct nkey_pair node_key, sender_key;

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct nxerr err = { 0 };
  struct buf out = BUF_INIT, sealed = BUF_INIT;
  char sender[NKEY_PUBLIC_LEN + 1];

  if (node_key.prefix != NKEY_CURVE)
    {
      if (nkey_pair_from_seed (NODE_SEED, &node_key, &err) < 0
          || nkey_pair_from_seed (SENDER_SEED, &sender_key, &err) < 0)
        abort ();
    }
  if (size < 1)
    return 0;
  switch (data[0] % 3)
    {
    case 0:
      (void) xkey_open (&node_key, sender_key.public_text, data + 1, size - 1, &out, &err);
      break;
    case 1:
      if (size < 1 + NKEY_PUBLIC_LEN)
        return 0;
      memcpy (sender, data + 1, NKEY_PUBLIC_LEN);
      sender[NKEY_PUBLIC_LEN] = '\0';
      (void) xkey_open (&node_key, sender, data + 1 + NKEY_PUBLIC_LEN,
                        size - 1 - NKEY_PUBLIC_LEN, &out, &err);
      break;
    default:
      {
        uint8_t nonce[24] = { 0 };
        size_t nn = size - 1 < sizeof nonce ? size - 1 : sizeof nonce;
        memcpy (nonce, data + 1, nn);
        if (xkey_seal (&sender_key, node_key.public_text, data + 1 + nn, size - 1 - nn, nonce,
                       &sealed, &err)
                < 0
            || sealed.len != size - 1 - nn + XKEY_OVERHEAD
            || xkey_open (&node_key, sender_key.public_text, sealed.data, sealed.len, &out, &err)
                   < 0
            || out.len != size - 1 - nn
            || (out.len && memcmp (out.data, data + 1 + nn, out.len) != 0))
          abort ();
      }
    }
  buf_free (&out);
  buf_free (&sealed);
  return 0;
}
