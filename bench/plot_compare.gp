# bench/plot_compare.gp: the plot of bench/compare.sh (bench/results/compare.png).
# compare.sh calls it as
#   gnuplot -e "datafile='compare.dat'; outfile='compare.png'; loopback=GBIT; ymax=Y; subtitle='...'" plot_compare.gp
# compare.dat: one line per group (payload x protocol/mode), quoted label first,
# then Gbit/s of ours, transmission, libtorrent, nginx, then their CPU-s/GiB;
# "-" where a server does not speak that protocol.
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
    set terminal pngcairo size 1200,900 font "sans,10"
} else {
    set terminal png size 1200,900
}
set output outfile
set datafile missing "-"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key top right
set grid ytics
set xtics nomirror
# group labels take two lines
set bmargin 4
set multiplot layout 2,1 title "Serving side by side: ".subtitle

set title "Payload throughput (dashed: loopback TCP limit, iperf3)"
set ylabel "Gbit/s"
set yrange [0:ymax]
set arrow 1 from graph 0, first loopback to graph 1, first loopback nohead dt 2 lw 2 lc rgb "black"
plot datafile using 2:xtic(1) title "ours (seed-dataplane)" lc rgb "#1f77b4", \
     '' using 3 title "transmission-daemon" lc rgb "#d62728", \
     '' using 4 title "libtorrent" lc rgb "#2ca02c", \
     '' using 5 title "nginx (sendfile)" lc rgb "#ff7f0e"
unset arrow 1

set title "Server CPU per GiB served (lower is better)"
set ylabel "CPU-s / GiB"
set yrange [0:*]
plot datafile using 6:xtic(1) title "ours (seed-dataplane)" lc rgb "#1f77b4", \
     '' using 7 title "transmission-daemon" lc rgb "#d62728", \
     '' using 8 title "libtorrent" lc rgb "#2ca02c", \
     '' using 9 title "nginx (sendfile)" lc rgb "#ff7f0e"
unset multiplot
