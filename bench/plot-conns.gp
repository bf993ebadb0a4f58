# SPDX-License-Identifier: GPL-2.0
# gnuplot script of scripts/bench: the offload's cost per packet against
# the number of connections on the socket.  Variables: dat, png, accel.
set terminal png size 900,520 font ",10"
set output png
set title sprintf("QUIC 1-RTT send, AES-128-GCM 1200 B, one packet per call to a random connection, accel=%s", accel)
set logscale x
set yrange [0:*]
set grid
set key bottom right
set xlabel "connections on one socket"
set ylabel sprintf("CPU ns per packet%s", accel[1:10] eq "tcg-icount" ? " (= instructions)" : "")
plot dat using 1:2:3:4 with yerrorlines lw 2 pt 7 title "(d) kernel offload, median [min..max]"
