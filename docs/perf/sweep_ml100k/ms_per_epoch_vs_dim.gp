# ms_per_epoch_vs_dim.gp: written by mfrec; re-render with `gnuplot ms_per_epoch_vs_dim.gp` in this directory.
set encoding utf8
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
    set terminal pngcairo size 900,600 font 'Sans,11' noenhanced
} else {
    set terminal png size 900,600 noenhanced
}
set output 'ms_per_epoch_vs_dim.png'
set title 'ms/epoch vs embedding dimension: ml-100k, 200 timed epochs' noenhanced
set xlabel 'embedding dimension k' noenhanced
set ylabel 'ms/epoch (median)' noenhanced
set grid lc rgb '#d0d0d0'
set border lc rgb '#404040'
set key top right
plot 'ms_per_epoch_vs_dim.dat' using 1:2 with lines lw 2 lc rgb '#1f77b4' title '1 thread shard', \
     'ms_per_epoch_vs_dim.dat' using 1:3 with lines lw 2 lc rgb '#ff7f0e' title '1 thread owner', \
     'ms_per_epoch_vs_dim.dat' using 1:4 with lines lw 2 lc rgb '#2ca02c' title '2 threads shard', \
     'ms_per_epoch_vs_dim.dat' using 1:5 with lines lw 2 lc rgb '#d62728' title '2 threads owner'
set terminal svg size 900,600 font 'Sans,12' background rgb 'white' noenhanced
set output 'ms_per_epoch_vs_dim.svg'
replot
unset output
