// SPDX-License-Identifier: MIT
// Times ISA-L's inflate of a gzip file alone, as snap's Consul check runs it
// (1 MiB in, 256 KiB out, the trailer's CRC-32 checked), so
// bench/consul_save.sh can show the stage that bounds a save of
// compressible state. Usage: inflate FILE; prints "SECONDS BYTES_OUT".
#include <isa-l/igzip_lib.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: inflate FILE.gz\n");
    return 2;
  }
  FILE* f = fopen(argv[1], "rb");
  if (f == NULL) {
    perror(argv[1]);
    return 1;
  }
  static unsigned char in[1 << 20];
  static unsigned char out[256 << 10];
  struct inflate_state z;
  isal_inflate_init(&z);
  z.crc_flag = ISAL_GZIP;
  z.avail_in = 0;
  unsigned long long total = 0;
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (;;) {
    if (z.avail_in == 0) {
      size_t n = fread(in, 1, sizeof in, f);
      if (n == 0) {
        fprintf(stderr, "%s: the gzip stream ends early\n", argv[1]);
        return 1;
      }
      z.next_in = in;
      z.avail_in = (unsigned)n;
    }
    z.next_out = out;
    z.avail_out = sizeof out;
    int rc = isal_inflate(&z);
    if (rc != ISAL_DECOMP_OK) {
      fprintf(stderr, "%s: inflate failed (%d)\n", argv[1], rc);
      return 1;
    }
    total += sizeof out - z.avail_out;
    if (z.block_state == ISAL_BLOCK_FINISH) {
      break;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%.3f %llu\n",
         (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9,
         total);
  fclose(f);
  return 0;
}
