//go:build ignore

// gen_smallkeys writes smallkeys_p256.bin and smallkeys_p384.bin: for
// d = 1 .. 2^16, the first four octets of the big-endian X coordinate of
// d*G, four octets per d, in order of d. Run with `go generate`.
package main

import (
	"crypto/ecdh"
	"fmt"
	"os"
)

func main() {
	for _, c := range []struct {
		file  string
		curve ecdh.Curve
		size  int
	}{{"smallkeys_p256.bin", ecdh.P256(), 32}, {"smallkeys_p384.bin", ecdh.P384(), 48}} {
		out := make([]byte, 0, 4<<16)
		scalar := make([]byte, c.size)
		for d := 1; d <= 1<<16; d++ {
			scalar[c.size-2], scalar[c.size-1] = byte(d>>8), byte(d)
			if d == 1<<16 {
				scalar[c.size-3], scalar[c.size-2], scalar[c.size-1] = 1, 0, 0
			}
			k, err := c.curve.NewPrivateKey(scalar)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			pub := k.PublicKey().Bytes() // 0x04 || X || Y
			out = append(out, pub[1:5]...)
		}
		if err := os.WriteFile(c.file, out, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
