# SPDX-License-Identifier: GPL-2.0
# gnuplot script of scripts/bench: each design's cost per wire byte, split
# into the plaintext send (the floor), the AEAD alone and the rest; (e),
# whose device seals, has no AEAD on the host.
# Variables: dat (input), png (output), name (cipher), accel.
set terminal png size 1100,620 font ",10"
set output png
set title sprintf("QUIC 1-RTT send, %s: cost per wire byte = floor + AEAD + overhead (medians), accel=%s", \
	name, accel)
set style data histogram
set style histogram rowstacked
set style fill solid 0.75 border -1
set boxwidth 0.7
set grid ytics
set yrange [0:*]
set key outside top center horizontal
set ylabel sprintf("CPU ns per wire byte%s", accel[1:10] eq "tcg-icount" ? " (= instructions)" : "")
set xlabel "datagram size / packets per call: (b) OpenSSL in userspace, (d) kernel offload, (e) offload to a device, its crypto off"
set xtics rotate by -30
plot dat using 2:xtic(1) title "floor: plaintext UDP send (a)", \
     '' using 3 title "AEAD alone (OpenSSL for b, the kernel's for d, none for e)", \
     '' using 4 title "overhead: everything else"
