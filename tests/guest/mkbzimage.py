#!/usr/bin/env python3
"""Concatenate the real-mode setup and the protected-mode image into a bzImage
and patch the sizes into the setup header (setup_sects, syssize, init_size)."""
import struct
import sys

SECTOR = 512
INFO_OFF = 0x1E0  # "STGI" + init_size, placed there by bzimage.ld


def main():
    setup_path, kernel_path, out_path = sys.argv[1:4]
    setup = bytearray(open(setup_path, 'rb').read())
    kernel = open(kernel_path, 'rb').read()
    if len(setup) % SECTOR:
        setup += bytes(SECTOR - len(setup) % SECTOR)
    if kernel[INFO_OFF:INFO_OFF + 4] != b'STGI':
        sys.exit('mkbzimage: no image info block in ' + kernel_path)
    if setup[0x202:0x206] != b'HdrS':
        sys.exit('mkbzimage: no setup header in ' + setup_path)
    (init_size,) = struct.unpack_from('<I', kernel, INFO_OFF + 4)
    setup_sects = len(setup) // SECTOR - 1
    if not 4 <= setup_sects <= 63:
        sys.exit('mkbzimage: bad setup size %d sectors' % setup_sects)
    setup[0x1F1] = setup_sects
    struct.pack_into('<I', setup, 0x1F4, (len(kernel) + 15) // 16)
    struct.pack_into('<I', setup, 0x260, max(init_size, len(kernel)))
    with open(out_path, 'wb') as f:
        f.write(setup)
        f.write(kernel)


if __name__ == '__main__':
    main()
