# SPDX-License-Identifier: GPL-2.0
# gnuplot script of scripts/bench: cost per byte by mode and batch size.
# Variables: dat (input), png (output), name (cipher), accel.
set terminal png size 1100,620 font ",10"
set output png
set title sprintf("QUIC 1-RTT send, %s: sender CPU per wire byte (median, min..max), accel=%s%s", \
	name, accel, accel eq "kvm" ? "" : " (emulated: compare modes only)")
set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.75 border -1
set logscale y
set grid ytics
set key outside top center horizontal
set ylabel "CPU ns per byte (log scale)"
set xlabel "datagram size / packets per sendmsg (GSO batch)"
plot dat using 2:3:4:xtic(1) title "(a) plaintext, no crypto", \
     '' using 5:6:7 title "(b) OpenSSL + send", \
     '' using 8:9:10 title "(c) OpenSSL + MSG\\_ZEROCOPY", \
     '' using 11:12:13 title "(d) kernel offload", \
     '' using 14:15:16 title "(e) offload to a device, its crypto off", \
     '' using 17:18:19 title "OpenSSL AEAD alone"
