# speedup_vs_threads.gp: written by mfrec; re-render with `gnuplot speedup_vs_threads.gp` in this directory.
set encoding utf8
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
    set terminal pngcairo size 900,600 font 'Sans,11' noenhanced
} else {
    set terminal png size 900,600 noenhanced
}
set output 'speedup_vs_threads.png'
set title 'Speedup vs threads: ml-100k, 200 timed epochs, 2 cores' noenhanced
set xlabel 'threads' noenhanced
set ylabel 'speedup (ms/epoch at 1 thread / ms/epoch)' noenhanced
set grid lc rgb '#d0d0d0'
set border lc rgb '#404040'
set key top right
plot 'speedup_vs_threads.dat' using 1:2 with lines lw 2 lc rgb '#1f77b4' title 'k=16 shard', \
     'speedup_vs_threads.dat' using 1:3 with lines lw 2 lc rgb '#ff7f0e' title 'k=16 owner', \
     'speedup_vs_threads.dat' using 1:4 with lines lw 2 lc rgb '#2ca02c' title 'k=32 shard', \
     'speedup_vs_threads.dat' using 1:5 with lines lw 2 lc rgb '#d62728' title 'k=32 owner', \
     'speedup_vs_threads.dat' using 1:6 with lines lw 2 lc rgb '#9467bd' title 'k=64 shard', \
     'speedup_vs_threads.dat' using 1:7 with lines lw 2 lc rgb '#8c564b' title 'k=64 owner', \
     'speedup_vs_threads.dat' using 1:8 with lines lw 2 lc rgb '#e377c2' title 'k=128 shard', \
     'speedup_vs_threads.dat' using 1:9 with lines lw 2 lc rgb '#7f7f7f' title 'k=128 owner', \
     'speedup_vs_threads.dat' using 1:10 with lines lw 2 lc rgb '#bcbd22' title 'ideal (speedup = threads)'
set terminal svg size 900,600 font 'Sans,12' background rgb 'white' noenhanced
set output 'speedup_vs_threads.svg'
replot
unset output
